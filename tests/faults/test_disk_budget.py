"""Fault: the images' disk budget is reached — the least recently used unused images go.

A real site (``FaultHub``) with ``images.disk_budget`` in site.yaml and a unique image
prefix. Four images of this run are seeded under the site's names (cache hits; each one
layer of random bytes over the base image, so its unique size is known), and the site's
last-used index (``<cache_dir>/images/last-used.json``) dates them back, oldest first:

| image | unique size | last used | state |
| --- | --- | --- | --- |
| ``running`` | 16 MiB | 5 h ago | alice's server runs from it |
| ``stopped`` | 16 MiB | 4 h ago | alice's server was started from it, then stopped |
| ``unused-old`` | 64 MiB | 3 h ago | no server |
| ``unused-new`` | 16 MiB | 1 h ago | no server |

The budget is 72 MiB. A launch of a repository that is not built yet (a small Dockerfile
repository on a loopback HTTPS git server) builds a fifth image; after the build the hub
prunes (``versahub.images.builder``: in the background, after ``ready``). Whatever the
stopped server's image counts as, removing ``unused-old`` is needed and enough to get
within budget; ``unused-new`` stays.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    REPO,
    RUN,
    FaultHub,
    git_https,
    image_exists,
    images_settings,
    prefix_images,
    remove_images,
    require_docker,
    seed_image,
    wait_for,
)

from versahub.images.prune import LastUsedIndex

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PREFIX = f"versahub-fault-{RUN}-budget/r2d-"
ALICE = f"ft{RUN}alice"
HOUR = 3600.0
# name: (commit, unique MiB, hours since last use)
SEEDED = {
    "running": ("1" * 40, 16, 5),
    "stopped": ("2" * 40, 16, 4),
    "unused-old": ("3" * 40, 64, 3),
    "unused-new": ("4" * 40, 16, 1),
}
BUDGET = "72M"


@dataclass
class Pruned:
    hub: FaultHub
    refs: dict[str, str]
    built: str
    present: dict[str, bool]


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pruned]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-disk-budget")
    try:
        with git_https(root) as (git, env):
            repo = git.repo("dockerfile", name=f"fresh-{RUN}")
            hub = FaultHub(
                root,
                policy={"allowed_internal_hosts": ["127.0.0.1"]},
                images=images_settings(root, PREFIX, disk_budget=BUDGET),
                env=env,
            )
            try:
                config = hub.images_config()
                assert config.disk_budget == 72 << 20
                with ThreadPoolExecutor(4) as pool:
                    futures = {
                        name: pool.submit(seed_image, config, REPO, commit, blob_mib=mib)
                        for name, (commit, mib, _) in SEEDED.items()
                    }
                    refs = {name: f.result() for name, f in futures.items()}
                hub.start()
                token = hub.make_users(ALICE)[ALICE]
                hub.launch_all(
                    token,
                    [
                        {"repo": REPO, "ref": SEEDED[name][0], "server_name": name}
                        for name in ("running", "stopped")
                    ],
                )
                hub.stop_server(ALICE, "stopped")
                # the launches recorded a use of their images just now: date every image back
                index = LastUsedIndex.for_config(config)
                now = time.time()
                for name, (_, _, hours) in SEEDED.items():
                    index.touch(refs[name], when=now - hours * HOUR)

                # a build: the hub prunes after it
                r = hub.launch_api(token, {"repo": repo.url, "ref": "main", "server_name": "new"})
                assert r.status_code in (200, 202), r.text
                done = hub.wait_launch(token, "new", timeout=300)
                assert done["status"] == "ready", done
                assert "building" in [e.get("phase") for e in done["events"]]
                (built,) = [p for p in prefix_images(PREFIX) if p.endswith(f":{repo.head}")]
                wait_for(lambda: not image_exists(refs["unused-old"]), 90, "the prune")
                time.sleep(3)  # a prune runs up to 5 rounds: let it finish
                present = {name: image_exists(ref) for name, ref in refs.items()}
                present["built"] = image_exists(built)
                yield Pruned(hub, refs, built, present)
            finally:
                hub.stop()
    finally:
        remove_images(PREFIX)


def test_disk_budget_removes_lru_unused_images_and_keeps_running_ones(pruned: Pruned) -> None:
    """Promised (docs/images.md "Disk budget"; issue 11: "disk budget reached → least
    recently used unused images removed, running ones kept"): after a build on a site over
    its ``images.disk_budget``, the least recently used image that no server uses is
    removed; the image of a running server stays although it is the least recently used of
    all; a more recently used unused image stays once the total is within budget; the image
    just built stays."""
    present = pruned.present
    assert present["unused-old"] is False, present
    assert present["running"] is True, present
    assert present["unused-new"] is True, present
    assert present["built"] is True, present
    # the running server is untouched
    assert pruned.hub.containers(running_only=True, owner=ALICE, server="running")


def test_disk_budget_keeps_the_image_of_a_stopped_server(pruned: Pruned) -> None:
    """Promised (docs/images.md "Disk budget", "Never removed"): the image of a stopped
    persistent server is kept (it is needed again when the server restarts; only deleting
    the server releases it), even when it is older than the unused images removed."""
    assert pruned.present["stopped"] is True, pruned.present
