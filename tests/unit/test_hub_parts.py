"""Pure parts of spawning: launch requests, refusals, differences, culling, firewall rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from dockerspawner import DockerSpawner

from versahub.errors import InputError
from versahub.hub.config import CULLER_SCOPES, hub_extra_settings
from versahub.hub.credentials import DEFAULT_SCOPES, credentials_document
from versahub.hub.culling import due, limits_of
from versahub.hub.docker import docker_traits
from versahub.hub.network import CHAIN, network_specs, offline_firewall_rules
from versahub.launch.plan import Layout, Limits, make_plan
from versahub.launch.request import LaunchRequest, spec_differences, split_request
from versahub.launch.service import Verdict
from versahub.policy import Decision, Finding, confirmation_hash, unavailable
from versahub.site import site_from_mapping
from versahub.spec import parse_spec

REPO = "https://github.com/binder-examples/requirements"
WARN = Finding("resources-large", "low", "Large", "You asked for a lot.", "Ask less.")
DENY = Finding("resources-over-cap", "medium", "Over", "Too much.", "Lower it.")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {"spec": {"repo": REPO}, "confirmation": "abc"},
            ({"repo": REPO}, "abc", {"external": False, "referrer": None}),
            id="wrapped",
        ),
        pytest.param(
            {"repo": REPO, "confirmation": "c"},
            ({"repo": REPO}, "c", {"external": False, "referrer": None}),
            id="bare",
        ),
        pytest.param(
            {"url": "https://mybinder.org/v2/gh/a/b/HEAD"},
            ("https://mybinder.org/v2/gh/a/b/HEAD", None, {"external": False, "referrer": None}),
            id="url",
        ),
        pytest.param(
            {"spec": {"repo": REPO}, "origin": {"external": True}},
            ({"repo": REPO}, None, {"external": True, "referrer": None}),
            id="origin",
        ),
    ],
)
def test_split_request(options: dict[str, Any], expected: tuple) -> None:
    assert split_request(options) == expected


@pytest.mark.parametrize(
    ("options", "field"),
    [
        pytest.param({"spec": {"repo": REPO}, "image": "evil"}, "image", id="unknown-key"),
        pytest.param({"spec": [1]}, "spec", id="spec-not-mapping"),
        pytest.param({"spec": {}, "confirmation": 5}, "confirmation", id="bad-confirmation"),
        pytest.param({"spec": {"repo": REPO}, "url": "https://x"}, "url", id="spec-and-url"),
        pytest.param({"url": 5}, "url", id="url-not-text"),
        pytest.param({"spec": {"repo": REPO}, "origin": "x"}, "origin", id="origin-not-mapping"),
        pytest.param({}, "spec", id="empty"),
    ],
)
def test_split_request_rejects(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        split_request(options)
    assert err.value.field == field


def refusal(decision: Decision, spec: Any, confirmation: str | None) -> Any:
    return Verdict(LaunchRequest(spec, confirmation), decision).refusal()


def test_refusal_denied_names_every_finding() -> None:
    spec = parse_spec({"repo": REPO})
    refused = refusal(Decision(False, (DENY,)), spec, None)
    assert refused is not None and refused.status == 403 and refused.kind == "denied"
    assert "[resources-over-cap] Too much." in refused.message


def test_refusal_policy_engine_unavailable_is_503() -> None:
    spec = parse_spec({"repo": REPO})
    refused = refusal(unavailable("OPA did not answer"), spec, None)
    assert refused is not None and refused.status == 503 and refused.kind == "unavailable"
    assert "Policy engine unavailable" in refused.message


def test_refusal_warnings_need_exact_confirmation() -> None:
    spec = parse_spec({"repo": REPO})
    other = parse_spec({"repo": REPO, "internet": False})
    decision = Decision(True, (), (WARN,))
    missing = refusal(decision, spec, None)
    assert missing is not None and missing.status == 409
    assert "is missing" in missing.message
    assert "resources-large" in missing.message
    wrong = refusal(decision, spec, confirmation_hash(other.spec_id, ["resources-large"]))
    assert wrong is not None and "does not match" in wrong.message
    assert refusal(decision, spec, confirmation_hash(spec.spec_id, ["resources-large"])) is None
    assert refusal(Decision(True), spec, None) is None


def test_spec_differences() -> None:
    old = parse_spec({"repo": REPO, "server_name": "a"}).config_dict()
    new = parse_spec({"repo": REPO, "server_name": "a", "ref": "main", "internet": False})
    assert spec_differences(old, new.config_dict()) == [
        {"field": "ref", "old": "HEAD", "new": "main"},
        {"field": "internet", "old": True, "new": False},
    ]
    assert spec_differences(old, old) == []


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _server(started_ago: float, idle_for: float, **kw: Any) -> dict[str, Any]:
    return {
        "ready": True,
        "pending": None,
        "started": (NOW - timedelta(seconds=started_ago)).isoformat(),
        "last_activity": (NOW - timedelta(seconds=idle_for)).isoformat(),
        **kw,
    }


@pytest.mark.parametrize(
    ("server", "limits", "reason"),
    [
        pytest.param(_server(100, 10), Limits(None, None, 3600, 60), None, id="busy"),
        pytest.param(_server(100, 61), Limits(None, None, 3600, 60), "idle_timeout", id="idle"),
        pytest.param(_server(4000, 1), Limits(None, None, 3600, 60), "max_duration", id="too-old"),
        pytest.param(
            _server(4000, 4000, pending="spawn"), Limits(None, None, 1, 1), None, id="pending"
        ),
        pytest.param(_server(10**6, 10**6), Limits(None, None, None, None), None, id="no-limits"),
    ],
)
def test_culling_due(server: dict, limits: Limits, reason: str | None) -> None:
    got = due(server, limits, NOW)
    assert (got or "").startswith(reason or "") and (got is None) == (reason is None)


def test_offline_firewall_rules_allow_only_the_hub() -> None:
    rules = offline_firewall_rules("vh-offline", "172.17.0.1", 8081)
    assert rules == [
        ["-N", CHAIN],
        ["-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-A", CHAIN, "-p", "tcp", "-d", "172.17.0.1", "--dport", "8081", "-j", "ACCEPT"],
        ["-A", CHAIN, "-j", "DROP"],
        ["-I", "INPUT", "-i", "vh-offline", "-j", CHAIN],
    ]
    online, offline = network_specs("a", "b")
    assert (online.internal, offline.internal) == (False, True)
    assert offline.create_kwargs()["options"]["com.docker.network.bridge.enable_icc"] == "false"


def test_docker_traits_are_valid_dockerspawner_values() -> None:
    site = site_from_mapping({})
    spec = parse_spec({"repo": REPO, "server_name": "x", "resources": {"memory": "1G", "cpu": 0.5}})
    plan = make_plan(
        spec, site, Decision(True), owner="alice", image="img:1", layout=Layout(state_dir="/s")
    )
    spawner = DockerSpawner(user=SimpleNamespace(name="alice"), name="x")
    traits = docker_traits(plan)
    traits.pop("environment")
    for name, value in traits.items():
        setattr(spawner, name, value)  # traitlets validate every value
    assert spawner.mem_limit == 1024**3
    assert spawner.cpu_limit == 0.5
    assert spawner.volume_binds == {"/s/volumes/home/alice": {"bind": "/home/jovyan", "mode": "rw"}}


def test_credentials_document_keeps_only_tokens() -> None:
    doc = credentials_document(
        hub_token="t",
        hub_api_url="http://172.17.0.1:8081/hub/api",
        scopes=DEFAULT_SCOPES,
        auth_state={"access_token": "a", "password": "never", "id_token": ""},
    )
    assert doc["auth_state"] == {"access_token": "a"}
    assert doc["hub"]["scopes"] == sorted(DEFAULT_SCOPES)


def test_hub_extra_settings() -> None:
    class Paths:
        pass

    site = site_from_mapping({})
    settings = hub_extra_settings(site, Paths(), python="/py")
    hub = settings["JupyterHub"]
    assert hub["hub_bind_url"] == "http://172.17.0.1:8081"
    assert hub["spawner_class"] == "versahub.hub.spawner.VersaHubDockerSpawner"
    assert hub["allow_named_servers"] is True
    assert hub["extra_handlers"][0][0] == "/api/versahub/launch"
    culler = next(r for r in hub["load_roles"] if r["name"] == "versahub-culler")
    assert culler["scopes"] == CULLER_SCOPES
    assert hub["services"][0]["command"][:3] == ["/py", "-m", "versahub.hub.culling"]


_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("user", "stale"),
    [
        pytest.param(
            {"name": "guest-1a2b", "created": "2026-11-26T11:50:00Z"}, True, id="old-guest"
        ),
        pytest.param(
            {"name": "guest-1a2b", "created": "2026-11-26T11:59:58Z"}, False, id="new-guest"
        ),
        pytest.param(
            {
                "name": "guest-1a2b",
                "last_activity": "2026-11-26T11:59:59Z",
                "created": "2026-11-26T10:00:00Z",
            },
            False,
            id="recently-active-guest",
        ),
        pytest.param(
            {
                "name": "guest-1a2b",
                "created": "2026-11-26T10:00:00Z",
                "servers": {"public": {"pending": "spawn"}},
            },
            False,
            id="guest-with-pending-copy",
        ),
        pytest.param({"name": "alice", "created": "2026-11-26T10:00:00Z"}, False, id="not-a-guest"),
        pytest.param({"name": "guest-1a2b"}, False, id="no-times-known"),
    ],
)
def test_stale_guest(user: dict, stale: bool) -> None:
    from versahub.hub.culling import stale_guest

    assert stale_guest(user, _NOW, grace=60) is stale


@pytest.mark.parametrize(
    ("options", "idle"),
    [
        pytest.param(
            {"spec": {"repo": REPO, "resources": {"idle_timeout": "10m"}}}, 600, id="stored-spec"
        ),
        pytest.param(
            {"public_copy_of": {"owner": "a", "server": "b"}},
            4 * 3600,
            id="public-copy-site-default",
        ),
        pytest.param({"spec": {"repo": "ext::sh"}}, 4 * 3600, id="unparsable-site-default"),
        pytest.param(None, 4 * 3600, id="nothing-stored"),
    ],
)
def test_culler_limits_come_from_the_stored_request(options: Any, idle: int) -> None:
    assert limits_of(options, site_from_mapping({})).idle_timeout_seconds == idle


# -- the offline firewall: restore document, networks, the check ---------------------------
def test_offline_firewall_restore_document_and_jump() -> None:
    from versahub.hub.network import offline_firewall_jump, offline_firewall_restore

    assert offline_firewall_restore("vh-offline", "172.17.0.1", 8081) == (
        "*filter\n"
        ":VERSAHUB-OFFLINE - [0:0]\n"
        "-A VERSAHUB-OFFLINE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
        "-A VERSAHUB-OFFLINE -p tcp -d 172.17.0.1 --dport 8081 -j ACCEPT\n"
        "-A VERSAHUB-OFFLINE -j DROP\n"
        "COMMIT\n"
    )
    assert offline_firewall_jump("vh-offline") == ["INPUT", "-i", "vh-offline", "-j", CHAIN]


def test_docker_network_create_argv_has_the_sdk_options() -> None:
    from versahub.hub.network import INTERNET_NETWORK, OFFLINE_NETWORK

    online, offline = network_specs(INTERNET_NETWORK, OFFLINE_NETWORK)
    assert offline.create_argv() == [
        "network", "create", "--driver", "bridge", "--internal",
        "--opt", "com.docker.network.bridge.enable_icc=false",
        "--opt", "com.docker.network.bridge.name=vh-offline",
        "--label", "org.versahub.network=offline", "versahub-offline",
    ]  # fmt: skip
    assert "--internal" not in online.create_argv()
    assert online.create_argv()[-1] == "versahub-internet"


def test_network_names_are_the_spawner_defaults() -> None:
    from versahub.hub.network import INTERNET_NETWORK, OFFLINE_NETWORK
    from versahub.hub.spawner import VersaHubDockerSpawner

    spawner = VersaHubDockerSpawner()
    assert (spawner.internet_network, spawner.offline_network) == (
        INTERNET_NETWORK,
        OFFLINE_NETWORK,
    )


# What `iptables -S` (iptables-nft 1.8.9) lists once the rules are installed, with Docker's.
LISTED = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-N VERSAHUB-OFFLINE
-A INPUT -i vh-offline -j VERSAHUB-OFFLINE
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -j RETURN
-A VERSAHUB-OFFLINE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A VERSAHUB-OFFLINE -d 172.17.0.1/32 -p tcp -m tcp --dport 8081 -j ACCEPT
-A VERSAHUB-OFFLINE -j DROP
"""
HUB_RULE = "-A VERSAHUB-OFFLINE -d 172.17.0.1/32 -p tcp -m tcp --dport 8081 -j ACCEPT\n"
JUMP = "-A INPUT -i vh-offline -j VERSAHUB-OFFLINE\n"
DROP = "-A VERSAHUB-OFFLINE -j DROP\n"


