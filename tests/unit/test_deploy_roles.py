"""The Ansible roles follow the project's style (geerlingguy's): every variable prefixed with
the role name, declared in defaults/main.yml and in meta/argument_specs.yml; every task named
as a sentence; fully qualified module names; config tasks notify handlers that exist."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playbook_filters import playbook_filters

ROOT = Path(__file__).resolve().parents[2] / "playbooks"
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
KEYWORDS = {
    "name", "when", "loop", "loop_control", "register", "notify", "tags", "become", "vars",
    "delegate_to", "run_once", "changed_when", "failed_when", "check_mode", "environment",
    "no_log", "until", "retries", "delay", "block", "rescue", "always", "ignore_errors",
    "listen", "args", "diff",
}  # fmt: skip


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) or []


def _tasks(role: str, folder: str = "tasks"):
    for file in sorted((ROOT / "roles" / role / folder).glob("*.yml")):
        stack = list(_yaml(file))
        while stack:
            task = stack.pop(0)
            yield file, task
            for key in ("block", "rescue", "always"):
                stack.extend(task.get(key, []))


def test_expected_roles_exist() -> None:
    assert ROLES == ["builder", "docker", "hub", "opa", "registry", "site", "storage"]


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_prefixed_and_declared(role: str) -> None:
    defaults = _yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    specs = _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    declared = set(specs["main"]["options"])
    assert all(name.startswith(f"{role}_") for name in defaults), sorted(defaults)
    assert set(defaults) == declared
    for name, spec in specs["main"]["options"].items():
        assert spec.get("description"), f"{name} has no description"


@pytest.mark.parametrize("role", ROLES)
def test_tasks_are_sentences_with_fully_qualified_modules(role: str) -> None:
    handlers = (
        {h["name"] for _, h in _tasks(role, "handlers")}
        if (ROOT / "roles" / role / "handlers").exists()
        else set()
    )
    for file, task in _tasks(role):
        name = task.get("name", "")
        assert name and name[0].isupper() and not name.endswith("."), f"{file.name}: {name!r}"
        modules = [k for k in task if k not in KEYWORDS]
        if "block" not in task:
            assert len(modules) == 1, f"{file.name}: {name}: {modules}"
            assert modules[0].count(".") >= 2, f"{file.name}: {name}: {modules[0]}"
        for handler in (
            [task["notify"]] if isinstance(task.get("notify"), str) else task.get("notify", [])
        ):
            assert handler in handlers, f"{file.name}: {name}: unknown handler {handler!r}"


@pytest.mark.parametrize("role", ROLES)
def test_templates_say_they_are_managed(role: str) -> None:
    for template in (ROOT / "roles" / role / "templates").glob("*.j2"):
        assert "ansible_managed" in template.read_text(), template.name


def test_site_playbook_plays_every_role_and_checks_first() -> None:
    plays = _yaml(ROOT / "site.yml")
    assert plays[0]["name"] == "Check the inventory before touching any host"
    assert plays[0]["any_errors_fatal"] is True and plays[0]["gather_facts"] is False
    used = {r["role"] for play in plays for r in play.get("roles", [])}
    assert used == set(ROLES) - {"site"}


SITE = {"hub": {"admin_users": ["admin"], "auth": {"kind": "demo", "users": ["alice"]}}}


def test_offline_firewall_filter_is_the_hubs_own_rules_and_networks() -> None:
    """Golden: what the hub role installs comes from versahub/hub/network.py."""
    firewall = playbook_filters().FilterModule().filters()["versahub_offline_firewall"]
    assert firewall(SITE) == {
        "chain": "VERSAHUB-OFFLINE",
        "bridge": "vh-offline",
        "hub_ip": "172.17.0.1",
        "hub_port": 8081,
        "restore": (
            "*filter\n"
            ":VERSAHUB-OFFLINE - [0:0]\n"
            "-A VERSAHUB-OFFLINE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
            "-A VERSAHUB-OFFLINE -p tcp -d 172.17.0.1 --dport 8081 -j ACCEPT\n"
            "-A VERSAHUB-OFFLINE -j DROP\n"
            "COMMIT\n"
        ),
        "jump": ["INPUT", "-i", "vh-offline", "-j", "VERSAHUB-OFFLINE"],
        "socket": "/run/versahub-firewall-rules.sock",
        "networks": [
            {
                "name": "versahub-internet",
                "internal": False,
                "create": [
                    "network", "create", "--driver", "bridge",
                    "--opt", "com.docker.network.bridge.enable_icc=false",
                    "--opt", "com.docker.network.bridge.name=vh-internet",
                    "--label", "org.versahub.network=internet", "versahub-internet",
                ],
            },
            {
                "name": "versahub-offline",
                "internal": True,
                "create": [
                    "network", "create", "--driver", "bridge", "--internal",
                    "--opt", "com.docker.network.bridge.enable_icc=false",
                    "--opt", "com.docker.network.bridge.name=vh-offline",
                    "--label", "org.versahub.network=offline", "versahub-offline",
                ],
            },
        ],
    }  # fmt: skip
    moved = firewall({**SITE, "hub": {**SITE["hub"], "internal_ip": "10.9.0.1",
                                      "internal_port": 9081}})  # fmt: skip
    assert "-A VERSAHUB-OFFLINE -p tcp -d 10.9.0.1 --dport 9081 -j ACCEPT\n" in moved["restore"]


def test_offline_firewall_units_start_before_docker_and_the_hub() -> None:
    templates = ROOT / "roles" / "hub" / "templates"
    firewall = (templates / "versahub-offline-firewall.service.j2").read_text()
    assert "Before=network-pre.target docker.service jupyterhub.service" in firewall
    assert "iptables-restore --wait --noflush" in firewall
    assert "WantedBy=multi-user.target" in firewall
    hub = (templates / "jupyterhub.service.j2").read_text()
    assert "versahub-offline-firewall.service" in hub and "versahub-firewall-rules.socket" in hub
    socket_unit = (templates / "versahub-firewall-rules.socket.j2").read_text()
    assert "SocketGroup={{ hub_group }}" in socket_unit and "SocketMode=0660" in socket_unit
    reader = (templates / "versahub-firewall-rules@.service.j2").read_text()
    assert "ExecStart=/usr/sbin/iptables --wait -S\n" in reader
