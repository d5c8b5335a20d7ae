"""Accounting on a real hub: a server that burns one CPU for a known time shows up in
``versahub usage`` within 20 % of that time (Docker stats sampled by the hub's service)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import page_screenshot, wait_for
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

from versahub.images.engine import docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.federation, pytest.mark.slow]
BURN = 6.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(tmp_path_factory.mktemp("accounting"))
    hub.doc["hub"]["groups"] = {"lab": ["alice"]}
    # a tiny monthly quota: once the burn is accounted, the policy warns about it
    hub.doc["accounting"] = {"sample_every": 1, "quotas": {"lab": {"cpu_hours": 0.001}}}
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def used(hub: HubUnderTest, user: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "versahub", "usage", "--user", user, "--json",
         "--site", str(hub.site_file)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = json.loads(done.stdout)["users"]
    return rows[0] if rows else {"cpu_seconds": 0.0, "server_hours": 0.0, "memory_gib_hours": 0.0}


def test_cpu_burnt_in_a_server_is_accounted(hub: HubUnderTest) -> None:
    spec = {"repo": REPO, "ref": COMMIT, "server_name": "burner"}
    _, done = hub.launch_and_follow(hub.user_token("alice"), spec)
    assert done.get("status") == "ready", done
    (box,) = hub.containers(running_only=True, owner="alice", server="burner")
    # the sampler has a baseline and has written a first row
    wait_for(lambda: used(hub, "alice")["server_hours"] > 0, 30, "a first usage row")
    time.sleep(2)
    before = used(hub, "alice")
    burn = subprocess.run(
        [docker_cli(), "exec", box, "timeout", str(BURN), "python3", "-c", "while True: pass"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert burn.returncode == 124  # stopped by timeout after BURN seconds of busy loop
    time.sleep(3)  # at least two more samples
    after = used(hub, "alice")
    cpu = after["cpu_seconds"] - before["cpu_seconds"]
    assert BURN * 0.8 <= cpu <= BURN * 1.2, (before, after)
    assert after["server_hours"] > before["server_hours"]
    assert after["memory_gib_hours"] > 0

    # the group's quota is used up: OPA sees this month's usage and warns
    token = hub.user_token("alice")
    check = hub.api("POST", "/versahub/check", token=token,
                    json={"spec": {"repo": REPO, "ref": COMMIT}}).json()  # fmt: skip
    warned = {f["id"]: f["message"] for f in check["decision"]["warn"]}
    assert 'Your group "lab" has used its monthly quota of cpu_hours' in warned["quota-exceeded"]
    # and the hub's metrics show the group's usage this month
    from prometheus_client.parser import text_string_to_metric_families

    text = hub.api("GET", "/../metrics").text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip
    cpu_hours = samples[("versahub_usage_month", (("group", "lab"), ("measure", "cpu_hours")))]
    assert cpu_hours * 3600 >= BURN * 0.8


def test_admins_see_usage_per_group_as_a_chart(hub: HubUnderTest) -> None:
    """After the burn above: the admin page draws one line per group (server-side SVG)
    and lists alice; a non-admin is refused. Screenshot for docs/img (make screenshots)."""
    assert hub.login("alice").get(f"{hub.url}/hub/versahub/usage", timeout=20).status_code == 403
    admin = hub.login("admin")
    page_r = admin.get(f"{hub.url}/hub/versahub/usage", timeout=20)
    assert page_r.status_code == 200 and "<polyline" in page_r.text and ">alice<" in page_r.text
    assert "<script" not in page_r.text.split('id="vh-usage"')[1].split("</main>")[0]
    page_screenshot(
        f"{hub.url}/hub/versahub/usage?days=7",
        admin,
        "usage",
        selector="svg.vh-usage-chart polyline",
    )