@pytest.mark.parametrize(
    ("listing", "problems"),
    [
        pytest.param(LISTED, [], id="installed"),
        pytest.param(
            LISTED.replace(HUB_RULE, HUB_RULE.replace("8081", "9081") + HUB_RULE),
            [],
            id="another-hub-port-too",
        ),
        pytest.param(
            LISTED.replace(
                JUMP,
                "-A INPUT -i lo -j ACCEPT\n-A INPUT -i docker0 -j ACCEPT\n"
                "-A INPUT -i vh-internet+ -j ACCEPT\n"
                "-A INPUT -j f2b-sshd\n" + JUMP,
            ),
            [],
            id="accepts-of-other-interfaces-ahead",
        ),
        pytest.param(
            "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n",
            [
                "there is no VERSAHUB-OFFLINE chain",
                "INPUT lacks `-A INPUT -i vh-offline -j VERSAHUB-OFFLINE`",
            ],
            id="nothing-installed",
        ),
        pytest.param(
            LISTED.replace(JUMP, ""),
            ["INPUT lacks `-A INPUT -i vh-offline -j VERSAHUB-OFFLINE`"],
            id="jump-removed",
        ),
        pytest.param(
            "".join(x for x in LISTED.splitlines(True) if not x.startswith("-A VERSAHUB")),
            [
                "VERSAHUB-OFFLINE lacks `-A VERSAHUB-OFFLINE -m conntrack --ctstate "
                "ESTABLISHED,RELATED -j ACCEPT`",
                "VERSAHUB-OFFLINE lacks `-A VERSAHUB-OFFLINE -p tcp -d 172.17.0.1 --dport 8081 "
                "-j ACCEPT`",
                "VERSAHUB-OFFLINE lacks `-A VERSAHUB-OFFLINE -j DROP`",
            ],
            id="chain-flushed",
        ),
        pytest.param(
            LISTED.replace(HUB_RULE, HUB_RULE.replace("172.17.0.1", "172.18.0.1")),
            [
                "VERSAHUB-OFFLINE lacks `-A VERSAHUB-OFFLINE -p tcp -d 172.17.0.1 --dport 8081 "
                "-j ACCEPT`"
            ],
            id="other-hub-only",
        ),
        pytest.param(
            LISTED.replace(DROP, ""),
            ["VERSAHUB-OFFLINE lacks `-A VERSAHUB-OFFLINE -j DROP`"],
            id="no-final-drop",
        ),
        pytest.param(
            LISTED + "-A VERSAHUB-OFFLINE -p tcp -d 172.17.0.1/32 --dport 5000 -j ACCEPT\n",
            ["rules follow the final `-A VERSAHUB-OFFLINE -j DROP` of VERSAHUB-OFFLINE"],
            id="rule-after-drop",
        ),
        pytest.param(
            LISTED.replace(DROP, "-A VERSAHUB-OFFLINE -j ACCEPT\n" + DROP),
            ["VERSAHUB-OFFLINE has an unexpected rule `-A VERSAHUB-OFFLINE -j ACCEPT`"],
            id="accept-all-in-chain",
        ),
        pytest.param(
            LISTED.replace(
                DROP, "-A VERSAHUB-OFFLINE -p udp -d 172.17.0.1/32 --dport 53 -j ACCEPT\n" + DROP
            ),
            [
                "VERSAHUB-OFFLINE has an unexpected rule `-A VERSAHUB-OFFLINE -p udp -d "
                "172.17.0.1/32 --dport 53 -j ACCEPT`"
            ],
            id="udp-accept-in-chain",
        ),
        pytest.param(
            LISTED.replace(JUMP, "-A INPUT -j ACCEPT\n" + JUMP),
            [
                "`-A INPUT -j ACCEPT` accepts the packets of vh-offline ahead of the jump to "
                "VERSAHUB-OFFLINE"
            ],
            id="accept-all-ahead-of-jump",
        ),
        pytest.param(
            LISTED.replace(
                JUMP, "-A INPUT -i vh+ -p tcp -j ACCEPT\n-A INPUT ! -i lo -j ACCEPT\n" + JUMP
            ),
            [
                "`-A INPUT -i vh+ -p tcp -j ACCEPT` accepts the packets of vh-offline ahead of "
                "the jump to VERSAHUB-OFFLINE",
                "`-A INPUT ! -i lo -j ACCEPT` accepts the packets of vh-offline ahead of the "
                "jump to VERSAHUB-OFFLINE",
            ],
            id="wildcard-and-negated-accepts-ahead",
        ),
        pytest.param(
            "",
            ["the listing of the filter table has no INPUT chain: it could not be read"],
            id="empty-listing",
        ),
    ],
)
def test_offline_firewall_problems(listing: str, problems: list[str]) -> None:
    from versahub.hub.network import offline_firewall_problems

    assert offline_firewall_problems(listing, "vh-offline", "172.17.0.1", 8081) == problems


