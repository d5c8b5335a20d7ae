"""The builder resolves a repository's host before git connects (issue 11: a name that
resolves to an internal address passed the policy, which sees only the written host)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from versahub.images.builder import BuildFailed, ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.events import EventLog
from versahub.images.hosts import address_allowed, host_allowed, is_internal, repo_host
from versahub.images.names import image_name
from versahub.images.refs import (
    HostRefused,
    RepoUnreachable,
    check_repo_host,
    resolve_ref,
)
from versahub.site.config import site_from_mapping

C1 = "a" * 40


def _resolves(host: str) -> bool:
    try:
        return bool(socket.getaddrinfo(host, None))
    except OSError:
        return False


# --- the real resolver: every notation of loopback that getaddrinfo understands -------------

LOOPBACK_HOSTS = [
    pytest.param("localhost", "127.0.0.1", id="localhost"),
    pytest.param("LocalHost.", "127.0.0.1", id="localhost-case-dot"),
    pytest.param("127.0.0.1", "127.0.0.1", id="dotted"),
    pytest.param("0x7f000001", "127.0.0.1", id="hex"),
    pytest.param("2130706433", "127.0.0.1", id="decimal"),
    pytest.param("017700000001", "127.0.0.1", id="octal"),
    pytest.param("0x7f.1", "127.0.0.1", id="hex-short"),
    pytest.param("127.1", "127.0.0.1", id="dotted-short"),
    pytest.param("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", id="ipv4-mapped"),
    pytest.param("[::1]", "::1", id="ipv6-loopback"),
    pytest.param("0.0.0.0", "0.0.0.0", id="unspecified"),
]


@pytest.mark.parametrize(("host", "address"), LOOPBACK_HOSTS)
async def test_loopback_in_every_notation_is_refused(host: str, address: str) -> None:
    with pytest.raises(HostRefused) as err:
        await check_repo_host(f"https://{host}:8443/owner/repo")
    message = str(err.value)
    assert repo_host(f"https://{host}/x") in message and address in message


@pytest.mark.skipif(not _resolves("ip6-localhost"), reason="ip6-localhost is not in /etc/hosts")
async def test_ip6_localhost_is_refused() -> None:
    with pytest.raises(HostRefused, match="ip6-localhost resolves to"):
        await check_repo_host("https://ip6-localhost/owner/repo")


async def test_resolve_ref_refuses_before_running_git() -> None:
    # git would answer RepoUnreachable (nothing listens on port 9): the host check comes first
    with pytest.raises(HostRefused, match=r"0x7f000001 resolves to 127\.0\.0\.1"):
        await resolve_ref("http://0x7f000001:9/owner/repo", "main", timeout=10)


async def test_allowed_host_reaches_git() -> None:
    with pytest.raises(RepoUnreachable):  # got past the check: git found nothing on port 9
        await resolve_ref(
            "http://127.0.0.1:9/owner/repo", "main", timeout=10,
            allowed_internal_hosts=("127.0.0.1",),
        )  # fmt: skip


@pytest.mark.parametrize(
    "allowed",
    [
        pytest.param(("localhost",), id="name"),
        pytest.param(("LOCAL*",), id="pattern"),
        pytest.param(("127.0.0.0/8",), id="cidr"),
        pytest.param(("127.0.0.1",), id="bare-address"),
    ],
)
async def test_allowed_internal_hosts_let_localhost_through(allowed: tuple[str, ...]) -> None:
    await check_repo_host("https://localhost/owner/repo", allowed)


async def test_an_allowed_range_does_not_cover_other_addresses() -> None:
    with pytest.raises(HostRefused):
        await check_repo_host("https://localhost/x", ("10.0.0.0/8", "gitlab.lab.local"))


# --- names that resolve inside the network (a stand-in DNS: no network in unit tests) -------

FAKE_DNS = {
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "metadata.example.org": ["169.254.169.254"],
    "ten.example.org": ["10.1.2.3"],
    "rfc1918-172.example.org": ["172.20.0.5"],
    "rfc1918-192.example.org": ["192.168.1.10"],
    "cgnat.example.org": ["100.100.100.200"],
    "zero.example.org": ["0.0.0.0"],
    "ula.example.org": ["fd00:ec2::254"],
    "linklocal6.example.org": ["fe80::1"],
    "mapped.example.org": ["::ffff:10.0.0.1"],
    "nat64.example.org": ["64:ff9b::a9fe:a9fe"],
    "mixed.example.org": ["140.82.121.4", "10.0.0.7"],
    "github.com": ["140.82.121.4", "2606:50c0:8000::154"],
    "git.lab.internal-corp.org": ["10.20.0.5"],
}


async def fake_resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    await asyncio.sleep(0)
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [ipaddress.ip_address(a) for a in FAKE_DNS[host]]


INTERNAL_NAMES = [name for name in FAKE_DNS if name not in ("github.com",)]


@pytest.mark.parametrize("host", [n for n in INTERNAL_NAMES if "internal-corp" not in n])
async def test_names_resolving_inside_the_network_are_refused(host: str) -> None:
    with pytest.raises(HostRefused) as err:
        await check_repo_host(f"https://{host}/owner/repo", resolve=fake_resolve)
    assert f"the repository host {host} resolves to " in str(err.value)
    assert "policy.allowed_internal_hosts" in str(err.value)


async def test_public_names_pass() -> None:
    await check_repo_host("https://github.com/binder-examples/requirements", resolve=fake_resolve)


@pytest.mark.parametrize(
    "allowed",
    [
        pytest.param(("git.lab.internal-corp.org",), id="name"),
        pytest.param(("*.lab.internal-corp.org",), id="pattern"),
        pytest.param(("10.20.0.0/16",), id="cidr"),
    ],
)
async def test_allowed_internal_forge_passes(allowed: tuple[str, ...]) -> None:
    repo = "https://git.lab.internal-corp.org/team/repo"
    with pytest.raises(HostRefused):
        await check_repo_host(repo, resolve=fake_resolve)
    await check_repo_host(repo, allowed, resolve=fake_resolve)


async def test_unresolvable_host_is_unreachable_not_allowed() -> None:
    with pytest.raises(RepoUnreachable, match=r"cannot resolve nowhere\.example\.org"):
        await check_repo_host("https://nowhere.example.org/x", resolve=fake_resolve)


async def test_a_resolver_that_hangs_is_unreachable() -> None:
    async def hang(host: str) -> list:
        await asyncio.sleep(10)
        return []

    with pytest.raises(RepoUnreachable, match=r"no answer within 0\.05 s"):
        await check_repo_host("https://slow.example.org/x", timeout=0.05, resolve=hang)


async def test_builder_checks_the_host_before_cloning_a_full_commit() -> None:
    # A full commit skips ls-remote, so the clone is the first connection: checked there too.
    repo = "https://0x7f000001/owner/repo"
    builder = ImageBuilder(ImagesConfig())
    with pytest.raises(BuildFailed, match=r"0x7f000001 resolves to 127\.0\.0\.1"):
        await builder._repo2docker(repo, C1, image_name(repo, C1, "test", {}), EventLog())


# --- the pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "host"),
    [
        pytest.param("https://GitHub.com/a/b", "github.com", id="case"),
        pytest.param("https://github.com./a/b", "github.com", id="trailing-dot"),
        pytest.param("https://u:p@host.org:8443/a", "host.org", id="userinfo-port"),
        pytest.param("https://[::1]:8443/a", "::1", id="ipv6"),
        pytest.param("git@gitlab.com:group/repo.git", "gitlab.com", id="scp-like"),
        pytest.param("ssh://git@[fd00::1]:22/x", "fd00::1", id="ssh-ipv6"),
        pytest.param("/srv/git/repo", "", id="local-path"),
        pytest.param("https://[::1/x", "", id="broken-brackets"),
    ],
)
def test_repo_host(repo: str, host: str) -> None:
    assert repo_host(repo) == host


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("172.32.0.1", False),
        ("100.128.0.1", False),
        ("127.255.255.254", True),
        ("169.254.169.254", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::7f00:1", True),
        ("fc00::1", True),
        ("fe80::1%1", True),
        ("::", True),
    ],
)
def test_is_internal(address: str, internal: bool) -> None:
    assert is_internal(ipaddress.ip_address(address)) is internal


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("gitlab.lab.local", "gitlab.lab.local", True),
        ("*.lab.local", "gitlab.lab.local", True),
        ("*.lab.local", "a.b.lab.local", False),  # * stays within one label, as in OPA
        ("**.lab.local", "a.b.lab.local", True),
        ("git?.lab", "git1.lab", True),
        ("git?.lab", "git.lab", False),
        ("{git,hg}.lab", "hg.lab", True),
        ("[gh]it.lab", "hit.lab", True),
        ("[!gh]it.lab", "hit.lab", False),
        ("GitLab.Lab", "gitlab.lab", True),
        ("10.0.0.0/8", "10.0.0.0", False),  # a range is not a name
    ],
)
def test_host_patterns_match_as_the_policy_does(pattern: str, host: str, matches: bool) -> None:
    assert host_allowed(host, [pattern]) is matches


def test_address_allowed_by_ranges_and_addresses() -> None:
    ip = ipaddress.ip_address
    assert address_allowed(ip("10.20.3.4"), ["gitlab.lab", "10.20.0.0/16"])
    assert address_allowed(ip("::ffff:10.20.3.4"), ["10.20.0.0/16"])
    assert address_allowed(ip("::1"), ["[::1]"])
    assert not address_allowed(ip("10.21.0.1"), ["10.20.0.0/16", "*.lab"])


def test_site_allowed_internal_hosts_reach_the_builder_config() -> None:
    site = site_from_mapping({"policy": {"allowed_internal_hosts": ["127.0.0.1", "gitlab.lab"]}})
    assert site.images_config().allowed_internal_hosts == ("127.0.0.1", "gitlab.lab")
    assert site_from_mapping({}).images_config().allowed_internal_hosts == ()
