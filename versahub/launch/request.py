"""A launch request, parsed and validated (pure): options → :class:`LaunchRequest`.

The same parsing for every entry point: the spawner's stored ``user_options``, the launch
and check APIs' JSON bodies, the trust API, the culler. A request is::

    {"spec": {...} | "url": "<launch URL>", "confirmation": "<hash>"?, "origin": {...}?}

(a bare spec mapping is accepted too: JupyterHub's REST API may carry one). Bad input is
an :class:`~versahub.errors.InputError` naming the field; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from versahub.errors import InputError
from versahub.policy.input import origin_document
from versahub.spec import ServerSpec, parse_spec
from versahub.urls import parse_launch_url

REQUEST_KEYS = ("spec", "url", "confirmation", "origin")
# user_options of a public read-only copy: {"public_copy_of": {"owner", "server"}}
PUBLIC_KEY = "public_copy_of"
DIFF_FIELDS = (
    "repo", "ref", "urlpath", "mounts", "collaborators", "public_readonly", "credentials",
    "internet", "resources",
)  # fmt: skip


@dataclass(frozen=True)
class LaunchRequest:
    """A validated request: the spec, the confirmation sent with it, where it came from."""

    spec: ServerSpec
    confirmation: str | None = None
    origin: Mapping[str, Any] = field(default_factory=lambda: origin_document(None))

    def options(self) -> dict[str, Any]:
        """What the spawner stores as ``user_options`` (and re-reads at every start)."""
        return {
            "spec": self.spec.config_dict(),
            "confirmation": self.confirmation,
            "origin": dict(self.origin),
        }


def split_request(options: Mapping[str, Any] | None) -> tuple[Any, str | None, dict[str, Any]]:
    """``(spec mapping or launch URL, confirmation, origin)`` from a request (pure)."""
    options = dict(options or {})
    if PUBLIC_KEY in options:
        raise InputError(PUBLIC_KEY, "a public copy is not a launch request")
    if "spec" in options or "url" in options:
        unknown = sorted(set(options) - set(REQUEST_KEYS))
        if unknown:
            raise InputError(unknown[0], f"unknown launch option; known: {', '.join(REQUEST_KEYS)}")
        if "spec" in options and "url" in options:
            raise InputError("url", "send either spec or url, not both")
        if "url" in options:
            if not isinstance(options["url"], str):
                raise InputError("url", "must be a launch URL (text)")
            spec: Any = options["url"]
        else:
            spec = options["spec"]
            if not isinstance(spec, Mapping):
                raise InputError("spec", "must be a mapping")
            spec = dict(spec)
    else:
        spec = {k: v for k, v in options.items() if k not in ("confirmation", "origin")}
        if not spec:
            raise InputError("spec", "is required (or url)")
    confirmation = options.get("confirmation")
    if confirmation is not None and not isinstance(confirmation, str):
        raise InputError("confirmation", "must be a string (the confirmation hash)")
    origin = options.get("origin")
    if origin is not None and not isinstance(origin, Mapping):
        raise InputError("origin", "must be a mapping")
    return spec, confirmation or None, origin_document(origin)


def parse_request(
    options: Mapping[str, Any] | None,
    *,
    owner: str | None,
    volumes: Collection[str] | None,
    server_name: str | None = None,
) -> LaunchRequest:
    """Validate a request for ``owner``; ``server_name`` is the server being started, if any.

    A spec naming another server than the one being started is refused: the stored request
    of ``alice/x`` can never start ``alice/y``.
    """
    raw, confirmation, origin = split_request(options)
    if isinstance(raw, str):
        spec = parse_launch_url(raw, owner=owner, volumes=volumes)
    else:
        spec = parse_spec(raw, owner=owner, volumes=volumes)
    if server_name is not None:
        if spec.server_name and spec.server_name != server_name:
            raise InputError(
                "server_name",
                f"{spec.server_name!r} differs from the server being started ({server_name!r})",
            )
        if server_name and not spec.server_name:
            spec = parse_spec({**spec.config_dict(), "server_name": server_name},
                              owner=owner, volumes=volumes)  # fmt: skip
    return LaunchRequest(spec=spec, confirmation=confirmation, origin=origin)


def stored_spec(options: Mapping[str, Any] | None, *, owner: str | None) -> ServerSpec | None:
    """The spec of a server's stored ``user_options``, ``None`` when it has none or it no
    longer parses (e.g. the site removed a volume it mounts)."""
    if not options or PUBLIC_KEY in options:
        return None
    try:
        raw, _, _ = split_request(options)
        if isinstance(raw, str):
            return parse_launch_url(raw, owner=owner)
        return parse_spec(raw, owner=owner)
    except InputError:
        return None


def spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fields whose canonical values differ between two spec documents (pure)."""
    return [
        {"field": key, "old": old.get(key), "new": new.get(key)}
        for key in DIFF_FIELDS
        if old.get(key) != new.get(key)
    ]
