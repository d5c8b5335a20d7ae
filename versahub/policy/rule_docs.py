"""What each policy rule is, from its METADATA: for the audit page (``versahub.web.audit``).

:func:`rule_docs_from_policies` is pure: it reads OPA's list of the policy modules it serves
(``GET /v1/policies``: each module's ``raw`` text and ``ast``, whose rules carry their
METADATA annotations) and keeps the rules with a ``custom.id`` — the id a finding carries.
:func:`load_rule_docs` asks the site's OPA, so the docs are those of the policies in force
wherever OPA runs (``versahub up``, an Ansible host, a cluster), with no ``opa`` binary or
policy folder on the hub's host. No Rego is evaluated here.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from versahub.policy.decision import _ID_RE as _RULE_ID
from versahub.policy.decision import FINDING_ID_PATTERN

RULE_ID_PATTERN = FINDING_ID_PATTERN  # unanchored, for the hub's URL routes

KINDS = ("deny", "warn")
FETCH_TIMEOUT = 5.0


class RuleDocsError(RuntimeError):
    """OPA could not list its policies (the message names OPA's address)."""


@dataclass(frozen=True)
class RuleDoc:
    """The METADATA of one rule that produces findings with the id ``id``."""

    id: str
    title: str
    description: str
    severity: str
    mitigation: str
    file: str  # as OPA names the module, from the policy folder on ("versahub/spawn/x.rego")
    row: int  # the line of its "id:" in the file (0: not found)
    kind: str  # "deny" | "warn" | "" (not a deny/warn rule)


def is_rule_id(value: str) -> bool:
    return bool(_RULE_ID.match(value))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _file(module_id: str) -> str:
    """A module's file from the policy folder on (OPA names it by the path it loaded)."""
    parts = module_id.lstrip("/").split("/")
    for anchor in ("versahub", "system"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return module_id


def _kind(rule: Mapping[str, Any]) -> str:
    head = rule.get("head") if isinstance(rule.get("head"), Mapping) else {}
    name = head.get("name")
    ref = head.get("ref")
    if not name and isinstance(ref, list) and ref and isinstance(ref[0], Mapping):
        name = ref[0].get("value")
    return name if name in KINDS else ""


def _row(raw: str, ident: str) -> int:
    match = re.search(rf"^#\s*id:\s*{re.escape(ident)}\s*$", raw, re.MULTILINE)
    return raw.count("\n", 0, match.start()) + 1 if match else 0


def rule_docs_from_policies(modules: Any) -> dict[str, RuleDoc]:
    """``{id: RuleDoc}`` of the annotated rules with a ``custom.id`` in OPA's module list
    (the ``result`` of ``GET /v1/policies``); modules of ``*_test.rego`` are left out. When
    two rules share an id, the first by file and row is kept."""
    if not isinstance(modules, list):
        raise ValueError("OPA's policy list is not a list")
    found: list[RuleDoc] = []
    for module in modules:
        if not isinstance(module, Mapping) or not isinstance(module.get("ast"), Mapping):
            continue
        file = _file(str(module.get("id", "")))
        if file.endswith("_test.rego"):
            continue
        raw = str(module.get("raw") or "")
        for rule in module["ast"].get("rules") or []:
            notes_list = rule.get("annotations") if isinstance(rule, Mapping) else None
            for notes in notes_list if isinstance(notes_list, list) else []:
                custom = notes.get("custom") if isinstance(notes, Mapping) else None
                ident = custom.get("id") if isinstance(custom, Mapping) else None
                if not isinstance(ident, str) or not is_rule_id(ident):
                    continue
                found.append(RuleDoc(
                    id=ident, title=_text(notes.get("title")),
                    description=_text(notes.get("description")),
                    severity=_text(custom.get("severity")),
                    mitigation=_text(custom.get("mitigation")),
                    file=file, row=_row(raw, ident), kind=_kind(rule),
                ))  # fmt: skip
    docs: dict[str, RuleDoc] = {}
    for rule in sorted(found, key=lambda r: (r.file, r.row)):
        docs.setdefault(rule.id, rule)
    return docs


def load_rule_docs(opa_url: str, timeout: float = FETCH_TIMEOUT) -> dict[str, RuleDoc]:
    """The rule docs of the policies the site's OPA serves; raises :class:`RuleDocsError`."""
    try:
        with urllib.request.urlopen(f"{opa_url.rstrip('/')}/v1/policies", timeout=timeout) as r:
            modules = json.load(r).get("result")
        return rule_docs_from_policies(modules)
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as err:
        raise RuleDocsError(f"cannot list the policies of OPA at {opa_url}: {err}") from None
