"""Read an Ansible inventory on the controller and check it before the playbook runs.

``ansible-inventory --list`` resolves groups and group_vars exactly as the playbook will;
each host's ``versahub_site`` is then checked with the same ``site_from_mapping`` as
``versahub up``, so a bad value is one line naming the host and the key, and nothing runs.
Values that still hold Jinja (``{{ vault_… }}``) are left to the playbook's own check.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.errors import InputError, shorten
from versahub.site.config import site_from_mapping

REQUIRED_GROUPS = ("hub",)
KNOWN_GROUPS = ("hub", "builders", "storage", "registry")


@dataclass(frozen=True)
class Inventory:
    """The parts of an inventory ``versahub deploy`` looks at."""

    path: Path
    groups: Mapping[str, list[str]]
    hostvars: Mapping[str, Mapping[str, Any]]


def _has_jinja(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_has_jinja(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_jinja(v) for v in value)
    return False


def parse_inventory_list(path: Path, data: Mapping[str, Any]) -> Inventory:
    """Build an :class:`Inventory` from ``ansible-inventory --list`` JSON (pure)."""
    groups: dict[str, list[str]] = {}
    for name, group in data.items():
        if name == "_meta" or not isinstance(group, Mapping):
            continue
        groups[name] = list(group.get("hosts", []))

    # Hosts of child groups belong to the parent too.
    def _hosts(name: str, seen: frozenset[str] = frozenset()) -> list[str]:
        group = data.get(name, {})
        out = list(group.get("hosts", []))
        for child in group.get("children", []):
            if child not in seen:
                out += [h for h in _hosts(child, seen | {name}) if h not in out]
        return out

    resolved = {name: _hosts(name) for name in groups}
    hostvars = data.get("_meta", {}).get("hostvars", {})
    return Inventory(path=path, groups=resolved, hostvars=hostvars)


def check_inventory(inv: Inventory) -> None:
    """Raise ``InputError`` naming the first problem of ``inv`` (pure)."""
    where = f"inventory {inv.path}"
    for group in REQUIRED_GROUPS:
        if not inv.groups.get(group):
            raise InputError(
                where, f"no host in group {group!r} (groups: {', '.join(KNOWN_GROUPS)})"
            )
    hosts = sorted({h for g in KNOWN_GROUPS for h in inv.groups.get(g, [])})
    for host in hosts:
        site = inv.hostvars.get(host, {}).get("versahub_site")
        if site is None or _has_jinja(site):
            continue
        origin = f"{where}: host {host}: versahub_site"
        site_from_mapping(site, origin=origin)
        state_dir = site.get("state_dir") if isinstance(site, Mapping) else None
        if state_dir is not None and not str(state_dir).startswith("/"):
            raise InputError(
                f"{origin}.state_dir", f"{shorten(state_dir)} must be an absolute path"
            )
        _check_registry(inv, site, origin)


def _check_registry(inv: Inventory, site: Any, origin: str) -> None:
    """The registry group and ``versahub_site.registry.enabled`` must agree: the hub pushes
    to a registry only when site.yaml enables it, so a registry host the hub never uses (or
    an enabled registry no host runs) is refused."""
    registry = site.get("registry") if isinstance(site, Mapping) else None
    enabled = isinstance(registry, Mapping) and registry.get("enabled") is True
    hosts = inv.groups.get("registry", [])
    if hosts and not enabled:
        raise InputError(
            f"{origin}.registry.enabled",
            f"must be true when the registry group has hosts ({', '.join(hosts)}); "
            "or remove them from the group",
        )
    if enabled and not hosts:
        raise InputError(
            f"{origin}.registry.enabled",
            "is true but the registry group has no host: add one, or set it to false",
        )


def load_inventory(path: Path, ansible_inventory: str, env: Mapping[str, str]) -> Inventory:
    """Run ``ansible-inventory --list`` on ``path`` and parse it; ``InputError`` if it fails."""
    if not path.exists():
        raise InputError("-i/--inventory", f"no inventory at {str(path)!r}")
    argv: Sequence[str] = [ansible_inventory, "-i", str(path), "--list"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(env), check=False)
    if proc.returncode != 0:
        reason = next(
            (
                line.strip()
                for line in proc.stderr.splitlines()
                if "ERROR" in line or "rror" in line
            ),
            proc.stderr.strip().splitlines()[-1]
            if proc.stderr.strip()
            else "ansible-inventory failed",
        )
        raise InputError(
            f"inventory {path}", reason.removeprefix("[ERROR]: ").removeprefix("ERROR! ")
        )
    if "Unable to parse" in proc.stderr:
        raise InputError(f"inventory {path}", "Ansible cannot parse it as an inventory")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise InputError(f"inventory {path}", "ansible-inventory printed no JSON") from None
    return parse_inventory_list(path, data)