def test_the_rules_asked_for_are_found_as_iptables_lists_them() -> None:
    """offline_firewall_rules' own lists, printed as given, satisfy the check too."""
    import shlex

    from versahub.hub.network import offline_firewall_problems

    rules = offline_firewall_rules("vh-offline", "10.0.0.1", 8081)
    listing = "-P INPUT ACCEPT\n" + "".join(
        shlex.join(r if r[0] != "-I" else ["-A", *r[1:]]) + "\n" for r in rules
    )
    assert offline_firewall_problems(listing, "vh-offline", "10.0.0.1", 8081) == []


def _serve_once(path: str, answer: bytes) -> Any:
    """A Unix socket that answers one connection with ``answer`` and closes, as systemd's
    ``Accept=yes`` socket does with ``iptables -S``'s output."""
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(answer)
        conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_check_reads_the_rules_through_the_socket(tmp_path: Any, monkeypatch: Any) -> None:
    from versahub.hub import network

    monkeypatch.setattr(network.shutil, "which", lambda name: None)  # no iptables at all
    path = str(tmp_path / "rules.sock")
    thread = _serve_once(path, LISTED.encode())
    assert network.offline_firewall_problem("vh-offline", "172.17.0.1", 8081,
                                            socket_path=path) is None  # fmt: skip
    thread.join(5)
    _serve_once(path_2 := str(tmp_path / "rules2.sock"), LISTED.replace(JUMP, "").encode())
    problem = network.offline_firewall_problem("vh-offline", "172.17.0.1", 8081, socket_path=path_2)
    assert problem == (
        "Internet off cannot be enforced on this host: the offline firewall rules are missing "
        "or bypassed (INPUT lacks `-A INPUT -i vh-offline -j VERSAHUB-OFFLINE`). Nothing was "
        "started: without these rules the server could reach services on the host. An "
        "administrator restores them with `systemctl restart versahub-offline-firewall` (a "
        "site deployed with `versahub deploy`) or by starting the hub as root (`versahub up`)."
    )


