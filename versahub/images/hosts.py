"""Where a repository host really points: resolve it, and spot the hub's own network.

The policy (``repo-internal-host``, ``repo-ip-literal``) judges the host *as written*, so a
public-looking name that resolves to ``127.0.0.1`` (``127.0.0.1.nip.io``), a private range
or the cloud metadata address passes it. The builder therefore resolves the host itself
before git connects (``versahub.images.refs.check_repo_host``); this module holds the
parts of that check:

* ``repo_host`` — the host of a repository URL, written as the policy writes it
  (lower case, no IPv6 brackets, no trailing dot);
* ``resolve_addresses`` — every address the event loop's ``getaddrinfo`` gives for it
  (numeric hosts in any notation — ``2130706433``, ``0x7f000001``, ``017700000001``,
  ``[::ffff:127.0.0.1]`` — come back as the address they mean);
* ``is_internal`` — loopback, private, carrier-grade NAT, link-local (cloud metadata),
  unspecified and unique-local addresses: the ranges of ``repo.rego``'s
  ``_internal_cidrs``, also inside IPv4-mapped and NAT64 IPv6 addresses;
* ``host_allowed`` / ``address_allowed`` — the site's ``policy.allowed_internal_hosts``,
  matched as the policy matches it: host patterns with ``.`` separating labels
  (OPA's ``glob.match``), and CIDR ranges (a bare address counts as a range of one).

It never connects to the host and never reads a site file.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Keep in step with _internal_cidrs in policies/versahub/spawn/repo.rego.
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT; also some cloud metadata services
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, including 169.254.169.254 (cloud metadata)
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique-local, including fd00:ec2::254 (cloud metadata)
        "fe80::/10",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>\[[^\]]+\]|[^:/]+):(?!//)")


def repo_host(repo: str) -> str:
    """The host of a repository URL (``https://``, ``git@host:path``), or ``""`` for none.

    Written as the policy's ``repo_host``: lower case, without IPv6 brackets or trailing dots.
    """
    host = ""
    try:
        parts = urlsplit(repo)
        netloc = bool(parts.scheme and parts.netloc)
        if netloc:
            host = parts.hostname or ""
    except ValueError:  # an unclosed "[" in the address: git cannot use it either
        return ""
    if not netloc:
        match = _SCP_LIKE.match(repo)
        if match:
            host = match.group("host")
    return host.strip("[]").rstrip(".").lower()


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_internal(address: IPAddress) -> bool:
    """True for an address in the hub's own network or the cloud metadata service."""
    inner = _embedded_ipv4(address)
    candidates = [address] if inner is None else [address, inner]
    return any(
        candidate in network
        for candidate in candidates
        for network in INTERNAL_NETWORKS
        if candidate.version == network.version
    )


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """OPA's ``glob.match(pattern, ["."], …)`` as a regular expression.

    ``*`` matches within one label, ``**`` across labels, ``?`` one character of a label,
    ``[...]`` / ``[!...]`` a character class, ``{a,b}`` alternatives, ``\\`` escapes.
    """
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append(r"[^.]*")
        elif c == "?":
            out.append(r"[^.]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                chars = "".join("\\" + ch if ch in "\\^[]" else ch for ch in body)
                out.append(f"[^.{chars}]" if negate else f"[{chars}]")
                i = end + 1
                continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    out.append(")" * depth)
    return re.compile("".join(out), re.DOTALL)


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """True when an ``allowed_internal_hosts`` entry names or matches ``host`` as a pattern."""
    return any(_glob_regex(entry.lower()).fullmatch(host) for entry in allowed)


def address_allowed(address: IPAddress, allowed: Iterable[str]) -> bool:
    """True when an ``allowed_internal_hosts`` CIDR range (or bare address) holds ``address``."""
    for entry in allowed:
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            continue  # a host name or pattern: matched by host_allowed
        candidates = (address, _embedded_ipv4(address))
        if any(a is not None and a.version == network.version and a in network for a in candidates):
            return True
    return False


async def resolve_addresses(host: str) -> list[IPAddress]:
    """Every address ``getaddrinfo`` gives for ``host`` (raises ``OSError`` if none)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"no address for {host}")
    return addresses
