"""Jinja filters that let the playbooks reuse VersaHub's own site code on the controller.

``versahub deploy`` (and ``ansible-playbook`` started from the repository's virtualenv)
runs on a controller where the ``versahub`` package is importable, so the inventory's
``versahub_site`` is checked by the same ``site_from_mapping`` as ``versahub up`` and the
OPA site data is rendered by the same ``render_site_data``, and the hub role's offline
firewall and Docker networks come from ``versahub.hub.network`` (the rules the hub checks
before every offline start). The multi-host helpers (``versahub_host_addresses``,
``versahub_builder_endpoints``) read only the inventory's hostvars. These filters never
touch a host and never write a file.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from versahub.errors import InputError
    from versahub.hub.network import (
        CHAIN,
        INTERNET_NETWORK,
        OFFLINE_NETWORK,
        RULES_SOCKET,
        network_specs,
        offline_firewall_jump,
        offline_firewall_restore,
    )
    from versahub.policy.data import render_site_data
    from versahub.policy.server import decision_log_config, opa_command
    from versahub.site.config import site_from_mapping
except ImportError as err:  # pragma: no cover - depends on how Ansible was started
    _IMPORT_ERROR: ImportError | None = err
else:
    _IMPORT_ERROR = None

ORIGIN = "versahub_site"
# Ansible templates a role default each time a task reads it: validate each document once.
_DOCUMENTS: dict[str, dict[str, Any]] = {}


def _need_versahub() -> None:
    if _IMPORT_ERROR is not None:
        raise AnsibleFilterError(
            "the versahub package is not importable by the Ansible controller "
            f"({_IMPORT_ERROR}); run `versahub deploy` or ansible-playbook from VersaHub's venv"
        )


def _plain(value: Any) -> Any:
    """Turn Ansible's lazy/tagged containers into plain dicts, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def versahub_site_document(raw: Any) -> dict[str, Any]:
    """Validate an inventory's ``versahub_site`` and return it with every default filled in."""
    _need_versahub()
    plain = _plain(raw)
    key = json.dumps(plain, sort_keys=True, default=str)
    if key not in _DOCUMENTS:
        try:
            _DOCUMENTS[key] = _plain(site_from_mapping(plain, origin=ORIGIN).data)
        except InputError as err:
            raise AnsibleFilterError(f"invalid inventory value {err}") from None
    return copy.deepcopy(_DOCUMENTS[key])


def versahub_opa_data(raw: Any) -> dict[str, Any]:
    """The ``data.versahub.site`` document OPA loads, rendered from ``versahub_site``."""
    doc = versahub_site_document(raw)
    try:
        return render_site_data(doc["policy"], doc["volumes"])
    except InputError as err:
        raise AnsibleFilterError(f"invalid inventory value {ORIGIN}: {err}") from None


def versahub_opa_command(
    policy_dir: str, data_dir: str, address: str, opa: str, console: bool = True,
    config_file: str = "",
) -> list[str]:  # fmt: skip
    """The ``opa run --server`` argument list of ``versahub up``, for the systemd unit."""
    _need_versahub()
    try:
        return opa_command(policy_dir, data_dir, address, bool(console), opa=opa,
                           config_file=config_file or None)  # fmt: skip
    except InputError as err:
        raise AnsibleFilterError(f"invalid inventory value {err}") from None


def versahub_opa_config(raw: Any, token: str) -> dict[str, Any]:
    """OPA's configuration file: the decision log, masked, uploaded to the hub of the site
    (``hub.internal_ip``/``internal_port``) with the token of its service ``versahub-opa``."""
    doc = versahub_site_document(raw)
    ip, port = str(doc["hub"]["internal_ip"]), int(doc["hub"]["internal_port"])
    hub = f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}"
    token = str(token).strip()
    if len(token) < 32:
        raise AnsibleFilterError("the decision-log token is missing or too short")
    return decision_log_config(f"{hub}/hub/api", token)


