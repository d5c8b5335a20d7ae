"""Test hosts for ``versahub deploy``: systemd Debian containers built from a debootstrap rootfs.

Like TLJH's and molecule's own tests: each session starts a fresh container with systemd as
PID 1 (capabilities instead of ``--privileged``, which this Docker refuses), and the
playbook reaches it from outside through Ansible's docker connection. APT's downloaded
packages and pip's cache are kept between sessions on the controller
(``~/.cache/versahub/testhost/``) so repeated runs do not download the same bytes again.

``DeployedHub`` reaches the deployed hub from the controller as a user's browser would (the
demo login, then REST tokens) and launches servers through ``POST
/hub/api/versahub/launch``; ``seed_server_image`` puts a server image into the test host's
Docker engine under the name the deployed hub looks for (its base image copied from the
controller's engine: nothing is downloaded); ``probe_from_server`` tries TCP connections
from inside a running server.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("VERSAHUB_CACHE", Path.home() / ".cache" / "versahub"))
HOST_CACHE = CACHE / "testhost"
SYSTEMD_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
]  # fmt: skip
RECAP = re.compile(r"^recap\s+(\S+)\s+ok=(\d+) changed=(\d+) failed=(\d+) unreachable=(\d+)")
CA_FILES = sorted(str(p) for p in Path("/usr/local/share/ca-certificates").glob("*.crt"))


def docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def build_host_image() -> str:
    """Build (once) the systemd test host image; return its name."""
    out = subprocess.run(
        ["bash", str(REPO / "tests" / "hosts" / "build.sh")],
        capture_output=True, text=True, check=True, timeout=900,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@dataclass
class TestHost:
    """One running test host container."""

    __test__ = False  # not a pytest test class

    name: str
    image: str
    systemd: bool = True
    network: str | None = None
    volumes: tuple[str, ...] = ()  # extra ``-v`` values (an anonymous /var/lib/docker: overlay2)
    # APT's downloads, kept between sessions; hosts deployed at the same time need their
    # own (apt locks the folder while it downloads)
    apt_cache: str = "apt"

    def start(self) -> TestHost:
        apt = HOST_CACHE / self.apt_cache
        apt.mkdir(parents=True, exist_ok=True)
        for deb in (HOST_CACHE / "apt").glob("*.deb"):  # seeded from the shared one (links)
            if not (apt / deb.name).exists():
                os.link(deb, apt / deb.name)
        (HOST_CACHE / "pip").mkdir(parents=True, exist_ok=True)
        cmd = ["docker", "run", "-d", "--name", self.name, "--hostname", self.name]
        cmd += ["--label", "versahub.test=deploy"]
        if self.network:
            cmd += ["--network", self.network]
        cmd += ["-v", f"{HOST_CACHE / self.apt_cache}:/var/cache/apt/archives"]
        cmd += ["-v", f"{HOST_CACHE / 'pip'}:/root/.cache/pip"]
        for volume in self.volumes:
            cmd += ["-v", volume]
        if self.systemd:
            cmd += [*SYSTEMD_FLAGS, self.image]
        else:
            cmd += [self.image, "sleep", "infinity"]
        subprocess.run(cmd, capture_output=True, check=True)
        if self.systemd:
            self.wait_running()
        return self

    def exec(self, *argv: str, check: bool = True, input: str | None = None) -> str:
        proc = subprocess.run(
            ["docker", "exec", "-i", self.name, *argv],
            capture_output=True, text=True, check=False, input=input,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        return proc.stdout

    def wait_running(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.exec("systemctl", "is-system-running", check=False).strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise AssertionError(f"systemd in {self.name} did not finish booting: {state!r}")

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False)

    def reboot(self, timeout: float = 120) -> None:
        """Restart the container: systemd boots again with a fresh network namespace (no
        firewall rules), as a real host's reboot."""
        subprocess.run(["docker", "restart", "-t", "30", self.name], capture_output=True,
                       check=True, timeout=timeout)  # fmt: skip
        self.wait_running(timeout)

    def ip(self, network: str) -> str:
        """The host's address on the test's own network (where the controller reaches it)."""
        out = subprocess.run(
            ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", self.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return str(json.loads(out)[network]["IPAddress"])


def create_network(name: str) -> str:
    """A private bridge network for test hosts. On Docker's default network a host's own
    docker0 cannot get 172.17.0.1 (the outer network has it), which the hub listens on."""
    subprocess.run(
        ["docker", "network", "create", "--label", "versahub.test=deploy", name],
        capture_output=True, check=True,
    )  # fmt: skip
    return name


def network_gateway(name: str) -> str:
    """The controller's own address on the test network ``name`` (its bridge's gateway)."""
    out = subprocess.run(
        ["docker", "network", "inspect", "--format", "{{json .IPAM.Config}}", name],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return str(json.loads(out)[0]["Gateway"])


def remove_network(name: str) -> None:
    subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)


def new_host_name(prefix: str = "vh-deploy") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def snapshot_repo(dest: Path) -> Path:
    """Copy what the deploy reads from the repository, so that edits made while the test
    runs cannot change the second (idempotence) run."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*", "build")
    for name in ("pyproject.toml", "README.md", "versahub", "policies", "playbooks"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def write_inventory(
    folder: Path, host: str, site: dict[str, Any], *,
    groups: dict[str, list[str]] | None = None, **extra: Any,
) -> Path:  # fmt: skip
    """An inventory reaching its hosts through ``docker exec``: ``host`` in every group, or
    the hosts ``groups`` names (``{"hub": [...], "builders": [...], ...}``)."""
    folder.mkdir(parents=True, exist_ok=True)
    host_vars = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    members = groups or {g: [host] for g in ("hub", "builders", "storage", "registry")}
    children = {g: {"hosts": dict.fromkeys(hosts)} for g, hosts in members.items()}
    inventory = {"all": {"children": children, "vars": host_vars}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (folder / "group_vars").mkdir(exist_ok=True)
    all_vars = {"versahub_site": site, "versahub_ca_certificates": CA_FILES, **extra}
    (folder / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_vars, sort_keys=False))
    return folder


@dataclass
class DeployRun:
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values())

    def changed_tasks(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("changed ")]


def deploy(
    inventory: Path, *args: str, playbook: Path | None = None, timeout: float = 1500
) -> DeployRun:
    """Run ``versahub deploy`` the way an operator does and parse its recap lines."""
    argv = [sys.executable, "-m", "versahub", "deploy", "-i", str(inventory), *args]
    if playbook is not None:
        argv += ["--playbook", str(playbook)]
    start = time.monotonic()
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=timeout, cwd=REPO
    )
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    recap = {}
    for line in output.splitlines():
        m = RECAP.match(line)
        if m:
            recap[m.group(1)] = {
                "ok": int(m.group(2)),
                "changed": int(m.group(3)),
                "failed": int(m.group(4)),
                "unreachable": int(m.group(5)),
            }
    return DeployRun(proc.returncode, output, seconds, recap)


def record_times(fresh: float, rerun: float) -> Path:
    out = REPO / "test-artifacts" / "deploy-times.json"
    out.parent.mkdir(exist_ok=True)
    times = {
        "fresh_seconds": round(fresh, 1),
        "rerun_seconds": round(rerun, 1),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.write_text(json.dumps(times, indent=2) + "\n")
    return out


# -- servers on the deployed site -----------------------------------------------------------
HUB_PYTHON = "/opt/versahub/venv/bin/python"
BASE_IMAGE = (
    "from versahub.site.config import load_site;"
    "print(load_site('/etc/versahub/site.yaml').images_config().base_image)"
)
# the cache entry's name and key (the key names the base image's id and the site CA bundle)
IMAGE_REF = """
import asyncio, sys
from versahub.images.builder import ImageBuilder
from versahub.images.engine import DockerEngine
from versahub.site.config import load_site

async def main():
    builder = ImageBuilder(load_site("/etc/versahub/site.yaml").images_config())
    async with DockerEngine() as engine:
        ref = await builder.image_for(engine, sys.argv[1], sys.argv[2])
    print(builder.config.base_image, ref, ref.key)

asyncio.run(main())
"""


def copy_image(image: str, host: TestHost) -> None:
    """``docker save`` on the controller piped into ``docker load`` on the test host."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(
            ["docker", "exec", "-i", host.name, "docker", "load", "-q"],
            stdin=save.stdout, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    finally:
        assert save.stdout is not None
        save.stdout.close()
        save.wait(timeout=60)
    if save.returncode != 0 or load.returncode != 0:
        raise AssertionError(f"copying {image} to {host.name} failed: {load.stderr}")


def seed_server_image(host: TestHost, repo: str, commit: str) -> str:
    """Tag a small image FROM the site's base image, on the test host, as the deployed hub's
    cache entry for (repo, commit): launches of that commit are cache hits, no build."""
    base = host.exec(HUB_PYTHON, "-c", BASE_IMAGE).strip()
    if host.exec("docker", "image", "inspect", base, check=False).strip() in ("", "[]"):
        copy_image(base, host)
    base, ref, key = host.exec(HUB_PYTHON, "-c", IMAGE_REF, repo, commit).split()[-3:]
    context = io.BytesIO()
    files = {
        "Dockerfile": f"FROM {base}\nLABEL org.versahub.cache-key={key}\n"
        "COPY --chown=1000:1000 hello.txt /srv/repo/\n",
        "hello.txt": "hello from the repository\n",
    }
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    proc = subprocess.run(
        ["docker", "exec", "-i", "-e", "DOCKER_BUILDKIT=0", host.name,
         "docker", "build", "-q", "-t", ref, "-"],
        input=context.getvalue(), capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"building {ref} on {host.name} failed: {proc.stderr.decode()}")
    return ref


@dataclass
class DeployedHub:
    """The deployed hub, reached from the controller at the test host's public port."""

    url: str
    password: str
    token: str = ""
    verify: str | bool = True  # requests' verify: the site CA's file for an HTTPS hub

    def login(self, user: str) -> requests.Session:
        session = requests.Session()
        session.verify = self.verify
        # requests lets REQUESTS_CA_BUNDLE override a session's verify: not for the site CA
        session.trust_env = self.verify is True
        session.get(f"{self.url}/hub/login", timeout=10)
        xsrf = session.cookies.get("_xsrf") or ""
        resp = session.post(
            f"{self.url}/hub/login",
            data={"username": user, "password": self.password, "_xsrf": xsrf},
            timeout=20, allow_redirects=False,
        )  # fmt: skip
        if resp.status_code != 302 or "/hub/login" in resp.headers.get("Location", ""):
            raise AssertionError(f"login as {user} failed: {resp.status_code}")
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/hub/") or xsrf
        return session

    def admin_token(self, admin: str) -> str:
        r = self.login(admin).post(
            f"{self.url}/hub/api/users/{admin}/tokens", json={"note": "deploy test"}, timeout=20
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 60)
        kw.setdefault("verify", self.verify)
        headers = {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kw)

    def user_token(self, user: str) -> str:
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "deploy test"})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def launch(
        self, token: str, spec: dict[str, Any], timeout: float = 300
    ) -> tuple[requests.Response, dict[str, Any]]:
        """``POST /hub/api/versahub/launch`` as the launch page does (confirming the
        decision's warnings), then follow its progress until ready or failed."""
        from versahub.policy import confirmation_hash

        body: dict[str, Any] = {"spec": dict(spec)}
        r = self.api("POST", "/versahub/launch", token=token, json=body)
        if r.status_code == 409 and r.json().get("status") == "confirmation-required":
            answer = r.json()
            warn_ids = [f["id"] for f in answer["decision"]["warn"]]
            body["confirmation"] = confirmation_hash(answer["spec_id"], warn_ids)
            r = self.api("POST", "/versahub/launch", token=token, json=body)
        if r.status_code not in (200, 202):
            return r, {}
        path = r.json()["progress_url"][len("/hub/api") :]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.api("GET", path, token=token).json()
            if doc.get("status") in ("ready", "failed", "stopped"):
                return r, doc
            time.sleep(0.5)
        raise AssertionError(f"launch of {spec} not finished after {timeout:.0f} s")

    def servers(self, user: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/users/{user}").json().get("servers") or {})

    def stop(self, user: str, name: str) -> None:
        self.api("DELETE", f"/users/{user}/servers/{name}")


PROBE = r"""
import json, os, socket, sys, threading, urllib.error, urllib.request
out = {}
def tcp(label, host, port):
    s = socket.socket()
    s.settimeout(4)
    try:
        s.connect((host, port))
        out[label] = "connects"
    except TimeoutError:
        out[label] = "timeout"
    except ConnectionRefusedError:
        out[label] = "refused"
    except OSError as err:
        out[label] = "unreachable" if err.errno in (101, 113) else f"errno {err.errno}"
    finally:
        s.close()
def hub_http():
    try:
        urllib.request.urlopen(os.environ["JUPYTERHUB_API_URL"], timeout=5)
    except urllib.error.HTTPError:
        pass
    except OSError:
        return "unreachable"
    return "answers"
threads = [threading.Thread(target=tcp, args=(k, h, p))
           for k, (h, p) in json.loads(sys.argv[1]).items()]
for t in threads: t.start()
for t in threads: t.join()
out["hub-api-http"] = hub_http()
print(json.dumps(out, sort_keys=True))
"""


def server_container(host: TestHost, user: str, name: str) -> str:
    ids = host.exec(
        "docker", "ps", "-q", "--filter", f"label=org.versahub.owner={user}",
        "--filter", f"label=org.versahub.server={name}",
    ).split()  # fmt: skip
    assert len(ids) == 1, ids
    return ids[0]


def probe_from_server(
    host: TestHost, user: str, name: str, targets: dict[str, tuple[str, int]]
) -> dict[str, str]:
    """``{label: connects|refused|timeout|unreachable}`` for TCP connections to ``targets``
    made from inside ``user``'s server ``name``, plus ``hub-api-http`` (its hub API URL)."""
    ctr = server_container(host, user, name)
    out = host.exec("docker", "exec", ctr, "python3", "-c", PROBE, json.dumps(targets))
    return dict(json.loads(out))
