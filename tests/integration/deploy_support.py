"""Test hosts for ``versahub deploy``: systemd Debian containers built from a debootstrap rootfs.

Like TLJH's and molecule's own tests: each session starts a fresh container with systemd as
PID 1 (capabilities instead of ``--privileged``, which this Docker refuses), and the
playbook reaches it from outside through Ansible's docker connection. APT's downloaded
packages and pip's cache are kept between sessions on the controller
(``~/.cache/versahub/testhost/``) so repeated runs do not download the same bytes again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def start(self) -> TestHost:
        (HOST_CACHE / "apt").mkdir(parents=True, exist_ok=True)
        (HOST_CACHE / "pip").mkdir(parents=True, exist_ok=True)
        cmd = ["docker", "run", "-d", "--name", self.name, "--hostname", self.name]
        cmd += ["--label", "versahub.test=deploy"]
        if self.network:
            cmd += ["--network", self.network]
        cmd += ["-v", f"{HOST_CACHE / 'apt'}:/var/cache/apt/archives"]
        cmd += ["-v", f"{HOST_CACHE / 'pip'}:/root/.cache/pip"]
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


def create_network(name: str) -> str:
    """A private bridge network for test hosts. On Docker's default network a host's own
    docker0 cannot get 172.17.0.1 (the outer network has it), which the hub listens on."""
    subprocess.run(
        ["docker", "network", "create", "--label", "versahub.test=deploy", name],
        capture_output=True, check=True,
    )  # fmt: skip
    return name


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


def write_inventory(folder: Path, host: str, site: dict[str, Any], **extra: Any) -> Path:
    """A one-host inventory reaching ``host`` through ``docker exec``."""
    folder.mkdir(parents=True, exist_ok=True)
    host_vars = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    groups = {g: {"hosts": {host: None}} for g in ("hub", "builders", "storage", "registry")}
    inventory = {"all": {"children": groups, "vars": host_vars}}
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
    argv = [sys.executable, "-m", "versahub.deploy", "-i", str(inventory), *args]
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