def versahub_offline_firewall(raw: Any) -> dict[str, Any]:
    """What the hub role installs so that internet-off servers reach only the hub's API:
    the Docker networks (``docker network create`` arguments, as the hub would create them),
    the ``iptables-restore --noflush`` document of the ``VERSAHUB-OFFLINE`` chain, the
    ``INPUT`` jump, and the socket the hub reads the live rules through."""
    doc = versahub_site_document(raw)
    hub_ip, hub_port = str(doc["hub"]["internal_ip"]), int(doc["hub"]["internal_port"])
    networks = network_specs(INTERNET_NETWORK, OFFLINE_NETWORK)
    bridge = networks[1].bridge
    return {
        "chain": CHAIN,
        "bridge": bridge,
        "hub_ip": hub_ip,
        "hub_port": hub_port,
        "restore": offline_firewall_restore(bridge, hub_ip, hub_port),
        "jump": offline_firewall_jump(bridge),
        "socket": RULES_SOCKET,
        "networks": [
            {"name": n.name, "internal": n.internal, "create": n.create_argv()} for n in networks
        ],
    }


def _ipv4(value: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(str(value).strip()))
    except ValueError:
        return None


def versahub_host_addresses(hosts: Any, hostvars: Any) -> list[str]:
    """The IPv4 addresses the other hosts of the site see ``hosts`` connect from, for the
    multi-host firewalls (builders' Docker TLS port, the registry's ports, the hub's refusal
    of builders): each host's ``ansible_host`` when it is an IPv4 address, and the address
    of its default route from the facts of this run (``default_ipv4``). A host with neither
    fails the run: a firewall rule must never be built from a guess or a DNS name."""
    found: set[str] = set()
    for host in [str(h) for h in (hosts or [])]:
        values = hostvars[host]
        facts = values.get("ansible_facts") or {}
        own = {
            _ipv4(values.get("ansible_host", "")),
            _ipv4((facts.get("default_ipv4") or {}).get("address", "")),
        } - {None}
        if not own:
            raise AnsibleFilterError(
                f"no IPv4 address known for {host}: set its ansible_host to an IPv4 address "
                "or include it in the run (facts are gathered by the preflight play)"
            )
        found |= {str(a) for a in own}
    return sorted(found, key=ipaddress.IPv4Address)


_BUILDER_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
DOCKER_TLS_PORT = 2376


def versahub_builder_endpoints(hosts: Any, hostvars: Any, tls_dir: str) -> list[dict[str, str]]:
    """site.yaml's ``images.builders`` for the remote builders ``hosts``: name = inventory
    name, ``docker_host`` = ``tcp://<ansible_host or name>:<docker_tls_port or 2376>``,
    ``tls_dir`` = the hub's client certificate folder (ca.pem, cert.pem, key.pem)."""
    out: list[dict[str, str]] = []
    for host in [str(h) for h in (hosts or [])]:
        if not _BUILDER_NAME.match(host):
            raise AnsibleFilterError(
                f"builder {host!r}: an inventory name of a remote builder must be lower-case "
                "letters, digits, '.' or '-' (it becomes images.builders[].name)"
            )
        values = hostvars[host]
        address = str(values.get("ansible_host") or host).strip()
        try:
            if ipaddress.ip_address(address.strip("[]")).version == 6:
                address = f"[{address.strip('[]')}]"
        except ValueError:
            pass
        port = int(values.get("docker_tls_port") or DOCKER_TLS_PORT)
        out.append(
            {"name": host, "docker_host": f"tcp://{address}:{port}", "tls_dir": str(tls_dir)}
        )
    return out


class FilterModule:
    """VersaHub's controller-side filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "versahub_site_document": versahub_site_document,
            "versahub_opa_data": versahub_opa_data,
            "versahub_opa_command": versahub_opa_command,
            "versahub_opa_config": versahub_opa_config,
            "versahub_offline_firewall": versahub_offline_firewall,
            "versahub_host_addresses": versahub_host_addresses,
            "versahub_builder_endpoints": versahub_builder_endpoints,
        }
