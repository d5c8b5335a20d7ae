"""Parse YAML the one strict way: safe, and a key given twice in one mapping is an error.

``yaml.safe_load`` silently keeps the last of two equal keys, so a second ``internet:
true`` below a reviewed ``internet: false`` (or a second ``policy:`` block in site.yaml)
would win unseen. :func:`load_yaml` raises :class:`DuplicateKey` instead; aliases are
refused (:class:`AliasRefused`: a 300-byte "billion laughs" file would otherwise expand into
gigabytes); nesting deeper than the parser can follow is :class:`TooDeep`, never a
RecursionError.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml


class DuplicateKey(yaml.YAMLError):
    """A mapping names the same key twice (``key``, at ``line``)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"the key {key!r} is given twice (line {line})")
        self.key = key
        self.line = line


class TooDeep(yaml.YAMLError):
    """The document nests deeper than the parser can follow."""


class AliasRefused(yaml.YAMLError):
    """The document uses an alias (``*name``): refused, so that no "billion laughs"
    document can expand into gigabytes before anything else is checked."""

    def __init__(self, line: int) -> None:
        super().__init__(f"YAML aliases (*name) are not accepted (line {line})")
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise AliasRefused(event.start_mark.line + 1)
        return super().compose_node(parent, index)  # type: ignore[no-untyped-call]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if not isinstance(key, Hashable):
                continue  # the safe constructor refuses unhashable keys itself
            if key in seen:
                raise DuplicateKey(str(key), key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys and reports too deep a document."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except RecursionError:
        raise TooDeep("the document is nested too deeply") from None
