"""A site on three systemd test hosts, converged with ``versahub deploy`` (issue 16):

* ``hub``: JupyterHub, OPA and the Docker engine that runs the users' servers;
* ``build``: a remote builder (Docker over TLS with client certificates from the site's
  builder CA);
* ``store``: the volume folders, the registry (TLS, a push endpoint for builders and a
  read-only pull endpoint for spawn hosts, each with its own account) and a second builder.

A launch on the hub builds on a builder (the image appears in the builder's engine and in
the registry, not built on the hub), the server starts on the hub from the pulled image, its
home lives on the storage host, and a second launch of the same commit builds nothing (not
even after the hub's copy is gone: the registry is the cache). A builder that is down is
skipped; with none left the launch fails at once, naming each. The hub answers only HTTPS
with the site CA's certificate (a browser loads the launch page); an unauthenticated push or
pull is refused, the pull account cannot push, and the firewall keeps builders away from the
hub and the hub away from the push endpoint.

NFS: this machine's kernel has neither an NFS server nor an NFS client (``/proc/filesystems``),
so the storage host's folders reach the hub through a Docker volume shared by the two test
hosts, standing in for the NFS mount; what a lost mount does (the launch refused, not started
on an empty folder) is tested by unmounting it on the hub. The NFS export itself is untested
here (docs/deploy-ansible.md says so).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))  # deploy_support.py: --import-mode=importlib
from deploy_support import (
    CA_FILES,
    DeployedHub,
    TestHost,
    build_host_image,
    copy_image,
    create_network,
    deploy,
    docker_ready,
    new_host_name,
    remove_network,
    server_container,
    snapshot_repo,
    write_inventory,
)
from site_support import SiteCA, https_page, log_in_and_open_the_launch_page

pytest.importorskip("ansible")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(not docker_ready(), reason="needs a running Docker engine"),
]

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "repos" / "dockerfile"
BASE_IMAGE = "versahub/base:bookworm"
GIT_PORT = 8900
HTTPS_PORT, HTTP_PORT = 8443, 8000
VOLUMES = "/var/lib/versahub/volumes"


# git's dumb HTTP protocol over HTTPS, with a certificate of the site CA (which the deploy
# installs on every host), on the hub host's loopback
GIT_SERVER = f"""
import functools, http.server, ssl
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/srv/git")
server = http.server.ThreadingHTTPServer(("127.0.0.1", {GIT_PORT}), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/srv/git.crt", "/srv/git.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


@dataclass
class Site:
    hub: TestHost
    build: TestHost
    store: TestHost
    ca: SiteCA
    network: str
    commits: list[str]
    converge: Any = None
    inventory: Path | None = None
    playbook: Path | None = None

    @property
    def repo(self) -> str:
        return f"https://127.0.0.1:{GIT_PORT}/fixture.git"  # served on the hub host itself


def _site_doc(store: str) -> dict[str, Any]:
    return {
        "site": {"name": "Multi-host test", "institution": "Example University"},
        "hub": {
            "url": f"https://0.0.0.0:{HTTPS_PORT}",
            "admin_users": ["admin"],
            "auth": {"kind": "demo", "users": ["alice", "bob", "admin"]},
        },
        "opa": {"address": "127.0.0.1:8181"},
        "state_dir": "/var/lib/versahub",
        "registry": {
            "enabled": True,
            "address": f"{store}:5000",
            "pull_address": f"{store}:5001",
            "tls": True,
        },
        "storage": {"remote": True},
        "volumes": {"home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}}},
        # the test's git server listens on the hub host's loopback
        "policy": {"allowed_internal_hosts": ["127.0.0.1"]},
    }


def _git_fixture(folder: Path) -> tuple[Path, list[str]]:
    """A bare repository (dumb HTTP) of the Dockerfile fixture with three commits."""
    work = folder / "work"
    shutil.copytree(FIXTURE, work)
    who = {"NAME": "t", "EMAIL": "t@example.org"}
    env = {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}
    env["HOME"] = str(folder)

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "main")
    commits = []
    for n in range(3):
        (work / "round.txt").write_text(f"round {n}\n")
        git("add", "-A")
        git("commit", "-q", "-m", f"round {n}")
        commits.append(git("rev-parse", "HEAD"))
    bare = folder / "fixture.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=folder)
    git("update-server-info", cwd=bare)
    return bare, commits


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    image = build_host_image()
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode:
        pytest.fail(f"{BASE_IMAGE} is missing: run `versahub images bootstrap` first")
    tag = new_host_name("x")[2:]
    network = create_network(f"vh-mh-net-{tag}")
    shared = f"vh-mh-volumes-{tag}"
    subprocess.run(["docker", "volume", "create", "--label", "versahub.test=deploy", shared],
                   capture_output=True, check=True)  # fmt: skip
    docker_dir = ("/var/lib/docker",)  # overlay2 inside the host, not vfs
    hub = TestHost(f"vh-mh-hub-{tag}", image, network=network, apt_cache="apt-mh-hub",
                   volumes=(*docker_dir, f"{shared}:{VOLUMES}"))  # fmt: skip
    build = TestHost(f"vh-mh-build-{tag}", image, network=network, apt_cache="apt-mh-build",
                     volumes=docker_dir)  # fmt: skip
    store = TestHost(f"vh-mh-store-{tag}", image, network=network, apt_cache="apt-mh-store",
                     volumes=(*docker_dir, f"{shared}:{VOLUMES}"))  # fmt: skip
    folder = tmp_path_factory.mktemp("multihost")
    try:
        for host in (hub, build, store):
            host.start()
        ca = SiteCA(folder / "ca").create()
        bare, commits = _git_fixture(folder / "git")
        hub.exec("mkdir", "-p", "/srv/git")
        subprocess.run(["docker", "cp", str(bare), f"{hub.name}:/srv/git/fixture.git"], check=True)
        for path in ca.issue("git", ips=("127.0.0.1",)):  # HTTPS: the policy denies http://
            subprocess.run(["docker", "cp", str(path), f"{hub.name}:/srv/{path.name}"], check=True)
        hub.exec("systemd-run", "--unit=vh-git", "python3", "-c", GIT_SERVER)
        yield Site(hub, build, store, ca, network, commits)
    finally:
        for host in (hub, build, store):
            host.remove()
        subprocess.run(["docker", "volume", "rm", "-f", shared], capture_output=True)
        remove_network(network)


@pytest.fixture(scope="module")
def converged(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("inventory")
    hub_cert, hub_key = site.ca.issue(
        "hub", dns=(site.hub.name,), ips=(site.hub.ip(site.network), "127.0.0.1")
    )
    reg_cert, reg_key = site.ca.issue("registry", dns=(site.store.name,))
    inventory = write_inventory(
        folder, site.hub.name, _site_doc(site.store.name),
        groups={
            "hub": [site.hub.name],
            "builders": [site.build.name, site.store.name],
            "storage": [site.store.name],
            "registry": [site.store.name],
        },
        versahub_ca_certificates=[*CA_FILES, str(site.ca.ca)],
        hub_tls_cert_src=str(hub_cert), hub_tls_key_src=str(hub_key),
        hub_tls_options={"redirect_port": HTTP_PORT},
        registry_tls_cert_src=str(reg_cert), registry_tls_key_src=str(reg_key),
    )  # fmt: skip
    snapshot = snapshot_repo(tmp_path_factory.mktemp("repo"))
    site.inventory, site.playbook = inventory, snapshot / "playbooks" / "site.yml"
    site.converge = deploy(inventory, playbook=site.playbook, timeout=2000)
    if site.converge.returncode != 0:
        journal = site.hub.exec("journalctl", "-n", "40", "--no-pager", "-o", "cat", check=False)
        pytest.fail(f"{site.converge.output[-4000:]}\n--- hub journal ---\n{journal}",
                    pytrace=False)  # fmt: skip
    copy_image(BASE_IMAGE, site.hub)  # the hub copies it to a builder on the first build there
    return site


@pytest.fixture(scope="module")
def hub(converged: Site) -> DeployedHub:
    password = converged.hub.exec("cat", "/var/lib/versahub/hub/demo-password").strip()
    deployed = DeployedHub(f"https://{converged.hub.ip(converged.network)}:{HTTPS_PORT}", password)
    deployed.verify = str(converged.ca.ca)
    deployed.token = deployed.admin_token("admin")
    return deployed


def _images(host: TestHost, prefix: str) -> list[str]:
    out = host.exec("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    return [line for line in out.split() if line.startswith(prefix)]


def _build_cache_entries(host: TestHost) -> int:
    """How many BuildKit cache records the host's engine holds (a build leaves some)."""
    out = host.exec("docker", "system", "df", "--format", "{{json .}}")
    for line in out.splitlines():
        doc = json.loads(line)
        if doc.get("Type") == "Build Cache":
            return int(doc.get("TotalCount") or 0)
    raise AssertionError(f"no build cache line in {out}")


def _events(progress: dict[str, Any]) -> str:
    return "\n".join(str(e.get("message", "")) for e in progress.get("events", []))


def _launch(site: Site, hub: DeployedHub, user: str, name: str, commit: str):
    token = hub.user_token(user)
    spec = {"repo": site.repo, "ref": commit, "server_name": name}
    return hub.launch(token, spec, timeout=900)


def _registry_has(site: Site, image: str) -> bool:
    """``HEAD`` of the manifest at the pull endpoint, with the pull account, from the hub."""
    path, tag = image.split("/", 1)[1].rsplit(":", 1)
    script = (
        "import base64,sys,urllib.request as u\n"
        "user=open('/etc/versahub/registry/pull.credentials').read().strip()\n"
        f"r=u.Request('https://{site.store.name}:5001/v2/{path}/manifests/{tag}',method='HEAD',"
        "headers={'Authorization':'Basic '+base64.b64encode(user.encode()).decode(),"
        "'Accept':'application/vnd.docker.distribution.manifest.v2+json'})\n"
        "try:\n print(u.urlopen(r,timeout=10).status)\n"
        "except u.HTTPError as e:\n print(e.code)\n"
    )
    return site.hub.exec("python3", "-c", script).strip() == "200"


def test_converge_succeeds(converged: Site) -> None:
    recap = converged.converge.recap
    assert set(recap) == {converged.hub.name, converged.build.name, converged.store.name}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap.values()), recap
    assert "Hub: https://" in converged.converge.output


def test_a_second_run_changes_nothing(converged: Site) -> None:
    """Certificates, accounts, firewalls and both registry endpoints are idempotent."""
    assert converged.inventory is not None and converged.playbook is not None
    rerun = deploy(converged.inventory, playbook=converged.playbook, timeout=1500)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.changed == 0, "\n".join(rerun.changed_tasks())


def test_builders_hold_no_hub_secrets(converged: Site) -> None:
    """The builder has its engine's server certificate and nothing of the hub: no site.yaml,
    no hub state, no registry account, no key of the builder CA or of the hub's client."""
    for path in ("/etc/versahub/site.yaml", "/var/lib/versahub/hub", "/etc/versahub/registry",
                 "/etc/versahub/builder-ca", "/etc/versahub/builders"):  # fmt: skip
        out = converged.build.exec("sh", "-c", f"test -e {path} && echo present || echo absent")
        assert out.strip() == "absent", path
    assert converged.hub.exec("test", "-f", "/etc/versahub/builders/key.pem", check=False) == ""


def test_only_remote_builders_listen_for_docker_over_tls(converged: Site) -> None:
    listening = converged.build.exec("ss", "-ltnH")
    assert ":2376 " in listening
    assert ":2376 " not in converged.hub.exec("ss", "-ltnH")
    # without a client certificate of the builder CA the engine does not talk
    out = converged.hub.exec(
        "docker", "-H", f"tcp://{converged.build.name}:2376", "--tlsverify",
        "--tlscacert", "/etc/versahub/builders/ca.pem", "version", check=False,
    )  # fmt: skip
    assert "Server:" not in out


def test_status_reports_the_builders(converged: Site) -> None:
    out = converged.hub.exec(
        "runuser", "-u", "versahub", "--", "/opt/versahub/venv/bin/versahub", "status",
        "--site", "/etc/versahub/site.yaml", "--json", check=False,
    )  # fmt: skip
    components = json.loads(out)["components"]
    for host in (converged.build, converged.store):
        assert components[f"builder {host.name}"]["state"] == "running", components


def test_a_launch_builds_on_a_builder_and_runs_on_the_hub(
    converged: Site, hub: DeployedHub
) -> None:
    site = converged
    r, progress = _launch(site, hub, "alice", "first", site.commits[0])
    assert r.status_code in (200, 202), r.text
    assert progress.get("status") == "ready", _events(progress)
    events = _events(progress)
    assert f"on {site.build.name}" in events, events
    assert f"Copying the base image {BASE_IMAGE} to {site.build.name} (once)" in events
    ctr = server_container(site.hub, "alice", "first")
    image = site.hub.exec("docker", "inspect", "--format", "{{.Config.Image}}", ctr).strip()
    prefix = f"{site.store.name}:5000/versahub/r2d-"
    assert image.startswith(prefix)
    assert image in _images(site.build, prefix)  # built there
    assert _registry_has(site, image)  # pushed
    # the same image on the hub, and no build ever ran on the hub's engine
    image_id = ["docker", "image", "inspect", "--format", "{{.Id}}", image]
    assert site.hub.exec(*image_id) == site.build.exec(*image_id)
    assert _build_cache_entries(site.hub) == 0 < _build_cache_entries(site.build)
    # the home is the storage host's folder
    site.hub.exec("docker", "exec", ctr, "sh", "-c", "echo mine > ~/written.txt")
    assert site.store.exec("cat", f"{VOLUMES}/home/alice/written.txt").strip() == "mine"
    hub.stop("alice", "first")


def test_a_second_launch_of_the_commit_builds_nothing(converged: Site, hub: DeployedHub) -> None:
    site = converged
    before = site.build.exec("docker", "image", "ls", "-q", "--no-trunc").split()
    _, progress = _launch(site, hub, "bob", "again", site.commits[0])
    assert progress.get("status") == "ready", _events(progress)
    assert "Building" not in _events(progress)
    hub.stop("bob", "again")
    # the hub's own copy gone: the registry is the cache, wherever the image was built
    image = _images(site.hub, f"{site.store.name}:5000/versahub/r2d-")[0]
    site.hub.exec("docker", "rmi", "-f", image)
    _, progress = _launch(site, hub, "bob", "again2", site.commits[0])
    assert progress.get("status") == "ready", _events(progress)
    assert "Building" not in _events(progress) and "Pulled" in _events(progress)
    assert site.build.exec("docker", "image", "ls", "-q", "--no-trunc").split() == before
    hub.stop("bob", "again2")


def test_a_builder_that_is_down_is_skipped_then_none_fails_fast(
    converged: Site, hub: DeployedHub
) -> None:
    site = converged
    site.build.exec("systemctl", "stop", "docker.socket", "docker")
    try:
        r, progress = _launch(site, hub, "alice", "second", site.commits[1])
        assert progress.get("status") == "ready", _events(progress)
        assert f"on {site.store.name}" in _events(progress)
        assert f"to {site.store.name} (once)" in _events(progress)  # its own base image copy
        hub.stop("alice", "second")
        site.store.exec("systemctl", "stop", "docker.socket", "docker")
        started = time.monotonic()
        r, progress = _launch(site, hub, "alice", "third", site.commits[2])
        took = time.monotonic() - started
        text = r.text + _events(progress)
        assert "no image builder answers" in text, text
        assert site.build.name in text and site.store.name in text
        assert took < 60, took
    finally:
        for host in (site.build, site.store):
            host.exec("systemctl", "start", "docker", check=False)
        for host in (site.build, site.store):
            deadline = time.monotonic() + 60
            while host.exec("docker", "info", check=False) == "" and time.monotonic() < deadline:
                time.sleep(1)


def test_the_registry_refuses_anonymous_and_read_only_accounts(converged: Site) -> None:
    site = converged
    store = site.store.name
    anonymous = "export DOCKER_CONFIG=$(mktemp -d); "
    pulled = site.hub.exec(
        "sh", "-c", f"{anonymous} docker pull {store}:5001/versahub/nothing:x 2>&1", check=False
    )
    assert "no basic auth credentials" in pulled or "unauthorized" in pulled, pulled
    site.hub.exec("docker", "tag", BASE_IMAGE, f"{store}:5001/versahub/intruder:x")
    pushed = site.hub.exec(
        "sh", "-c", f"{anonymous} docker push {store}:5001/versahub/intruder:x 2>&1", check=False
    )
    assert "no basic auth credentials" in pushed or "unauthorized" in pushed, pushed
    # the pull account on the read-only endpoint: no push either
    user, password = (
        site.hub.exec("cat", "/etc/versahub/registry/pull.credentials").strip().split(":", 1)
    )
    pushed = site.hub.exec(
        "sh", "-c",
        f"{anonymous} echo {password} | docker login -u {user} --password-stdin {store}:5001 "
        f">/dev/null 2>&1; docker push {store}:5001/versahub/intruder:x 2>&1",
        check=False,
    )  # fmt: skip
    # storage.maintenance.readonly: uploads answer 405 Method not allowed
    assert "405" in pushed and "Method not allowed" in pushed, pushed
    assert not _registry_has(site, f"{store}:5000/versahub/intruder:x")
    site.hub.exec("docker", "rmi", f"{store}:5001/versahub/intruder:x", check=False)


def _connects(host: TestHost, target: str, port: int) -> bool:
    script = (
        "import socket,sys\ns=socket.socket();s.settimeout(3)\n"
        f"try:\n s.connect(({target!r},{port}));print('yes')\nexcept OSError:\n print('no')\n"
    )
    return host.exec("python3", "-c", script).strip() == "yes"


def test_firewall_keeps_builders_off_the_hub_and_the_hub_off_the_push_port(converged: Site) -> None:
    site = converged
    for port in (HTTPS_PORT, HTTP_PORT, 8081, 8181):
        assert not _connects(site.build, site.hub.name, port), port
    assert not _connects(site.hub, site.store.name, 5000)  # push: builders only
    assert _connects(site.hub, site.store.name, 5001)  # pull: spawn hosts
    assert _connects(site.build, site.store.name, 5000)
    assert not _connects(site.store, site.build.name, 2376)  # a builder's engine: hubs only
    assert _connects(site.hub, site.build.name, 2376)


def test_the_hub_answers_only_https_with_the_site_certificate(
    converged: Site, hub: DeployedHub
) -> None:
    ip = converged.hub.ip(converged.network)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{ip}:{HTTPS_PORT}/hub/login", timeout=10, verify=certifi.where())
    r = requests.get(
        f"https://{ip}:{HTTPS_PORT}/hub/login", timeout=10, verify=str(converged.ca.ca)
    )
    assert r.status_code == 200
    assert "max-age=" in r.headers.get("Strict-Transport-Security", "")
    plain = requests.get(f"http://{ip}:{HTTP_PORT}/hub/login", timeout=10, allow_redirects=False)
    assert plain.status_code in (301, 302, 307, 308)
    assert plain.headers["Location"].startswith("https://")


def test_a_browser_loads_the_launch_page_over_https(converged: Site, hub: DeployedHub) -> None:
    with https_page(converged.ca.folder / "hub.crt") as page:
        page.goto(f"{hub.url}/hub/login")
        log_in_and_open_the_launch_page(page, hub.url, "alice", hub.password)
        assert page.evaluate("location.protocol") == "https:"


def test_a_lost_storage_mount_refuses_the_launch(converged: Site, hub: DeployedHub) -> None:
    """Last: the hub host loses the storage host's folders (unmounted, the hub restarted): a
    launch with a home is refused, saying so, and nothing is made in the empty folder."""
    site = converged
    site.hub.exec("umount", "-l", VOLUMES)
    # as after a reboot whose mount failed: the hub (its own mount namespace, ProtectSystem)
    # starts again and sees the empty folder
    site.hub.exec("systemctl", "restart", "jupyterhub")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if hub.api("GET", "/", timeout=5).status_code == 200:
                break
        time.sleep(1)
    r, progress = _launch(site, hub, "bob", "lost", site.commits[0])
    text = r.text + _events(progress)
    assert progress.get("status") != "ready"
    journal = ["journalctl", "-u", "jupyterhub", "-n", "60", "--no-pager", "-o", "cat"]
    assert "volume storage is not mounted" in text, text + site.hub.exec(*journal, check=False)
    assert site.hub.exec("ls", "-A", VOLUMES).strip() == ""
    with contextlib.suppress(requests.RequestException):
        hub.stop("bob", "lost")
