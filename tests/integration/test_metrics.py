"""The hub's Prometheus metrics: VersaHub's join JupyterHub's at ``/hub/metrics``.

A real site (started as ``versahub up`` starts it) is scraped before and after a denied
launch and a launch that starts a server from a cached image; the text parses with
``prometheus_client``'s own parser and the counters move by exactly what happened.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.federation, pytest.mark.slow]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(tmp_path_factory.mktemp("metrics")).start()
    try:
        yield hub
    finally:
        hub.stop()


def scrape(hub: HubUnderTest) -> Samples:
    r = hub.api("GET", "/../metrics")  # /hub/metrics, with the admin's token
    assert r.status_code == 200, r.text[:300]
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_move_with_launches(hub: HubUnderTest) -> None:
    before = scrape(hub)
    assert ("jupyterhub_running_servers", ()) in before  # JupyterHub's own, same endpoint
    assert value(before, "versahub_public_copies") == 0.0
    token = hub.user_token("alice")

    denied = hub.api("POST", "/versahub/launch", token=token, json={"spec": {
        "repo": REPO, "ref": COMMIT,
        "mounts": [{"volume": "teaching", "path": "/home/jovyan/t", "mode": "rw"}]}})  # fmt: skip
    assert denied.status_code == 403, denied.text
    answer, done = hub.launch_and_follow(token, {"repo": REPO, "ref": COMMIT,
                                                 "server_name": "metered"})  # fmt: skip
    assert done.get("status") == "ready", (answer.text, done)
    after = scrape(hub)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # denied once; the launch asked twice (the API, then the spawner again before starting)
    assert delta("versahub_policy_decisions_total", result="denied") == 1
    assert delta("versahub_policy_decisions_total", result="allowed") >= 2
    assert delta("versahub_policy_findings_total", rule="volume-write-forbidden",
                 kind="deny") == 1  # fmt: skip
    assert delta("versahub_policy_decision_seconds_count") == sum(
        delta("versahub_policy_decisions_total", result=r)
        for r in ("allowed", "denied", "unavailable")
    )
    assert delta("versahub_launches_total", outcome="ready", reason="none") == 1
    assert delta("versahub_images_total", source="local") == 1  # a cache hit
    assert value(after, "jupyterhub_running_servers") >= 1
