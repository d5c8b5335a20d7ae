"""Render site.yaml's policy settings into OPA's site data (``data.versahub.site``).

``render_site_data`` is pure: it turns the ``policy`` and ``volumes`` sections of a validated
site into the document of ``docs/architecture.md`` — sizes in bytes, durations in seconds —
so that Rego never parses a size. ``write_site_data`` is the only I/O: it writes
``<data_dir>/versahub/site/data.json`` atomically (temporary file in the same folder, then
``os.replace``) so OPA's file watcher never loads a half-written document.

It must never guess a missing security setting into something more permissive than the
site's defaults, and never write outside ``data_dir``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from versahub.errors import InputError, shorten
from versahub.spec.sizes import parse_duration, parse_memory
from versahub.util.files import SHARED, atomic_write

SITE_DATA_PATH = ("versahub", "site")
CAP_KEYS = ("memory_bytes", "cpu", "max_duration_seconds", "idle_timeout_seconds")
VOLUME_KINDS = frozenset({"home", "shared", "project"})


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InputError(field, f"expected a list of names, got {type(value).__name__}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item:
            raise InputError(field, f"expected non-empty strings, got {shorten(item)}")
        if item not in out:
            out.append(item)
    return out


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(field, f"expected a mapping, got {type(value).__name__}")
    return value


def _cpu(value: Any, field: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(field, f"expected a positive number of CPUs, got {shorten(value)}")
    return value


def _caps(raw: Any, field: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Normalise one caps block; keys it leaves out come from ``base`` (or are ``None``)."""
    caps = _mapping(raw, field)
    out: dict[str, Any] = dict(base) if base else dict.fromkeys(CAP_KEYS)
    if "memory" in caps:
        out["memory_bytes"] = parse_memory(f"{field}.memory", caps["memory"])
    if "cpu" in caps:
        out["cpu"] = _cpu(caps["cpu"], f"{field}.cpu")
    if "max_duration" in caps:
        out["max_duration_seconds"] = parse_duration(f"{field}.max_duration", caps["max_duration"])
    if "idle_timeout" in caps:
        out["idle_timeout_seconds"] = parse_duration(f"{field}.idle_timeout", caps["idle_timeout"])
    unknown = sorted(set(caps) - {"memory", "cpu", "max_duration", "idle_timeout"})
    if unknown:
        raise InputError(f"{field}.{unknown[0]}", "unknown key")
    return out


def _who(raw: Any, field: str) -> dict[str, list[str]]:
    who = _mapping(raw, field)
    return {
        "users": _strings(who.get("users"), f"{field}.users"),
        "groups": _strings(who.get("groups"), f"{field}.groups"),
    }


def _volumes(volumes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in volumes.items():
        field = f"volumes.{name}"
        vol = _mapping(raw, field)
        kind = vol.get("kind", "shared")
        if kind not in VOLUME_KINDS:
            raise InputError(
                f"{field}.kind", f"{shorten(kind)} is not one of home, shared, project"
            )
        out[str(name)] = {
            "kind": kind,
            "read": _who(vol.get("read"), f"{field}.read"),
            "write": _who(vol.get("write"), f"{field}.write"),
        }
    return out


def render_site_data(site_policy: Mapping[str, Any], volumes: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``data.versahub.site`` document for a site's ``policy`` and ``volumes``.

    Group caps inherit each key they leave out from ``caps.default``, so a rule compares
    numbers only. Raises ``InputError`` (field ``policy.…`` / ``volumes.…``) on bad values.
    """
    policy = _mapping(site_policy, "policy")
    caps = _mapping(policy.get("caps"), "policy.caps")
    default_caps = _caps(caps.get("default"), "policy.caps.default")
    groups = _mapping(caps.get("groups"), "policy.caps.groups")
    large = _mapping(policy.get("large_request"), "policy.large_request")
    large_out: dict[str, Any] = {"memory_bytes": None, "cpu": None}
    if "memory" in large:
        large_out["memory_bytes"] = parse_memory("policy.large_request.memory", large["memory"])
    if "cpu" in large:
        large_out["cpu"] = _cpu(large["cpu"], "policy.large_request.cpu")
    share = _mapping(policy.get("share"), "policy.share")
    share_groups = share.get("groups", "member")
    if share_groups not in ("member", "any"):
        raise InputError("policy.share.groups", f"{shorten(share_groups)} is not member or any")
    allowed_forges = policy.get("allowed_forges")
    return {
        "trusted_repos": _strings(policy.get("trusted_repos"), "policy.trusted_repos"),
        "trusted_forges": _strings(policy.get("trusted_forges"), "policy.trusted_forges"),
        "allowed_forges": (
            ["*"] if allowed_forges is None else _strings(allowed_forges, "policy.allowed_forges")
        ),
        "allowed_internal_hosts": _strings(
            policy.get("allowed_internal_hosts"), "policy.allowed_internal_hosts"
        ),
        "caps": {
            "default": default_caps,
            "groups": {
                str(g): _caps(c, f"policy.caps.groups.{g}", default_caps) for g, c in groups.items()
            },
        },
        "large_request": large_out,
        "volumes": _volumes(_mapping(volumes, "volumes")),
        "share": {"groups": share_groups},
    }


def site_data_file(data_dir: str | os.PathLike[str]) -> Path:
    """Where the site data lives under OPA's data folder: ``versahub/site/data.json``."""
    return Path(data_dir).joinpath(*SITE_DATA_PATH, "data.json")


def write_site_data(doc: Mapping[str, Any], data_dir: str | os.PathLike[str]) -> Path:
    """Write ``doc`` to ``<data_dir>/versahub/site/data.json`` atomically; return the path.

    The temporary file is hidden and does not end in ``.json`` so OPA never loads it
    (``opa_command`` also passes ``--ignore .*``).
    """
    target = site_data_file(data_dir)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    # OPA runs as another user on deployed hosts: its data must be readable
    atomic_write(target, text, mode=SHARED)
    return target
