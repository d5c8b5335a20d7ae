"""The launch API and the stock spawn paths: honest answers, and refusals leave nothing behind.

A real hub started as ``versahub up`` starts it (``spawn_support``), real OPA with the
shipped policies, real Docker. Each refusal is checked for leftovers: the user's server
list is as it was, and no container exists.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.docker]

SPEC = {"repo": REPO, "ref": COMMIT}
UNREACHABLE = "https://127.0.0.1:9/nothing-listens-here.git"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(
        tmp_path_factory.mktemp("launch-api"), policy={"allowed_internal_hosts": ["127.0.0.1"]}
    ).start()
    # the people of these tests (the demo login is not needed: they use tokens)
    made = hub.api("POST", "/users", json={"usernames": ["dave", "erin", "frank"]})
    assert made.status_code in (201, 409), made.text
    try:
        yield hub
    finally:
        hub.stop()


def servers(hub: HubUnderTest, user: str) -> set[str]:
    return set(hub.api("GET", f"/users/{user}").json().get("servers", {}))


def containers(user: str, name: str) -> list[str]:
    """Containers of ``user/name`` (other hubs of the test run have their own names)."""
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.versahub.owner={user}",
         "--filter", f"label=org.versahub.server={name}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def launch(hub: HubUnderTest, token: str, body: dict[str, Any]) -> requests.Response:
    return hub.api("POST", "/versahub/launch", token=token, json=body, timeout=120)


def wait_launch(hub: HubUnderTest, token: str, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = hub.api("GET", f"/versahub/launch/{name}", token=token).json()
        if doc.get("status") in ("ready", "failed"):
            return doc
        time.sleep(0.3)
    raise TimeoutError(name)


def wait_gone(hub: HubUnderTest, user: str, name: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in servers(hub, user):
            return
        time.sleep(0.2)
    raise AssertionError(f"{user}/{name} is still listed: {servers(hub, user)}")


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        pytest.param({"spec": {"repo": "ext::sh -c evil"}}, 400, "invalid", id="invalid-repo"),
        pytest.param(
            {"spec": {**SPEC, "resources": {"memory": "64G"}}}, 403, "denied", id="denied"
        ),
        pytest.param(
            {"spec": {"repo": "https://github.com/someone/unknown", "ref": COMMIT}},
            409,
            "confirmation-required",
            id="unconfirmed",
        ),
        pytest.param(
            {
                "spec": {"repo": "https://github.com/someone/unknown", "ref": COMMIT},
                "confirmation": "0" * 64,
            },
            409,
            "confirmation-required",
            id="wrong-confirmation",
        ),
    ],
)
def test_launch_api_refusals_leave_nothing(
    hub: HubUnderTest, body: dict[str, Any], status: int, kind: str
) -> None:
    bob = hub.user_token("bob")
    before = servers(hub, "bob")
    name = f"r-{kind}"
    r = launch(hub, bob, {**body, "spec": {**body["spec"], "server_name": name}})
    assert r.status_code == status, r.text
    assert r.json()["status"] == kind
    if kind == "invalid":
        assert r.json()["error"]["field"] == "repo"
    assert servers(hub, "bob") == before
    assert containers("bob", name) == []


def test_a_failed_image_is_a_build_failure_and_leaves_no_entry(hub: HubUnderTest) -> None:
    carol = hub.user_token("carol")
    spec = {"repo": UNREACHABLE, "server_name": "broken"}
    r = launch(hub, carol, {"spec": spec, "confirmation": hub.confirmation(spec, "carol")})
    doc = r.json()
    if r.status_code == 202:  # the start went on past the hub's slow-spawn wait
        doc = wait_launch(hub, carol, "broken")
    else:
        assert r.status_code == 502, r.text
    assert doc["status"] == "failed", doc
    assert "The image could not be built" in doc["message"], doc
    wait_gone(hub, "carol", "broken")
    assert containers("carol", "broken") == []
    # the failure stays readable for the page after the entry is gone
    after = hub.api("GET", "/versahub/launch/broken", token=carol).json()
    assert after["status"] == "failed" and "could not be built" in after["message"]


def test_stock_rest_refusals_do_not_use_up_the_named_server_limit(hub: HubUnderTest) -> None:
    # 25 refused starts through JupyterHub's own REST API (limit: 20 named servers)
    for i in range(25):
        r = hub.launch("dave", f"nope{i}", {**SPEC, "resources": {"memory": "64G"}},
                       confirm=False)  # fmt: skip
        assert r.status_code == 403, r.text
    for i in range(25):
        wait_gone(hub, "dave", f"nope{i}")
    r = hub.launch("dave", "works", SPEC)
    assert r.status_code in (201, 202), r.text
    assert servers(hub, "dave") == {"works"}
    hub.stop_server("dave", "works")


def test_a_get_of_the_stock_spawn_url_creates_nothing(hub: HubUnderTest) -> None:
    erin = hub.user_token("erin")
    before = servers(hub, "erin")
    r = requests.get(
        f"{hub.url}/hub/spawn/erin/fromlink",
        params={"repo": "https://github.com/someone/miner", "internet": "true"},
        headers={"Authorization": f"token {erin}"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code < 500, r.text
    wait_gone(hub, "erin", "fromlink")
    assert servers(hub, "erin") == before
    assert containers("erin", "fromlink") == []


def test_the_same_configuration_without_a_name_opens_the_existing_server(
    hub: HubUnderTest,
) -> None:
    frank = hub.user_token("frank")
    body = {"spec": SPEC, "confirmation": hub.confirmation(SPEC, "frank")}
    first = launch(hub, frank, body)
    assert first.status_code in (200, 202), first.text
    assert first.json()["status"] in ("ready", "starting")
    name = first.json()["server_name"]
    assert wait_launch(hub, frank, name)["status"] == "ready"
    # ready means ready: the server answers through the proxy
    status = requests.get(f"{hub.url}/user/frank/{name}/api/status",
                          headers={"Authorization": f"token {frank}"}, timeout=10)  # fmt: skip
    assert status.status_code == 200
    # the server has no Linux capabilities, even the ones Docker grants by default
    caps = hub.exec(hub.container("frank", name), "print(open('/proc/1/status').read())")
    # the bounding set: what any process of the container could ever gain (root included)
    eff = [line for line in caps.stdout.splitlines() if line.startswith("CapBnd:")]
    assert eff and int(eff[0].split()[1], 16) == 0, caps.stdout
    again = launch(hub, frank, body)
    assert again.status_code == 200 and again.json()["server_name"] == name
    hub.stop_server("frank", name)
    # stopped: the same configuration starts that server again, no second one
    third = launch(hub, frank, body)
    assert third.json()["server_name"] == name, third.text
    assert wait_launch(hub, frank, name)["status"] == "ready"
    assert servers(hub, "frank") == {name}
    hub.stop_server("frank", name)
