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

Internet off holds only while those rules are in place, so every offline start checks them
first (:func:`offline_firewall_problem`) and is refused when they are missing. The check
reads the live IPv4 filter table (``iptables -S``): directly when the hub may (root, as
under ``versahub up``), else through the read-only socket :data:`RULES_SOCKET` that a
deployed site's root-run ``versahub-firewall-rules.socket`` answers with ``iptables -S``
(the hub of an Ansible-deployed site runs unprivileged and cannot read the table itself).
:func:`offline_firewall_problems` judges a listing (pure).

Ansible's hub role installs the same rules as root (``offline_firewall_restore``, through the
``versahub_offline_firewall`` filter), so the Python and the playbook cannot drift.

I/O only through the Docker SDK client handed in, ``iptables`` and that socket; the rule
lists themselves are pure. Never removes a network or a rule it did not create.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ICC_OPTION = "com.docker.network.bridge.enable_icc"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
CHAIN = "VERSAHUB-OFFLINE"
INTERNET_NETWORK = "versahub-internet"
OFFLINE_NETWORK = "versahub-offline"
# Where a deployed site's root-run reader answers every connection with ``iptables -S``
# (systemd socket activation; only the hub's group may connect; it reads no input).
RULES_SOCKET = "/run/versahub-firewall-rules.sock"


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

    def create_argv(self) -> list[str]:
        """``docker network create`` arguments with the options of :meth:`create_kwargs`
        (how the Ansible hub role creates it, so that the hub finds it as it would make it)."""
        kw = self.create_kwargs()
        argv = ["network", "create", "--driver", kw["driver"]]
        if kw["internal"]:
            argv.append("--internal")
        for key, value in kw["options"].items():
            argv += ["--opt", f"{key}={value}"]
        for key, value in kw["labels"].items():
            argv += ["--label", f"{key}={value}"]
        return [*argv, kw["name"]]


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


def offline_firewall_restore(bridge: str, hub_ip: str, hub_port: int) -> str:
    """The chain of :func:`offline_firewall_rules` as an ``iptables-restore --noflush``
    document: it creates the chain when missing and replaces its rules in one transaction,
    leaving every other chain alone. The ``INPUT`` jump is not in it (a restore would add it
    once more on every run): :func:`offline_firewall_jump` is added when missing."""
    lines = ["*filter"]
    for rule in offline_firewall_rules(bridge, hub_ip, hub_port):
        if rule[0] == "-N":
            lines.append(f":{rule[1]} - [0:0]")
        elif rule[0] == "-A":
            lines.append(shlex.join(rule))
    return "\n".join([*lines, "COMMIT"]) + "\n"


def offline_firewall_jump(bridge: str) -> list[str]:
    """The ``INPUT`` rule of :func:`offline_firewall_rules` without ``-I``: ``INPUT -i …``."""
    (jump,) = (r for r in offline_firewall_rules(bridge, "0.0.0.0", 0) if r[0] == "-I")
    return jump[1:]


