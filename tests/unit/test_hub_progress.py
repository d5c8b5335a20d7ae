"""Progress events with BinderHub phases, and launch work kept off the hub's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from versahub.hub.handlers import LaunchHandler
from versahub.hub.spawner import VersaHubDockerSpawner, prepare_folders
from versahub.launch import progress as progress_module
from versahub.launch.progress import PHASES, build_event, progress_event, ready_hook
from versahub.site import source as source_module
from versahub.site.source import site_file as site_source


@pytest.mark.parametrize("phase", PHASES)
def test_progress_event_has_phase_message_and_progress(phase: str) -> None:
    ev = progress_event(phase, "something happened")
    assert ev == {
        "phase": phase,
        "progress": progress_module.PHASE_PROGRESS[phase],
        "message": "something happened",
    }


def test_progress_event_refuses_an_unknown_phase() -> None:
    with pytest.raises(ValueError, match="unknown phase 'policy'"):
        progress_event("policy", "x")


def test_progress_bar_moves_forward_with_the_phases() -> None:
    steps = [progress_module.PHASE_PROGRESS[p] for p in PHASES[:-1]]  # "failed" ends anywhere
    assert steps == sorted(steps)


@pytest.mark.parametrize(
    ("builder_phase", "phase"),
    [
        pytest.param("fetching", "fetching", id="resolving"),
        pytest.param("waiting", "waiting", id="build-slot"),
        pytest.param("building", "building", id="repo2docker-log"),
        pytest.param("pushing", "pushing", id="registry"),
        pytest.param("built", "built", id="built"),
        pytest.param("ready", "built", id="image-ready-is-not-server-ready"),
        pytest.param("failed", "failed", id="failed"),
    ],
)
def test_build_events_become_launch_phases(builder_phase: str, phase: str) -> None:
    ev = build_event({"phase": builder_phase, "message": "Found built image x:1", "image": "x:1"})
    assert ev["phase"] == phase
    # the message keeps the builder's wording (the stock spawn page shows only messages)
    assert ev["message"] == f"{builder_phase}: Found built image x:1"
    assert set(ev) == {"phase", "progress", "message"}


def test_ready_hook_marks_jupyterhubs_ready_event() -> None:
    event = {"progress": 100, "ready": True, "message": "Server ready at /user/a/x/", "url": "/u"}
    assert ready_hook(None, event) == {**event, "phase": "ready"}
    assert VersaHubDockerSpawner().progress_ready_hook is ready_hook


async def test_progress_streams_events_as_they_come_until_the_start_ends() -> None:
    spawner = VersaHubDockerSpawner()
    spawner.user = SimpleNamespace(name="alice")
    spawner.orm_spawner = SimpleNamespace(name="progress-test", server=None, started=None)
    progress_module.begin("alice", "progress-test")
    spawner._spawn_future = asyncio.get_running_loop().create_future()
    seen: list[dict[str, Any]] = []

    async def follow() -> None:
        async for ev in spawner.progress():
            seen.append(ev)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    first = progress_event("waiting", "policy: allowed (spec abc)")
    spawner.add_event(first)
    for _ in range(50):  # woken by the event, not by a poll
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [first]
    spawner.add_event(progress_event("launching", "launching: starting the server x"))
    spawner._spawn_future.set_result(None)
    await asyncio.wait_for(task, 5)
    assert [ev["phase"] for ev in seen] == ["waiting", "launching"]


# -- nothing blocking on the event loop ----------------------------------------------------
@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    source_module._files.clear()
    return path


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reading the site file takes 0.3 s, as on a busy NFS server."""
    real = source_module.load_site

    def slow(path: Any) -> Any:
        time.sleep(0.3)
        return real(path)

    monkeypatch.setattr(source_module, "load_site", slow)
    yield


async def ticks_during(work: Any) -> tuple[Any, int]:
    """Run ``work`` while a 10 ms ticker runs on the same loop; count the ticks."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        return await work, ticks
    finally:
        done.set()
        await task


async def test_site_is_read_off_the_event_loop(site_file: Path, slow_disk: None) -> None:
    site, ticks = await ticks_during(site_source(site_file).get())
    assert str(site.state_dir).endswith("state")
    assert ticks >= 5  # the loop kept serving while the file was read


async def test_site_is_parsed_again_only_when_it_changed(site_file: Path) -> None:
    first = await site_source(site_file).get()
    assert await site_source(site_file).get() is first
    site_file.write_text(yaml.safe_dump({"state_dir": "/elsewhere/state"}))
    changed = await site_source(site_file).get()
    assert changed is not first and str(changed.state_dir) == "/elsewhere/state"


def test_prepare_folders_creates_missing_host_folders(tmp_path: Path) -> None:
    mounts = [SimpleNamespace(source=str(tmp_path / "volumes" / "home" / "alice"))]
    prepare_folders(mounts, 1000)
    prepare_folders(mounts, 1000)  # idempotent
    assert (tmp_path / "volumes" / "home" / "alice").is_dir()


async def test_launches_are_serialised_per_server_only() -> None:
    order: list[str] = []

    async def launch(key: tuple[str, str], tag: str, hold: float) -> None:
        async with LaunchHandler.serialised(key):
            order.append(f"{tag}+")
            await asyncio.sleep(hold)
            order.append(f"{tag}-")

    await asyncio.gather(
        launch(("alice", "a"), "a1", 0.05),
        launch(("alice", "a"), "a2", 0.0),
        launch(("alice", "b"), "b1", 0.0),
    )
    # a2 waited for a1; b1 (another server) did not
    assert order.index("a1-") < order.index("a2+")
    assert order.index("b1-") < order.index("a1-")
    assert LaunchHandler._locks == {}  # no lock outlives its launches
