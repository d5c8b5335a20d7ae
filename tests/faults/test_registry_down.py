"""Fault: the site's image registry is down — local images still launch, others fail clearly.

A site with ``registry.enabled`` (``FaultHub``: OPA, Debian's ``docker-registry`` on a free
loopback port with its own storage, the hub — as ``versahub up`` starts them). What the
product does (``versahub.images.builder.ImageBuilder.ensure`` → ``lookup.find_image``): the
local engine is asked first; only a local miss asks the registry (``HEAD`` of the manifest),
and a registry that cannot be reached is a failed image lookup, reported as
``image lookup failed: registry http://<address> unreachable: …`` — no build is started.
The registry process of the harness is killed (SIGKILL) for these tests.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    COMMIT,
    REPO,
    RUN,
    FaultHub,
    free_port,
    images_settings,
    remove_images,
    require_docker,
    seed_image,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ALICE = f"ft{RUN}alice"
MISSING = "fedcba9876543210fedcba9876543210fedcba98"  # a commit built nowhere


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultHub, str, str]]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-registry")
    registry = f"127.0.0.1:{free_port()}"
    prefix = f"{registry}/versahub-fault-{RUN}-registry/r2d-"
    hub = FaultHub(
        root,
        registry={"enabled": True, "address": registry, "storage_dir": str(root / "reg")},
        images=images_settings(root, prefix),
    )
    try:
        seed_image(hub.images_config(), REPO, COMMIT)  # in the local engine only
        hub.start()
        assert [c.name for c in hub.components] == ["opa", "registry", "hub"]
        token = hub.make_users(ALICE)[ALICE]
        hub.signal("registry", signal.SIGKILL)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{registry}/v2/", timeout=5)
        yield hub, token, registry
    finally:
        hub.stop()
        remove_images(prefix)


def test_registry_down_an_image_in_the_local_engine_still_launches(
    site: tuple[FaultHub, str, str],
) -> None:
    """Promised (issue 11: "registry down → launch falls back to the local image";
    docs/images.md: the local engine is asked first): with the registry stopped, a launch
    whose image is in the local engine is a local cache hit and the server becomes ready,
    reachable through the proxy; nothing is built or pulled."""
    hub, token, _ = site
    r = hub.launch_api(token, {"repo": REPO, "ref": COMMIT, "server_name": "local"})
    assert r.status_code in (200, 202), r.text
    done = hub.wait_launch(token, "local")
    assert done["status"] == "ready", done
    messages = [e.get("message", "") for e in done["events"]]
    assert any("Found built image" in m for m in messages), messages
    assert not [e for e in done["events"] if e.get("phase") in ("building", "pushing")]
    assert hub.through_proxy(ALICE, "local", token) == 200


def test_registry_down_an_image_not_in_the_local_engine_fails_clearly(
    site: tuple[FaultHub, str, str],
) -> None:
    """Promised (issue 11: "or fails with a clear message"; docs/spawning.md: an image that
    could not be had is ``502 {"status": "failed", "failed_phase": "building", "message":
    "The image could not be built: …"}``): with the registry stopped, a launch whose image
    is not in the local engine fails — never a 500 — with a message that names the
    unreachable registry, nothing is built, and no server entry or container is left."""
    hub, token, registry = site
    name = "remote"
    r = hub.launch_api(token, {"repo": REPO, "ref": MISSING, "server_name": name})
    doc = r.json()
    if r.status_code == 202:  # the start went on past the hub's slow-spawn wait
        doc = hub.wait_launch(token, name)
    else:
        assert r.status_code == 502, r.text
        assert doc.get("failed_phase") == "building", doc
    assert doc["status"] == "failed", doc
    message = doc["message"]
    assert message.startswith("The image could not be built: image lookup failed: "), message
    assert f"registry http://{registry} unreachable" in message, message
    phases = [e.get("phase") for e in hub.wait_launch(token, name, until=("failed",))["events"]]
    assert "building" not in phases, phases
    wait_for(lambda: name not in hub.servers(ALICE), 15, "no server entry left")
    assert hub.containers(owner=ALICE, server=name) == []
