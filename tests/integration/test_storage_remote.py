"""``storage.remote`` on a hub started as ``versahub up`` starts it: while the storage host's
marker is missing from ``<state_dir>/volumes`` a launch that mounts a volume is refused with
the reason, through the REST launch API and JupyterHub's own server API, and nothing is
made in the empty folder; with the marker back the same launch starts. (The multi-host test,
tests/integration/test_multihost.py, removes a real mount on a deployed hub.)"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

from versahub.launch.storage import STORAGE_MARKER

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    site = HubUnderTest(tmp_path_factory.mktemp("storage-remote"))
    if not site.spawning:
        pytest.skip("needs docker0 for servers to reach the hub")
    site.doc["storage"] = {"remote": True}
    site.start()
    try:
        yield site
    finally:
        site.remove_containers()
        site.stop()


def test_a_launch_without_the_storage_marker_is_refused_and_makes_nothing(
    hub: HubUnderTest,
) -> None:
    volumes = hub.paths.state / "volumes"
    volumes.mkdir(exist_ok=True)
    token = hub.user_token("alice")
    spec = {"repo": REPO, "ref": COMMIT, "server_name": "lost"}
    r, progress = hub.launch_and_follow(token, spec, timeout=120)
    text = r.text + str(progress)
    assert progress.get("status") != "ready", text
    assert "the volume storage is not mounted on this host" in text, text + hub.tail()
    assert sorted(p.name for p in volumes.iterdir()) == []
    assert hub.containers(**{"org.versahub.owner": "alice"}) == []
    assert "lost" not in (hub.api("GET", "/users/alice").json().get("servers") or {})
    (volumes / STORAGE_MARKER).write_text("VersaHub volume folders on the test\n")
    r, progress = hub.launch_and_follow(token, spec, timeout=120)
    assert progress.get("status") == "ready", r.text + str(progress) + hub.tail()
    assert (volumes / "home" / "alice").is_dir()
    hub.stop_server("alice", "lost")
