"""Fault: an image build killed halfway — nothing half-built is kept, the next launch rebuilds.

A real site (``FaultHub``) that allows the loopback git host
(``policy.allowed_internal_hosts: ["127.0.0.1"]``) and trusts the test CA of a git server on
loopback HTTPS (``images_support.GitHTTPSServer``). The repository's ``binder/Dockerfile``
is ``FROM`` the site's base image with a step that prints a marker and sleeps, so the build
is caught in the middle of a step. The hub's ``ImageBuilder`` runs repo2docker as a
subprocess; that process (found by this run's unique image prefix in its command line) is
killed with SIGKILL while the step runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    RUN,
    FaultHub,
    git_https,
    images_settings,
    prefix_images,
    remove_images,
    require_docker,
    wait_for,
)

from versahub.images.config import ImagesConfig

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PREFIX = f"versahub-fault-{RUN}-killed/r2d-"
ALICE = f"ft{RUN}alice"
SLEEP = 12  # seconds the slow step takes
MARK = f"{RUN}-sleeping-42"  # printed by the step ($((6*7)): not in the step's own text)
DOCKERFILE = f"""FROM {ImagesConfig().base_image}
ARG NB_USER=jovyan
ARG NB_UID=1000
RUN echo "{RUN}-sleeping-$((6*7))" && sleep {SLEEP}
COPY --chown=1000:1000 . /srv/repo/
"""


def build_processes(prefix: str) -> dict[int, str]:
    """pid → command line of every process whose command line names this run's images
    (repo2docker, and the docker/buildx client it runs)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if prefix in line:
            found[int(entry.name)] = line
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultHub, str, Any]]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-build-killed")
    try:
        with git_https(root) as (git, env):
            repo = git.repo("dockerfile", name=f"slow-{RUN}")
            repo.commit({"binder/Dockerfile": DOCKERFILE}, message="a build that takes a while")
            hub = FaultHub(
                root,
                policy={"allowed_internal_hosts": ["127.0.0.1"]},
                images=images_settings(root, PREFIX, build_timeout=600),
                env=env,
            )
            try:
                hub.start()
                token = hub.make_users(ALICE)[ALICE]
                yield hub, token, repo
            finally:
                hub.stop()
    finally:
        remove_images(PREFIX)


def events_of(hub: FaultHub, token: str, name: str) -> list[dict[str, Any]]:
    r = hub.api("GET", f"/versahub/launch/{name}", token=token)
    return r.json().get("events", []) if r.status_code == 200 else []


def test_build_killed_halfway_leaves_no_image_and_the_next_launch_rebuilds(
    site: tuple[FaultHub, str, Any],
) -> None:
    """Promised (docs/images.md "Builds": a failed build leaves no tagged image of that name
    and is not remembered, "so the next request builds again"; docs/spawning.md: an image
    that could not be had is ``failed`` with "The image could not be built: …"): when the
    build process is killed in the middle of a step, the launch fails with that message
    naming repo2docker's failure, no server entry is left, no image is tagged under the
    site's prefix — not even after the killed step would have finished — and the next
    launch of the same configuration builds again (a ``building`` phase) and is ready.
    """
    hub, token, repo = site
    spec = {"repo": repo.url, "ref": "main", "server_name": "slow"}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(hub.launch_api, token, spec, timeout=600)
        wait_for(
            lambda: any(MARK in e.get("message", "") for e in events_of(hub, token, "slow")),
            300, "the slow build step",
        )  # fmt: skip
        killed_at = time.monotonic()
        processes = build_processes(PREFIX)
        r2d = [pid for pid, line in processes.items() if " -m repo2docker " in f" {line} "]
        assert len(r2d) == 1, processes
        os.kill(r2d[0], signal.SIGKILL)
        r = answer.result()
    doc = r.json()
    if r.status_code == 202:
        doc = hub.wait_launch(token, "slow", timeout=120)
    else:
        assert r.status_code == 502, r.text
        assert doc["failed_phase"] == "building", doc
    assert doc["status"] == "failed", doc
    assert doc["message"].startswith("The image could not be built: repo2docker failed"), doc
    wait_for(lambda: "slow" not in hub.servers(ALICE), 15, "no server entry left")
    assert hub.containers(owner=ALICE, server="slow") == []
    assert prefix_images(PREFIX) == []
    # the build is over: nothing of it runs, and nothing is tagged once the killed step
    # would have finished either
    wait_for(lambda: not build_processes(PREFIX), 60, "the build's processes to end")
    time.sleep(max(0.0, killed_at + SLEEP + 5 - time.monotonic()))
    assert prefix_images(PREFIX) == [], "a tagged image was left by the killed build"

    # the next launch builds again, and succeeds
    r = hub.launch_api(token, spec, timeout=600)
    assert r.status_code in (200, 202), r.text
    done = hub.wait_launch(token, "slow", timeout=600)
    assert done["status"] == "ready", done
    phases = [e.get("phase") for e in done["events"]]
    assert "building" in phases, phases  # the builder emits it only for a cache miss
    # (the killed step's layer may come from Docker's build cache: BuildKit can finish a
    # step already running after its client is gone; only the tag makes an image usable)
    built = prefix_images(PREFIX)
    assert len(built) == 1 and built[0].endswith(f":{repo.head}"), built
