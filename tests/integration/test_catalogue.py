"""The catalogue page and its exchange API on a real hub (started as ``versahub up``).

Two people launch the same repository (one of them with a private mount and a
collaborator) through the launch API; with ``popular.min_users: 2`` the configuration
then appears on the catalogue page — its public part only — next to the curated entry;
the filters work; the exchange document validates against its JSON Schema.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import page_screenshot
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

from versahub.site.catalogue import exchange_schema

pytestmark = [pytest.mark.integration, pytest.mark.federation, pytest.mark.slow]

CURATED = {"id": "pandas", "title": "Pandas introduction", "description": "Data frames",
           "tags": ["python", "data"], "spec": {"repo": REPO, "ref": COMMIT}}  # fmt: skip
PRIVATE = {"repo": REPO, "ref": COMMIT, "urlpath": "lab/tree/index.ipynb",
           "mounts": [{"volume": "teaching", "path": "/home/jovyan/teaching", "mode": "ro"}],
           "collaborators": ["carol"]}  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(tmp_path_factory.mktemp("catalogue"))
    hub.doc["catalogue"] = [CURATED]
    hub.doc["popular"] = {"min_users": 2}
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def page(hub: HubUnderTest, session: Any, **query: str) -> str:
    r = session.get(f"{hub.url}/hub/versahub/catalogue", params=query, timeout=20)
    assert r.status_code == 200, r.text[:300]
    return html.unescape(r.text)


def test_popular_configurations_appear_after_enough_people(hub: HubUnderTest) -> None:
    alice = hub.login("alice")
    before = page(hub, alice)
    assert "Pandas introduction" in before and 'data-kind="popular"' not in before

    _, done = hub.launch_and_follow(hub.user_token("alice"), {**PRIVATE, "server_name": "a1"})
    assert done.get("status") == "ready", done
    assert 'data-kind="popular"' not in page(hub, alice)  # one person: not yet
    _, done = hub.launch_and_follow(
        hub.user_token("bob"),
        {"repo": REPO, "ref": COMMIT, "urlpath": "lab/tree/index.ipynb", "server_name": "b1"},
    )
    assert done.get("status") == "ready", done

    shown = page(hub, alice)
    assert shown.count('data-kind="popular"') == 1
    assert "2 people, 2 launches" in shown
    assert shown.count("built 20") == 2  # both are pinned to the commit of a cached image
    assert "/home/jovyan/teaching" not in shown and "carol" not in shown  # personal fields
    assert page(hub, alice, tag="python").count("vh-catalogue-entry") == 1  # curated only
    assert page(hub, alice, q="no-such-words").count("vh-catalogue-entry") == 0
    assert page(hub, alice, provider="gh").count("vh-catalogue-entry") == 2

    doc = hub.api("GET", "/versahub/catalogue").json()
    import jsonschema

    jsonschema.Draft202012Validator(exchange_schema()).validate(doc)
    assert [e["kind"] for e in doc["entries"]] == ["curated", "popular"]
    popular = doc["entries"][1]
    assert popular["spec"]["urlpath"] == "lab/tree/index.ipynb"
    assert "mounts" not in popular["spec"] and "collaborators" not in popular["spec"]
    page_screenshot(f"{hub.url}/hub/versahub/catalogue", alice, "catalogue",
                    selector=".vh-catalogue-entry", exactly=2, height=900)  # fmt: skip
