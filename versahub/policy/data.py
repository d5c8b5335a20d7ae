"""Render site.yaml's policy settings into OPA's site data (``data.versahub.site``).

``render_site_data`` is pure: it *converts* the ``policy`` and ``volumes`` sections of a site
that ``versahub.site`` has already validated (schema, defaults filled in) into the document
of ``docs/architecture.md`` — sizes in bytes, durations in seconds (``limits_of``) — so that
Rego never parses a size. It checks nothing the schema checks; the site loader converts once
at load, so an out-of-range size is refused there, naming its key. ``write_site_data`` is the
only I/O: it writes ``<data_dir>/versahub/site/data.json`` atomically (temporary file in the
same folder, then ``os.replace``) so OPA's file watcher never loads a half-written document.

It must never guess a missing security setting into something more permissive than the
site's defaults, and never write outside ``data_dir``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from versahub.spec.sizes import limits_of
from versahub.util.files import PRIVATE, SHARED, atomic_write

SITE_DATA_PATH = ("versahub", "site")


def _who(who: Mapping[str, Any]) -> dict[str, list[str]]:
    return {"users": list(who.get("users", [])), "groups": list(who.get("groups", []))}


def render_site_data(
    site_policy: Mapping[str, Any], volumes: Mapping[str, Any], *, repo_dir: str | None = None
) -> dict[str, Any]:
    """Return the ``data.versahub.site`` document for a validated site's ``policy`` and
    ``volumes`` (``site.policy``, ``site.volumes``).

    Group caps inherit each key they leave out from ``caps.default``, so a rule compares
    numbers only. ``repo_dir`` (``images.target_repo_dir``) becomes ``repo_dir``, the folder
    no volume may cover (``storage-protected-path``); without it the policy protects
    ``/srv/repo``.
    """
    caps = site_policy["caps"]
    default_caps = limits_of(caps["default"], "policy.caps.default")
    large = limits_of(site_policy["large_request"], "policy.large_request")
    doc: dict[str, Any] = {
        "trusted_repos": list(site_policy["trusted_repos"]),
        "trusted_forges": list(site_policy["trusted_forges"]),
        "allowed_forges": list(site_policy["allowed_forges"]),
        "allowed_internal_hosts": list(site_policy["allowed_internal_hosts"]),
        "caps": {
            "default": default_caps,
            "groups": {
                group: limits_of(group_caps, f"policy.caps.groups.{group}", default_caps)
                for group, group_caps in caps["groups"].items()
            },
        },
        "large_request": {"memory_bytes": large["memory_bytes"], "cpu": large["cpu"]},
        "volumes": {
            name: {
                "kind": volume["kind"],
                "read": _who(volume.get("read", {})),
                "write": _who(volume.get("write", {})),
            }
            for name, volume in volumes.items()
        },
        "share": {"groups": site_policy["share"]["groups"]},
        # read by OPA's decision-log mask (policies/system/log/mask.rego)
        "decision_log": {
            "personal_data": site_policy.get("decision_log", {}).get("personal_data", "keep")
        },
    }
    if repo_dir is not None:
        doc["repo_dir"] = repo_dir
    return doc


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


def write_decision_log_key(
    key: str, data_dir: str | os.PathLike[str], *, mode: int = PRIVATE
) -> Path:
    """Write the key of the decision-log pseudonyms (``data.versahub.decision_log.key``, read
    by ``policies/system/log/mask.rego``) to ``<data_dir>/versahub/decision_log/data.json``.
    ``mode`` 0600 when OPA runs as the writing user, as under ``versahub up``."""
    target = Path(data_dir) / "versahub" / "decision_log" / "data.json"
    atomic_write(target, json.dumps({"key": key}) + "\n", mode=mode)
    return target