# -- reading the rules back -----------------------------------------------------------------
_ALIASES = {
    "--source": "-s", "--destination": "-d", "--protocol": "-p", "--in-interface": "-i",
    "--out-interface": "-o", "--jump": "-j", "--goto": "-g", "--match": "-m",
    "--destination-port": "--dport", "--source-port": "--sport",
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One ``-A CHAIN …`` rule, its options normalised the way ``iptables -S`` prints them
    (``-d 172.17.0.1/32``, ``-m tcp``, ``RELATED,ESTABLISHED``) so that a listed rule equals
    the one :func:`offline_firewall_rules` asked for. ``!`` negations key as ``!-i``."""

    chain: str
    options: tuple[tuple[str, str], ...]
    text: str

    def get(self, key: str) -> str | None:
        return dict(self.options).get(key)

    @classmethod
    def parse(cls, tokens: list[str], text: str | None = None) -> Rule:
        options: dict[str, str] = {}
        rest, negate, i = tokens[2:], False, 0
        while i < len(rest):
            token = rest[i]
            if token == "!":
                negate, i = True, i + 1
                continue
            j = i + 1
            while j < len(rest) and rest[j] != "!" and not rest[j].startswith("-"):
                j += 1
            key = ("!" if negate else "") + _ALIASES.get(token, token)
            value = " ".join(rest[i + 1 : j])
            negate, i = False, j
            if key == "-m":  # a match module: implied by its own options
                continue
            if key in ("-s", "-d", "!-s", "!-d"):
                value = value.removesuffix("/32")
            elif key.endswith(("--ctstate", "--state")):
                value = ",".join(sorted(value.upper().split(",")))
            elif key.endswith("-p"):
                value = value.lower()
            options[key] = value
        return cls(tokens[1], tuple(sorted(options.items())), text or shlex.join(tokens))


def _interface_matches(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern


def _may_come_from(rule: Rule, bridge: str) -> bool:
    """Whether ``rule``'s interface match (if any) can match packets arriving on ``bridge``."""
    given, negated = rule.get("-i"), rule.get("!-i")
    if given is not None and not _interface_matches(given, bridge):
        return False
    return negated is None or not _interface_matches(negated, bridge)


def _is_hub_port_rule(rule: Rule) -> bool:
    """An accept of TCP to one address and port: this or another hub's API (hubs on one host
    share the chain)."""
    keys = {key for key, _ in rule.options}
    wanted = {"-p": "tcp", "-j": "ACCEPT"}
    return keys == {"-p", "-d", "--dport", "-j"} and all(
        rule.get(k) == v for k, v in wanted.items()
    )


def offline_firewall_problems(listing: str, bridge: str, hub_ip: str, hub_port: int) -> list[str]:
    """What keeps the rules of :func:`offline_firewall_rules` from holding in ``listing``
    (the filter table as ``iptables -S`` prints it); ``[]`` when they hold (pure).

    Holds means: the chain exists; it has this hub's rules and ends with the ``DROP``; its
    only other rules accept one TCP address and port (another hub's API on this host); the
    ``INPUT`` jump for the bridge exists and no rule ahead of it in ``INPUT`` that can match
    the bridge's packets ``ACCEPT``s them. Jumps ahead of it into other chains are not
    followed (a DROP there only drops more).
    """
    chains: set[str] = set()
    rules: dict[str, list[Rule]] = {}
    for line in listing.splitlines():
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if len(tokens) >= 2 and tokens[0] in ("-P", "-N"):
            chains.add(tokens[1])
        elif len(tokens) >= 2 and tokens[0] == "-A":
            rules.setdefault(tokens[1], []).append(Rule.parse(tokens, line.strip()))
    if "INPUT" not in chains:
        return ["the listing of the filter table has no INPUT chain: it could not be read"]
    problems: list[str] = []
    expected = offline_firewall_rules(bridge, hub_ip, hub_port)
    chain_rules = [Rule.parse(r) for r in expected if r[:2] == ["-A", CHAIN]]
    if CHAIN not in chains:
        problems.append(f"there is no {CHAIN} chain")
    else:
        have = rules.get(CHAIN, [])
        problems += [
            f"{CHAIN} lacks `{want.text}`"
            for want in chain_rules
            if all(r.options != want.options for r in have)
        ]
        drop = chain_rules[-1]
        if any(r.options == drop.options for r in have) and have[-1].options != drop.options:
            problems.append(f"rules follow the final `{drop.text}` of {CHAIN}")
        known = {r.options for r in chain_rules}
        problems += [
            f"{CHAIN} has an unexpected rule `{r.text}`"
            for r in have
            if r.options not in known and not _is_hub_port_rule(r)
        ]
    jump = Rule.parse(["-A", *offline_firewall_jump(bridge)])
    inputs = rules.get("INPUT", [])
    at = next((i for i, r in enumerate(inputs) if r.options == jump.options), None)
    if at is None:
        problems.append(f"INPUT lacks `{jump.text}`")
    else:
        problems += [
            f"`{r.text}` accepts the packets of {bridge} ahead of the jump to {CHAIN}"
            for r in inputs[:at]
            if r.get("-j") == "ACCEPT" and _may_come_from(r, bridge)
        ]
    return problems


class FirewallUnreadable(RuntimeError):
    """Neither the reader socket nor ``iptables`` gave the filter table."""


def _read_socket(path: str, timeout: float) -> str:
    chunks: list[bytes] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        while data := sock.recv(65536):
            chunks.append(data)
            if sum(map(len, chunks)) > 8 * 1024 * 1024:
                raise OSError("the answer is too long")
    text = b"".join(chunks).decode("utf-8", "replace")
    if not text.strip():
        raise OSError("empty answer (see journalctl -u 'versahub-firewall-rules@*')")
    return text


def read_filter_rules(socket_path: str = RULES_SOCKET, timeout: float = 5.0) -> str:
    """The IPv4 filter table as ``iptables -S`` lists it (blocking).

    From ``socket_path`` when it exists (a deployed site: a root-run reader answers there;
    the unprivileged hub cannot read the table), else from ``iptables`` itself (root or
    ``CAP_NET_ADMIN``). Raises :class:`FirewallUnreadable` saying what failed.
    """
    errors: list[str] = []
    if os.path.exists(socket_path):
        try:
            return _read_socket(socket_path, timeout)
        except OSError as err:
            errors.append(f"{socket_path}: {err}")
    if shutil.which("iptables") is None:
        errors.append("iptables is not installed")
    else:
        try:
            result = _iptables(["-S"], timeout=timeout)
        except subprocess.TimeoutExpired:
            errors.append(f"iptables -S did not answer within {timeout:.0f} s")
        else:
            if result.returncode == 0:
                return result.stdout
            reason = result.stderr.strip() or f"exit status {result.returncode}"
            errors.append(f"iptables -S: {reason}")
    raise FirewallUnreadable("; ".join(errors))


def _current_problems(bridge: str, hub_ip: str, hub_port: int, socket_path: str) -> list[str]:
    return offline_firewall_problems(read_filter_rules(socket_path), bridge, hub_ip, hub_port)


def offline_firewall_problem(
    bridge: str, hub_ip: str, hub_port: int, *, repair: bool = False,
    socket_path: str = RULES_SOCKET,
) -> str | None:  # fmt: skip
    """``None`` when the rules of :func:`offline_firewall_rules` hold right now; else the
    message an offline start is refused with (blocking: reads the live rules each call).

    ``repair``: when they do not hold, try :func:`install_offline_firewall` once and look
    again (a hub running as root restores rules removed since it started).
    """
    try:
        problems = _current_problems(bridge, hub_ip, hub_port, socket_path)
        if problems and repair:
            install_offline_firewall(bridge, hub_ip, hub_port, socket_path=socket_path)
            problems = _current_problems(bridge, hub_ip, hub_port, socket_path)
    except FirewallUnreadable as err:
        what = f"the offline firewall rules cannot be checked ({err})"
    else:
        if not problems:
            return None
        what = f"the offline firewall rules are missing or bypassed ({'; '.join(problems)})"
    return (
        f"Internet off cannot be enforced on this host: {what}. Nothing was started: without "
        "these rules the server could reach services on the host. An administrator restores "
        "them with `systemctl restart versahub-offline-firewall` (a site deployed with "
        "`versahub deploy`) or by starting the hub as root (`versahub up`)."
    )


def _iptables(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", *args], capture_output=True, text=True, timeout=timeout
    )


def install_offline_firewall(
    bridge: str, hub_ip: str, hub_port: int, *, socket_path: str = RULES_SOCKET
) -> bool:
    """Install the rules (idempotent; an existing chain keeps its rules and gains this
    hub's, so several hubs on one host do not lock each other out).

    Nothing is touched when the rules already hold (a deployed site's hub role installed
    them). Returns ``False`` (and logs) when ``iptables`` is missing or refuses: offline
    starts are then refused by :func:`offline_firewall_problem`.
    """
    try:
        if not _current_problems(bridge, hub_ip, hub_port, socket_path):
            return True
    except FirewallUnreadable:
        pass
    if shutil.which("iptables") is None:
        log.warning("iptables not found: offline servers cannot start on this host")
        return False
    rules = offline_firewall_rules(bridge, hub_ip, hub_port)
    listed = _iptables(["-L", CHAIN, "-n"])
    if "Permission denied" in listed.stderr:
        log.warning(
            "cannot install the offline firewall (%s): install it as root; offline servers "
            "cannot start on this host until then", listed.stderr.strip(),
        )  # fmt: skip
        return False
    if listed.returncode == 0:
        # The chain exists (another hub on this host, or an earlier run): keep its rules and
        # add what this hub's lack: accepts in front, the final DROP at the end.
        conntrack, hub_rule, drop = (r[2:] for r in rules[1:4])
        rules = [
            ["-I", CHAIN, "1", *accept]
            for accept in (conntrack, hub_rule)
            if _iptables(["-C", CHAIN, *accept]).returncode != 0
        ]
        if _iptables(["-C", CHAIN, *drop]).returncode != 0:
            rules.append(["-A", CHAIN, *drop])
    jump = offline_firewall_jump(bridge)
    if _iptables(["-C", *jump]).returncode == 0:
        rules = [r for r in rules if r[:2] != ["-I", "INPUT"]]
    elif not any(r[:2] == ["-I", "INPUT"] for r in rules):
        rules.append(["-I", *jump])
    for rule in rules:
        result = _iptables(rule)
        if result.returncode != 0:
            log.warning(
                "iptables %s failed: %s (offline servers cannot start on this host)",
                " ".join(rule), result.stderr.strip(),
            )  # fmt: skip
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m versahub.hub.network BRIDGE HUB_IP HUB_PORT``: print ``ok`` (exit status
    0) or the message an offline start would be refused with (exit status 1), checked as
    the hub checks. The Ansible hub role runs it as the hub's user after installing them."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or not args[2].isdigit():
        print("usage: python -m versahub.hub.network BRIDGE HUB_IP HUB_PORT", file=sys.stderr)
        return 2
    problem = offline_firewall_problem(args[0], args[1], int(args[2]))
    print(problem or "ok")
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
