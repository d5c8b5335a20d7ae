"""Fault: the hub restarted — what users set up survives in the state folder.

A real site (``FaultHub``; cached image, no network). Alice has a running named server shared
with a collaborator (bob), a stopped named server with a public read-only link, and a
trusted ("don't ask again") configuration. Then the hub component is stopped and started again with
the product's functions (``versahub.app.up.stop_components`` / ``start_hub``), same
``site.yaml`` and state folder; OPA keeps running.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    COMMIT,
    REPO,
    RUN,
    FaultHub,
    images_settings,
    remove_images,
    require_docker,
    seed_image,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PREFIX = f"versahub-fault-{RUN}-hubrestart/r2d-"
ALICE, BOB = f"ft{RUN}alice", f"ft{RUN}bob"
# running at the restart, shared with bob
SHARED = {
    "repo": REPO, "ref": COMMIT, "server_name": "shared", "collaborators": [BOB],
    "urlpath": "lab/tree/index.ipynb",
}  # fmt: skip
# stopped at the restart, with a public read-only link
PAUSED = {"repo": REPO, "ref": COMMIT, "server_name": "paused", "public_readonly": True}
# a configuration with warnings (an unknown repository), trusted with "don't ask again"
TRUSTED = {"repo": "https://github.com/someone/untrusted-analysis", "ref": COMMIT}


@dataclass
class Restarted:
    hub: FaultHub
    tokens: dict[str, str]
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def user_options(hub: FaultHub, user: str) -> dict[str, Any]:
    """Every named server of ``user`` (stopped ones too) and its stored ``user_options``."""
    model = hub.api("GET", f"/users/{user}?include_stopped_servers=1").json()
    return {name: s.get("user_options") for name, s in model["servers"].items() if name}


def snapshot(hub: FaultHub, tokens: dict[str, str]) -> dict[str, Any]:
    shared = hub.api("GET", f"/users/{BOB}/shared", token=tokens[BOB]).json()
    trust = hub.api("GET", "/versahub/trust", token=tokens[ALICE]).json()
    check = hub.api("POST", "/versahub/check", token=tokens[ALICE], json={"spec": TRUSTED})
    return {
        "servers": user_options(hub, ALICE),
        "shared_with_bob": sorted(
            (s["server"]["user"]["name"], s["server"]["name"]) for s in shared["items"]
        ),
        "trusted": {t["spec_id"]: t["warn_ids"] for t in trust["trusted"]},
        "check_trusted": check.json()["trusted"],
    }


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-hub-restart")
    hub = FaultHub(root, images=images_settings(root, PREFIX))
    try:
        seed_image(hub.images_config(), REPO, COMMIT)
        hub.start()
        tokens = hub.make_users(ALICE, BOB)
        state = Restarted(hub, tokens)
        hub.launch_all(tokens[ALICE], [SHARED, PAUSED])
        hub.stop_server(ALICE, "paused")
        assert hub.through_proxy(ALICE, "shared", tokens[BOB]) == 200  # the share works
        trusted = hub.api("POST", "/versahub/trust", token=tokens[ALICE], json={"spec": TRUSTED})
        assert trusted.status_code == 201, trusted.text
        assert trusted.json()["warn_ids"], trusted.json()  # it had warnings to accept
        state.before = snapshot(hub, tokens)
        assert state.before["servers"]["shared"]["spec"]["collaborators"] == [BOB]
        assert state.before["shared_with_bob"] == [(ALICE, "shared")]
        assert state.before["check_trusted"] is True

        hub.restart_hub()

        state.after = snapshot(hub, tokens)
        # what became of the server that was running, right after the restart
        state.after["shared_model"] = (
            hub.api("GET", f"/users/{ALICE}").json()["servers"].get("shared")
        )
        state.after["shared_containers"] = hub.containers(
            running_only=True, owner=ALICE, server="shared"
        )
        yield state
    finally:
        hub.stop()
        remove_images(PREFIX)


def test_hub_restart_keeps_servers_specs_shares_trust_and_public_links(
    restarted: Restarted,
) -> None:
    """Promised (issue 11 item 3; docs/deploy-ansible.md "Backup": the hub database holds
    users, named servers, their specs and shares; docs/architecture.md: the trust store is a
    file under the state folder): after a hub restart the named servers (running and stopped
    before) are still there with the very specs they were launched with, bob still has his
    share of alice's server, alice's "don't ask again" choice still covers its
    configuration, the public link of a ``public_readonly`` server still answers (and a
    private server's still does not), and the servers start again from their stored specs
    (no "differs"), the collaborator reaching the shared one through the proxy.
    """
    hub, tokens = restarted.hub, restarted.tokens
    before, after = restarted.before, restarted.after
    assert after["servers"] == before["servers"]
    assert set(after["servers"]) == {"shared", "paused"}
    assert after["shared_with_bob"] == before["shared_with_bob"] == [(ALICE, "shared")]
    assert after["trusted"] == before["trusted"]
    assert after["check_trusted"] is True
    # public links: the public server's link exists, a private server has none
    anonymous = requests.Session()
    private = anonymous.get(
        f"{hub.url}/hub/versahub/public/{ALICE}/shared", allow_redirects=False, timeout=60
    )
    assert private.status_code == 404, private.status_code
    public = anonymous.get(
        f"{hub.url}/hub/versahub/public/{ALICE}/paused", allow_redirects=False, timeout=60
    )
    assert public.status_code in (200, 302, 303), public.status_code
    # the stored specs launch as they are (no "differs"), with their shares
    hub.launch_all(tokens[ALICE], [SHARED, PAUSED])
    assert hub.through_proxy(ALICE, "shared", tokens[BOB]) == 200
    assert user_options(hub, ALICE) == before["servers"]


def test_hub_restart_leaves_running_servers_running(restarted: Restarted) -> None:
    """Promised (docs/deploy-ansible.md, "Upgrade"): running servers keep running across a
    hub restart — right after the restart, the server that ran before it is still ready
    and its container still runs, without a new start."""
    after = restarted.after
    assert (after["shared_model"] or {}).get("ready") is True, after["shared_model"]
    assert after["shared_containers"], "its container is gone"
