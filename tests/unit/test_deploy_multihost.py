"""A multi-host site without Kubernetes (issue 16), checked without hosts: the controller-side
filters that turn the inventory into firewall rules and ``images.builders``; the roles'
templates (Docker over TLS on remote builders, the three firewalls, the registry's read-only
pull endpoint, the storage marker); the example inventory; and the site.yaml the hub role
renders, computed by Ansible itself on the controller from the real role defaults and tasks
for the example inventory and the single-host one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playbook_filters import playbook_filters

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "playbooks"
ROLES = ROOT / "roles"
EXAMPLE = REPO / "inventories" / "example"


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) or []


def _task(role: str, file: str, name: str) -> dict:
    for task in _yaml(ROLES / role / "tasks" / file):
        if task.get("name") == name:
            return task
        for inner in task.get("block", []):
            if inner.get("name") == name:
                return inner
    raise AssertionError(f"{role}/tasks/{file}: no task {name!r}")


# --- controller-side filters ------------------------------------------------------------


HOSTVARS = {
    "hub1": {"ansible_host": "192.0.2.10"},
    "build1": {"ansible_host": "build1.example.org",
               "ansible_facts": {"default_ipv4": {"address": "192.0.2.11"}}},
    "build2": {"ansible_host": "192.0.2.12",
               "ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}}},
    "ghost": {"ansible_host": "ghost.example.org"},
}  # fmt: skip


def test_host_addresses_come_from_ansible_host_and_facts_never_from_names() -> None:
    addresses = playbook_filters().versahub_host_addresses
    assert addresses(["hub1"], HOSTVARS) == ["192.0.2.10"]
    assert addresses(["build1"], HOSTVARS) == ["192.0.2.11"]  # a DNS name is not used
    assert addresses(["build2", "hub1"], HOSTVARS) == ["10.0.0.12", "192.0.2.10", "192.0.2.12"]
    assert addresses([], HOSTVARS) == []


def test_a_host_without_a_known_address_fails_the_run() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="no IPv4 address known for ghost"):
        playbook_filters().versahub_host_addresses(["hub1", "ghost"], HOSTVARS)


def test_builder_endpoints_are_images_builders_of_site_yaml() -> None:
    endpoints = playbook_filters().versahub_builder_endpoints
    hostvars = {
        "build1": {"ansible_host": "192.0.2.11"},
        "build2": {},
        "build3": {"ansible_host": "2001:db8::3", "docker_tls_port": 12376},
    }
    assert endpoints(["build1", "build2", "build3"], hostvars, "/etc/versahub/builders") == [
        {"name": "build1", "docker_host": "tcp://192.0.2.11:2376",
         "tls_dir": "/etc/versahub/builders"},
        {"name": "build2", "docker_host": "tcp://build2:2376",
         "tls_dir": "/etc/versahub/builders"},
        {"name": "build3", "docker_host": "tcp://[2001:db8::3]:12376",
         "tls_dir": "/etc/versahub/builders"},
    ]  # fmt: skip
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="lower-case"):
        endpoints(["Build_1"], {"Build_1": {}}, "/x")


# --- the roles' files -------------------------------------------------------------------


def test_the_builder_ca_is_made_once_on_the_first_hub_host_by_the_site_play() -> None:
    plays = _yaml(ROOT / "site.yml")
    check = next(p for p in plays if p["name"].startswith("Check every host"))
    assert [t["ansible.builtin.import_role"]["tasks_from"] for t in check["tasks"]] == [
        "preflight", "certificates", "builder_ca",
    ]  # fmt: skip
    block = _yaml(ROLES / "site" / "tasks" / "builder_ca.yml")[0]
    assert block["delegate_to"] == "{{ site_builder_ca_host }}" and block["run_once"] is True
    assert block["when"] == "site_remote_builders | length > 0"
    key = next(t for t in block["block"] if "community.crypto.openssl_privatekey" in t)
    assert key["community.crypto.openssl_privatekey"]["mode"] == "0600"
    assert key["community.crypto.openssl_privatekey"]["path"].endswith("/ca.key")
    defaults = _yaml(ROLES / "site" / "defaults" / "main.yml")
    assert defaults["site_builder_ca_dir"] == "/etc/versahub/builder-ca"


def test_the_hub_hosts_get_the_build_client_and_remote_builders_only_tls() -> None:
    plays = _yaml(ROOT / "site.yml")
    builder = next(p for p in plays if any(r["role"] == "builder" for r in p.get("roles", [])))
    assert set(builder["hosts"].split(":")) == {"hub", "builders"}
    main = _yaml(ROLES / "builder" / "tasks" / "main.yml")
    whens = {t["name"]: t.get("when") for t in main}
    assert whens["Install repo2docker, the hub's build client"] == "not builder_remote | bool"
    assert whens["Serve Docker's API over TLS with the builder CA's certificates"] == (
        "builder_remote | bool"
    )
    assert whens["Let only the hub hosts reach Docker's TLS port"] == "builder_remote | bool"
    # the firewall is installed before dockerd is told to listen on TCP
    names = [t["name"] for t in main]
    assert names.index("Let only the hub hosts reach Docker's TLS port") < names.index(
        "Serve Docker's API over TLS with the builder CA's certificates"
    )


def test_builder_keys_stay_on_their_hosts_and_certificates_are_signed_on_the_ca_host() -> None:
    for role, file, sign in (
        ("builder", "tls.yml", "Sign the builder's certificate with the builder CA"),
        ("hub", "builders.yml", "Sign the hub's client certificate with the builder CA"),
    ):  # fmt: skip
        task = _task(role, file, sign + " (on the first hub host)")
        assert task["delegate_to"] in ("{{ builder_ca_host }}", "{{ hub_builder_ca_host }}")
        args = task["community.crypto.x509_certificate_pipe"]
        assert args["provider"] == "ownca" and "content" in args  # idempotent: compared first
        tasks = _yaml(ROLES / role / "tasks" / file)
        keys = [t for t in tasks if "community.crypto.openssl_privatekey" in t]
        assert len(keys) == 1 and "delegate_to" not in keys[0]
        csr = next(t for t in tasks if "community.crypto.openssl_csr_pipe" in t)
        assert csr["changed_when"] is False
    hub_key = _task(
        "hub", "builders.yml", "Create the hub's client key once (only the hub's group reads it)"
    )
    assert hub_key["community.crypto.openssl_privatekey"]["mode"] == "0640"
    assert hub_key["community.crypto.openssl_privatekey"]["group"] == "{{ hub_group }}"
    hub_defaults = _yaml(ROLES / "hub" / "defaults" / "main.yml")
    assert hub_defaults["hub_builders_tls_dir"] == "/etc/versahub/builders"


def test_dockerd_listens_on_the_socket_and_tcp_with_tls_through_a_drop_in() -> None:
    conf = (ROLES / "builder" / "templates" / "docker-tls.conf.j2").read_text()
    lines = [line for line in conf.splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart="  # Debian's ExecStart (-H fd://) is reset
    command = lines[1]
    for part in (
        "/usr/sbin/dockerd -H fd:// ", "-H tcp://0.0.0.0:{{ builder_docker_tls_port }} ",
        "--tlsverify ", "--tlscacert={{ builder_tls_dir }}/ca.pem",
        "--tlscert={{ builder_tls_dir }}/cert.pem", "--tlskey={{ builder_tls_dir }}/key.pem",
        "--containerd=/run/containerd/containerd.sock", "$DOCKER_OPTS",
    ):  # fmt: skip
        assert part in command, part
    assert "After=versahub-docker-tls-firewall.service" in conf
    defaults = _yaml(ROLES / "builder" / "defaults" / "main.yml")
    assert defaults["builder_docker_tls_port"] == "{{ docker_tls_port | default(2376) }}"
    assert defaults["builder_tls_dir"] == "/etc/docker/tls"
    # the hub hosts never listen on TCP: the docker role has no such option
    assert "tcp://" not in (ROLES / "docker" / "tasks" / "config.yml").read_text()


@pytest.mark.parametrize(
    ("role", "unit", "chain", "before"),
    [
        ("builder", "versahub-docker-tls-firewall.service", "VERSAHUB-DOCKER-TLS",
         "docker.service"),
        ("hub", "versahub-builders-firewall.service", "VERSAHUB-BUILDERS", "jupyterhub.service"),
        ("registry", "versahub-registry-firewall.service", "VERSAHUB-REGISTRY",
         "docker-registry.service"),
    ],
)  # fmt: skip
def test_firewalls_are_one_chain_loaded_at_boot_like_the_offline_firewall(
    role: str, unit: str, chain: str, before: str
) -> None:
    text = (ROLES / role / "templates" / f"{unit}.j2").read_text()
    assert "iptables-restore --wait --noflush" in text
    assert f"iptables --wait -C INPUT -j {chain} 2>/dev/null || " in text
    assert f"iptables --wait -I INPUT -j {chain}'" in text
    assert before in next(line for line in text.splitlines() if line.startswith("Before="))
    assert "WantedBy=multi-user.target" in text
    rules = next((ROLES / role / "templates").glob("*firewall.rules.j2")).read_text()
    assert f":{chain} - [0:0]" in rules and rules.rstrip().endswith("COMMIT")
    assert "-j ACCEPT" not in rules  # allowed sources go on through INPUT's own rules


def test_the_hub_refuses_new_connections_from_builders_but_not_replies() -> None:
    rules = (ROLES / "hub" / "templates" / "builders-firewall.rules.j2").read_text()
    established = rules.index("--ctstate ESTABLISHED,RELATED -j RETURN")
    assert established < rules.index("-j REJECT")
    assert "hub_remote_builders | versahub_host_addresses(hostvars)" in rules


def test_the_registry_has_a_read_only_pull_endpoint_with_its_own_account() -> None:
    config = (ROLES / "registry" / "templates" / "config.yml.j2").read_text()
    assert "readonly:\n      enabled: true" in config
    assert "path: {{ registry_endpoint.htpasswd }}" in config
    unit = (ROLES / "registry" / "templates" / "versahub-registry-pull.service.j2").read_text()
    assert "ExecStart=/usr/bin/docker-registry serve {{ registry_pull_config_path }}" in unit
    assert "\nProtectSystem=strict\n" in unit and "\nReadWritePaths=" not in unit
    defaults = _yaml(ROLES / "registry" / "defaults" / "main.yml")
    assert "registry_htpasswd_users" not in defaults
    assert (defaults["registry_push_user"], defaults["registry_pull_user"]) == ("builder", "spawn")
    for which in ("push", "pull"):
        value = " ".join(defaults[f"registry_{which}_password"].split())
        assert (
            f"lookup('ansible.builtin.password', inventory_dir ~ '/credentials/registry-{which}'"
            in value
        )
        assert "length=32, chars=['ascii_letters', 'digits']" in value


def test_the_hub_serves_https_only_through_hub_tls_of_site_yaml() -> None:
    config = (ROLES / "hub" / "templates" / "jupyterhub_config.py.j2").read_text()
    assert "ssl_cert" not in config and "ssl_key" not in config
    site = (ROLES / "hub" / "templates" / "site.yaml.j2").read_text()
    assert "hub_site_yaml | to_nice_yaml" in site
    install = _task("hub", "config.yml", "Install the hub's TLS certificate and key (hub.tls)")
    files = {i["name"]: i for i in install["loop"]}
    assert files["hub.key"]["mode"] == "0640" and files["hub.key"]["group"] == "{{ hub_group }}"
    wait = _task("hub", "service.yml", "Wait until the hub's API answers")
    assert "hub_url is match('https://')" in wait["ansible.builtin.uri"]["validate_certs"]


def test_the_storage_host_marks_its_volume_folders() -> None:
    task = _task(
        "storage", "folders.yml", "Mark the root of the volume folders as the storage host's"
    )
    copy = task["ansible.builtin.copy"]
    assert copy["dest"] == "{{ storage_root }}/.versahub-storage"
    assert (copy["owner"], copy["mode"]) == ("root", "0644")
    assert "rw," in _yaml(ROLES / "storage" / "defaults" / "main.yml")["storage_nfs_export_options"]


def test_the_example_inventory_is_a_five_host_site_with_a_locked_down_registry() -> None:
    hosts = _yaml(EXAMPLE / "hosts.yml")["all"]["children"]["versahub"]["children"]
    groups = {name: sorted(group["hosts"]) for name, group in hosts.items()}
    assert groups == {"hub": ["hub1"], "builders": ["build1", "build2"], "storage": ["nfs1"],
                      "registry": ["registry1"]}  # fmt: skip
    site = _yaml(EXAMPLE / "group_vars" / "all.yml")["versahub_site"]
    assert site["registry"]["enabled"] is True and site["registry"]["pull_address"]
    registry = _yaml(EXAMPLE / "group_vars" / "registry.yml")
    assert registry["registry_auth_enabled"] is True and registry["registry_tls_cert_src"]
    for path in (EXAMPLE / "README.md", EXAMPLE / "hosts.yml", EXAMPLE / "group_vars" / "all.yml"):
        assert "issue 16" not in path.read_text(), path


# --- the hub's site.yaml, computed by Ansible on the controller --------------------------


def _render_site_yaml(inventory: Path, host: str, tmp_path: Path) -> dict:
    """Run the hub role's own expressions (its defaults, and the two set_fact tasks of
    tasks/main.yml) for ``host`` of ``inventory`` on the controller, touching no host."""
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists():
        pytest.skip("ansible-playbook is not installed in this venv")
    roles = tmp_path / "roles"
    shutil.copytree(ROLES, roles)
    main = _yaml(ROLES / "hub" / "tasks" / "main.yml")
    wanted = [t for t in main if t["name"] in (
        "Compute whether the proxy serves HTTPS with files of hub_tls_dir",
        "Compute the site.yaml the hub reads",
    )]  # fmt: skip
    assert len(wanted) == 2
    wanted.append({"name": "Show it", "ansible.builtin.debug": {"var": "hub_site_yaml"}})
    (roles / "hub" / "tasks" / "render_test.yml").write_text(yaml.safe_dump(wanted))
    play = [{"hosts": host, "gather_facts": False, "connection": "local", "tasks": [
        {"ansible.builtin.include_role": {"name": "hub", "tasks_from": "render_test"}},
    ]}]  # fmt: skip
    (tmp_path / "render.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(roles), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_FILTER_PLUGINS=str(ROOT / "filter_plugins"),
               ANSIBLE_NOCOLOR="1")  # fmt: skip
    proc = subprocess.run(
        [str(playbook_bin), "-i", str(inventory), str(tmp_path / "render.yml")],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    shown = result["plays"][0]["tasks"][-1]["hosts"][host]
    return shown["hub_site_yaml"]


def test_the_example_hub_reads_tls_credentials_builders_and_remote_storage(tmp_path: Path) -> None:
    doc = _render_site_yaml(EXAMPLE, "hub1", tmp_path)
    assert doc["hub"]["tls"] == {"certificate": "/etc/versahub/tls/hub.crt",
                                 "key": "/etc/versahub/tls/hub.key",
                                 "redirect_port": 80}  # fmt: skip
    assert doc["hub"]["url"] == "https://hub.example.org"
    assert doc["registry"] == {
        "enabled": True, "address": "reg.example.org:5000", "pull_address": "reg.example.org:5001",
        "tls": True, "credentials": {"push": "/etc/versahub/registry/push.credentials",
                                     "pull": "/etc/versahub/registry/pull.credentials"},
    }  # fmt: skip
    assert doc["images"]["builders"] == [
        {"name": f"build{n}", "docker_host": f"tcp://192.0.2.1{n}:2376",
         "tls_dir": "/etc/versahub/builders"}
        for n in (1, 2)
    ]  # fmt: skip
    assert doc["storage"] == {"remote": True}
    assert doc["state_dir"] == "/var/lib/versahub"
    # nothing was looked up: the hub's credentials files are written by their own tasks
    assert not (EXAMPLE / "credentials").exists()


def test_the_single_host_site_yaml_is_versahub_site_as_it_is(tmp_path: Path) -> None:
    local = REPO / "inventories" / "local"
    doc = _render_site_yaml(local, "localhost", tmp_path)
    site = _yaml(local / "group_vars" / "all.yml")["versahub_site"]
    assert doc == {**site, "state_dir": site["state_dir"]}