def test_rules_that_cannot_be_read_refuse_too(tmp_path: Any, monkeypatch: Any) -> None:
    from versahub.hub import network

    monkeypatch.setattr(network.shutil, "which", lambda name: None)
    path = str(tmp_path / "rules.sock")
    _serve_once(path, b"")  # the reader failed: an empty answer
    problem = network.offline_firewall_problem("vh-offline", "172.17.0.1", 8081, socket_path=path)
    assert problem is not None and problem.startswith(
        "Internet off cannot be enforced on this host: the offline firewall rules cannot be "
        f"checked ({path}: empty answer (see journalctl -u 'versahub-firewall-rules@*'); "
        "iptables is not installed). Nothing was started"
    )
    missing = str(tmp_path / "none.sock")  # no socket and no iptables
    problem = network.offline_firewall_problem("vh-offline", "172.17.0.1", 8081, repair=True,
                                               socket_path=missing)  # fmt: skip
    assert problem is not None and "cannot be checked (iptables is not installed)" in problem


def test_unprivileged_iptables_is_reported(tmp_path: Any, monkeypatch: Any) -> None:
    import subprocess

    from versahub.hub import network

    denied = subprocess.CompletedProcess(
        ["iptables"], 4, "", "iptables v1.8.9 (nf_tables): Could not fetch rule set generation "
        "id: Permission denied (you must be root)\n",
    )  # fmt: skip
    monkeypatch.setattr(network.shutil, "which", lambda name: "/usr/sbin/iptables")
    monkeypatch.setattr(network, "_iptables", lambda args, timeout=None: denied)
    with pytest.raises(network.FirewallUnreadable, match=r"iptables -S: .*you must be root"):
        network.read_filter_rules(str(tmp_path / "none.sock"))


def test_check_command_prints_ok_or_the_refusal(capsys: Any, monkeypatch: Any) -> None:
    from versahub.hub import network

    monkeypatch.setattr(network, "read_filter_rules", lambda path=None, timeout=5.0: LISTED)
    assert network.main(["vh-offline", "172.17.0.1", "8081"]) == 0
    assert capsys.readouterr().out == "ok\n"
    assert network.main(["vh-offline", "172.17.0.1", "9999"]) == 1
    assert capsys.readouterr().out.startswith("Internet off cannot be enforced on this host")
    assert network.main(["vh-offline"]) == 2
