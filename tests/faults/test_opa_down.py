"""Fault: the policy engine (OPA) stopped or hung — the site fails closed, then recovers.

A real site (``FaultHub``: OPA, JupyterHub + proxy, started as ``versahub up`` does; launches
are cache hits of a seeded image, no network). The OPA process of the harness is killed
(SIGKILL) or frozen (SIGSTOP); afterwards it is started again with the product's
``versahub.app.up.start_opa`` on the same address, or thawed (SIGCONT). The hub process is
never restarted (its pid is checked).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import (
    COMMIT,
    REPO,
    RUN,
    UNAVAILABLE,
    FaultHub,
    images_settings,
    remove_images,
    require_docker,
    seed_image,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PREFIX = f"versahub-fault-{RUN}-opa/r2d-"
ALICE, BOB = f"ft{RUN}alice", f"ft{RUN}bob"
SPEC = {"repo": REPO, "ref": COMMIT}
OPA_TIMEOUT = 2.0  # site.yaml opa.timeout of the test site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultHub, dict[str, str]]]:
    require_docker()
    root = tmp_path_factory.mktemp("fault-opa")
    hub = FaultHub(root, images=images_settings(root, PREFIX))
    try:
        seed_image(hub.images_config(), REPO, COMMIT)
        hub.start()
        tokens = hub.make_users(ALICE, BOB)
        # a server that runs through the outages, and a stopped one with a stored spec
        hub.launch_all(tokens[ALICE], [{**SPEC, "server_name": n} for n in ("steady", "paused")])
        hub.stop_server(ALICE, "paused")
        yield hub, tokens
    finally:
        hub.stop()
        remove_images(PREFIX)


def assert_unavailable(hub: FaultHub, tokens: dict[str, str], name: str) -> float:
    """Every entry point refuses with "policy engine unavailable"; nothing is created.
    Returns the launch API's answer time."""
    before = set(hub.servers(BOB))
    t0 = time.monotonic()
    r = hub.launch_api(tokens[BOB], {**SPEC, "server_name": name})
    took = time.monotonic() - t0
    assert r.status_code == 503, r.text
    doc = r.json()
    assert doc["status"] == "unavailable", doc
    assert "policy engine unavailable" in doc["message"].lower(), doc
    assert [f["id"] for f in doc["decision"]["deny"]] == [UNAVAILABLE], doc
    assert doc["decision"]["allowed"] is False
    # the check API (what the launch page previews) says so too
    check = hub.api("POST", "/versahub/check", token=tokens[BOB], json={"spec": SPEC}).json()
    assert check["decision"]["allowed"] is False, check
    assert [f["id"] for f in check["decision"]["deny"]] == [UNAVAILABLE], check
    assert check["confirmation"] is None and check["trusted"] is False
    # JupyterHub's own REST API (a spec in user_options) is refused by the spawner
    rest = hub.api(
        "POST", f"/users/{BOB}/servers/{name}-rest", token=tokens[BOB],
        json={"user_options": {"spec": SPEC}},
    )  # fmt: skip
    assert rest.status_code == 503, rest.text
    assert "policy engine unavailable" in rest.text.lower(), rest.text
    # ... and a restart of a stopped server with its stored spec
    again = hub.api("POST", f"/users/{ALICE}/servers/paused", token=tokens[ALICE])
    assert again.status_code == 503, again.text
    # nothing was created or started
    wait_for(lambda: set(hub.servers(BOB)) == before, 15, "no server entry left for bob")
    assert hub.containers(owner=BOB, server=name) == []
    assert hub.containers(owner=BOB, server=f"{name}-rest") == []
    assert not hub.containers(running_only=True, owner=ALICE, server="paused")
    return took


def assert_running_untouched(hub: FaultHub, tokens: dict[str, str]) -> None:
    server = hub.servers(ALICE)["steady"]
    assert server["ready"] and not server["pending"], server
    assert hub.through_proxy(ALICE, "steady", tokens[ALICE]) == 200
    assert len(hub.containers(running_only=True, owner=ALICE, server="steady")) == 1


def assert_launches_again(hub: FaultHub, tokens: dict[str, str], name: str) -> dict[str, Any]:
    r = hub.launch_api(tokens[BOB], {**SPEC, "server_name": name})
    assert r.status_code in (200, 202), r.text
    done = hub.wait_launch(tokens[BOB], name)
    assert done["status"] == "ready", done
    assert hub.through_proxy(BOB, name, tokens[BOB]) == 200
    return done


def test_opa_killed_every_launch_denied_then_recovers_without_hub_restart(
    site: tuple[FaultHub, dict[str, str]],
) -> None:
    """Promised (DESIGN.md "Fail closed", docs/spawning.md launch API table): with OPA
    stopped, every launch — launch API, JupyterHub's REST API, the restart of a stored
    server — is denied with "policy engine unavailable" (503, ``status: unavailable``, the
    ``policy-engine-unavailable`` finding), the check API says so too, nothing is created,
    and running servers stay reachable through the proxy. Once OPA is started again on the
    same address (``versahub.app.up.start_opa``), launches work again without a hub restart.
    """
    hub, tokens = site
    hub_pid = hub.component("hub").process.pid
    hub.signal("opa", signal.SIGKILL)

    assert_unavailable(hub, tokens, "down")
    assert_running_untouched(hub, tokens)

    hub.restart_opa()
    assert_launches_again(hub, tokens, "after-kill")
    assert hub.component("hub").process.pid == hub_pid  # the same hub process
    assert hub.component("hub").process.poll() is None


def test_opa_hung_every_launch_denied_within_the_timeout_then_recovers(
    site: tuple[FaultHub, dict[str, str]],
) -> None:
    """Promised (DESIGN.md "Fail closed": "slow past its timeout" means denied): with OPA
    frozen (SIGSTOP: connections are accepted, nothing answers), every launch is denied with
    "policy engine unavailable" within about ``opa.timeout`` (never hanging the launch, never
    allowed), running servers stay reachable, and once OPA answers again (SIGCONT) launches
    work again without a hub restart.
    """
    hub, tokens = site
    hub_pid = hub.component("hub").process.pid
    hub.signal("opa", signal.SIGSTOP)
    try:
        took = assert_unavailable(hub, tokens, "hung")
        # the check API answers first (one decision), then the launch: each within the
        # timeout, plus the hub's own work
        assert took < OPA_TIMEOUT * 2 + 5, f"the launch API answered after {took:.1f} s"
        assert_running_untouched(hub, tokens)
    finally:
        hub.signal("opa", signal.SIGCONT)
    assert_launches_again(hub, tokens, "after-hang")
    assert hub.component("hub").process.pid == hub_pid
