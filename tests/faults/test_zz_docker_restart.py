"""Fault: the Docker engine restarted under a running hub — it recovers and tells the truth.

**This test stops the machine's Docker engine**, which disrupts every other Docker user of
the machine. It is marked ``docker_restart`` (select it with ``-m docker_restart``, or leave
it out with ``-m "not docker_restart"``), its file sorts last in ``tests/faults``, and
before touching the engine it waits until no other pytest process runs on the machine and
no container other than this hub's runs (else it is skipped, saying why).

The engine is restarted as ``scripts/docker.sh`` starts it: dockerd (the one in this PID
namespace, which owns ``/var/run/docker.sock``) is stopped with SIGTERM (as ``systemctl
restart docker`` would), then started again with the script's own command
(``setsid nohup dockerd >>$LOG 2>&1 </dev/null &``), and the test waits for the socket to
answer. The hub, OPA and the proxy keep running throughout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    COMMIT,
    REPO,
    RUN,
    FaultHub,
    docker,
    images_settings,
    remove_images,
    require_docker,
    seed_image,
    wait_for,
)

from versahub.app.hubconfig import configure
from versahub.hub.spawner import VersaHubDockerSpawner

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.docker_restart]

PREFIX = f"versahub-fault-{RUN}-dockerd/r2d-"
ALICE = f"ft{RUN}alice"
SPEC = {"repo": REPO, "ref": COMMIT}
SOCKET = "/var/run/docker.sock"
DOCKERD_LOG = os.environ.get("VERSAHUB_DOCKERD_LOG", "/var/log/versahub-dockerd.log")
QUIET_WAIT = 300.0  # seconds to wait for other test runs to finish before skipping


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def other_pytest_runs() -> list[str]:
    """Command lines of pytest processes on this machine that are not this run."""
    mine = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        argv = _argv(int(entry.name))
        names = [os.path.basename(a) for a in argv[:4]]
        if "pytest" in names or "py.test" in names or ("-m" in names and "pytest" in argv[:4]):
            found.append(" ".join(argv)[:160])
    return found


def host_dockerd() -> int | None:
    """The dockerd of this PID namespace (a test host's dockerd in a container is not it)."""
    own = os.readlink("/proc/self/ns/pid")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "dockerd":
                continue
            if os.readlink(entry / "ns" / "pid") != own:
                continue
        except OSError:
            continue
        return int(entry.name)
    return None


def engine_answers() -> bool:
    argv = ["/usr/bin/docker", "version", "--format", "{{.Server.Version}}"]
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


def restart_engine() -> float:
    """Stop dockerd (SIGTERM) and start it as ``scripts/docker.sh`` does; return when the
    socket answers again. Returns the moment the engine was stopped (monotonic)."""
    pid = host_dockerd()
    assert pid is not None, "no dockerd runs in this PID namespace"
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 90, "dockerd to stop", interval=0.5)
    stopped = time.monotonic()
    subprocess.run(
        ["bash", "-c", 'setsid nohup dockerd >>"$1" 2>&1 </dev/null &', "start", DOCKERD_LOG],
        check=True, timeout=30,
    )  # fmt: skip
    wait_for(lambda: Path(SOCKET).exists() and engine_answers(), 90, "dockerd to answer", 1.0)
    return stopped


def poll_interval(hub: FaultHub) -> tuple[float, float]:
    """(``poll_interval``, ``poll_jitter``) of the hub's spawner, as its config sets them."""
    c = Config()
    configure(c, hub.site_file)
    traits = VersaHubDockerSpawner.class_traits()
    values = []
    for name in ("poll_interval", "poll_jitter"):
        value = traits[name].default_value
        for section in ("Spawner", "DockerSpawner", "VersaHubDockerSpawner"):
            if name in c[section]:
                value = c[section][name]
        values.append(float(value))
    return values[0], values[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultHub, str]]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-dockerd")
    hub = FaultHub(root, images=images_settings(root, PREFIX))
    try:
        seed_image(hub.images_config(), REPO, COMMIT)
        hub.start()
        token = hub.make_users(ALICE)[ALICE]
        yield hub, token
    finally:
        hub.stop()
        remove_images(PREFIX)


def wait_until_alone(hub: FaultHub) -> None:
    """Wait until nothing else on the machine uses Docker through pytest; skip otherwise."""

    def others() -> list[str]:
        busy = other_pytest_runs()
        running = set(docker("ps", "-q").split())
        foreign = running - {c[:12] for c in hub.containers(running_only=True)}
        return busy + [f"container {c}" for c in sorted(foreign)]

    deadline = time.monotonic() + QUIET_WAIT
    while (busy := others()) and time.monotonic() < deadline:
        time.sleep(5)
    if busy:
        pytest.skip(f"not restarting Docker while others use it: {busy[:5]}")


def server_model(hub: FaultHub, name: str) -> dict[str, Any]:
    return hub.servers(ALICE).get(name) or {}


def test_docker_restart_hub_recovers_and_reports_dead_servers_truthfully(
    site: tuple[FaultHub, str],
) -> None:
    """Promised (issue 11: "Docker engine restarted → the hub recovers and reports servers'
    state truthfully"): after the engine restarts, the hub (never restarted) launches new
    servers again, reachable through the proxy; a server whose container died in the
    restart is no longer reported ready — neither by JupyterHub's REST API nor by the launch
    API — once JupyterHub's poll has run (``Spawner.poll_interval`` of the hub's config,
    with its jitter), its URL no longer reaches a server, and it starts again from its
    stored spec.
    """
    hub, token = site
    interval, jitter = poll_interval(hub)
    r = hub.launch_api(token, {**SPEC, "server_name": "before"})
    assert r.status_code in (200, 202), r.text
    assert hub.wait_launch(token, "before")["status"] == "ready"
    assert hub.through_proxy(ALICE, "before", token) == 200
    hub_pid = hub.component("hub").process.pid

    wait_until_alone(hub)
    stopped = restart_engine()
    assert not hub.containers(running_only=True, owner=ALICE, server="before")

    with ThreadPoolExecutor(1) as pool:
        # a new launch right away: the hub talks to the new engine
        new = pool.submit(hub.launch_api, token, {**SPEC, "server_name": "after"})
        # the dead server is noticed by JupyterHub's poll
        wait_for(
            lambda: not server_model(hub, "before").get("ready"),
            interval * (1 + jitter) + 20, "the hub to notice the dead server", interval=0.5,
        )  # fmt: skip
        noticed = time.monotonic() - stopped
        r = new.result()
    assert r.status_code in (200, 202), r.text
    assert hub.wait_launch(token, "after")["status"] == "ready"
    assert hub.through_proxy(ALICE, "after", token) == 200

    launch = hub.api("GET", "/versahub/launch/before", token=token).json()
    assert launch["status"] != "ready", launch
    assert hub.through_proxy(ALICE, "before", token) != 200
    print(f"the hub noticed the dead server {noticed:.1f} s after the engine stopped "
          f"(poll_interval {interval:g} s, jitter {jitter:g})")  # fmt: skip

    # the stopped server starts again from its stored spec
    r = hub.launch_api(token, {**SPEC, "server_name": "before"})
    assert r.status_code in (200, 202), r.text
    assert hub.wait_launch(token, "before")["status"] == "ready"
    assert hub.through_proxy(ALICE, "before", token) == 200
    assert hub.component("hub").process.pid == hub_pid
    assert hub.component("hub").process.poll() is None
