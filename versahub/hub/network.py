"""The two Docker networks servers run on, and the firewall that keeps "internet off" off.

- ``versahub-internet``: a bridge network with inter-container traffic off
  (``com.docker.network.bridge.enable_icc=false``): normal egress, servers cannot reach
  each other.
- ``versahub-offline``: the same but ``--internal``: Docker installs no route out and drops
  forwarded traffic, so outside names do not resolve and outside addresses cannot be
  reached. Docker still lets such a container reach *the host's own addresses* (that is how
  it reaches the hub at ``hub_connect_url``), so :func:`offline_firewall_rules` adds an
  ``INPUT`` chain on the network's bridge that accepts only the hub's port (and replies to
  connections the host opened, i.e. the proxy) and drops the rest.

I/O only through the Docker SDK client handed in and ``iptables``; the rule list itself is
pure (:func:`offline_firewall_rules`). Never removes a network or a rule it did not create.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ICC_OPTION = "com.docker.network.bridge.enable_icc"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
CHAIN = "VERSAHUB-OFFLINE"


@dataclass(frozen=True)
class NetworkSpec:
    """One Docker network to ensure: ``bridge`` is the host interface name (<= 15 chars)."""

    name: str
    internal: bool
    bridge: str

    def create_kwargs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver": "bridge",
            "internal": self.internal,
            "options": {ICC_OPTION: "false", BRIDGE_NAME_OPTION: self.bridge},
            "labels": {"org.versahub.network": "offline" if self.internal else "internet"},
            "check_duplicate": True,
        }


def network_specs(internet_name: str, offline_name: str) -> tuple[NetworkSpec, NetworkSpec]:
    """The internet-on and internet-off networks."""
    return (
        NetworkSpec(internet_name, internal=False, bridge="vh-internet"),
        NetworkSpec(offline_name, internal=True, bridge="vh-offline"),
    )


def ensure_network(client: Any, spec: NetworkSpec) -> None:
    """Create ``spec`` with the low-level Docker SDK ``client`` (``docker.APIClient``, what
    DockerSpawner holds) unless a network of that name exists.

    An existing network with a different ``internal`` flag is an error: internet-off must
    never silently become internet-on.
    """
    for network in client.networks(names=[spec.name]):
        if network.get("Name") == spec.name:
            internal = bool(network.get("Internal"))
            if internal != spec.internal:
                raise RuntimeError(
                    f"docker network {spec.name} exists with internal={internal}, "
                    f"expected {spec.internal}; remove it or rename the network"
                )
            return
    log.info("creating docker network %s (internal=%s)", spec.name, spec.internal)
    client.create_network(**spec.create_kwargs())


def offline_firewall_rules(bridge: str, hub_ip: str, hub_port: int) -> list[list[str]]:
    """``iptables`` argument lists that limit what an offline server reaches on the host.

    Order matters: jump from ``INPUT`` for packets arriving on the bridge, accept replies
    (the proxy's connections into servers), accept the hub API, drop everything else.
    """
    return [
        ["-N", CHAIN],
        ["-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-A", CHAIN, "-p", "tcp", "-d", hub_ip, "--dport", str(hub_port), "-j", "ACCEPT"],
        ["-A", CHAIN, "-j", "DROP"],
        ["-I", "INPUT", "-i", bridge, "-j", CHAIN],
    ]


def _iptables(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)


def install_offline_firewall(bridge: str, hub_ip: str, hub_port: int) -> bool:
    """Install the rules (idempotent; an existing chain keeps its rules and gains this
    hub's port, so several hubs on one host do not lock each other out).

    Returns ``False`` (and logs) when ``iptables`` is missing or refuses: the offline
    network still has no route out, but host services other than the hub stay reachable.
    """
    if shutil.which("iptables") is None:
        log.warning("iptables not found: offline servers can reach host services besides the hub")
        return False
    rules = offline_firewall_rules(bridge, hub_ip, hub_port)
    if _iptables(["-L", CHAIN, "-n"]).returncode == 0:
        # The chain exists (another hub on this host, or an earlier run): keep its rules
        # and only add this hub's port in front of the final DROP.
        hub_rule = rules[2][2:]
        rules = []
        if _iptables(["-C", CHAIN, *hub_rule]).returncode != 0:
            rules.append(["-I", CHAIN, "2", *hub_rule])
    jump = ["INPUT", "-i", bridge, "-j", CHAIN]
    if _iptables(["-C", *jump]).returncode == 0:
        rules = [r for r in rules if r[:2] != ["-I", "INPUT"]]
    elif not any(r[:2] == ["-I", "INPUT"] for r in rules):
        rules.append(["-I", *jump])
    for rule in rules:
        result = _iptables(rule)
        if result.returncode != 0:
            log.warning("iptables %s failed: %s", " ".join(rule), result.stderr.strip())
            return False
    return True
