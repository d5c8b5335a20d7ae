"""The launch page while the policy engine is down: said as it is, nothing started.

The hub fails closed (every decision is "denied: policy engine unavailable"); the page must
say that the policy engine is unavailable and to try later, never that the configuration is
not allowed or that the hub refused it. This module stops its own site's OPA, so it has a
site of its own (``conftest.web_hub`` is module-scoped).
"""

from __future__ import annotations

from typing import Any

import pytest
from page_helpers import REQS, dialog_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNAVAILABLE = "The site's policy engine is unavailable right now"


def test_policy_engine_down_is_said_as_such(web: Any) -> None:
    hub, page = web.hub, web.page
    web.login("carol")
    opa = next(c for c in hub.components if c.name == "opa")
    opa.process.terminate()
    opa.process.wait(timeout=30)

    page.goto(f"{hub.url}/hub/home")
    page.wait_for_function("document.body.dataset.catalogueChecked === 'true'")
    page.click("#vh-choose")
    notes = page.locator(".vh-unavailable")
    assert set(notes.all_inner_texts()) == {
        "Not available right now: the policy engine is unavailable (try again later)."
    }
    assert all(b.is_disabled() for b in page.locator(".vh-use").all())

    page.click("#vh-create")
    page.fill("#f-repo", REQS)
    page.wait_for_function(
        f"document.getElementById('vh-check-state').textContent.startsWith({UNAVAILABLE!r})"
    )
    page.click("#vh-launch")
    page.wait_for_selector("#vh-form-error:not([hidden])")
    assert page.locator("#vh-form-error").inner_text().startswith(UNAVAILABLE)
    assert "try again" in page.locator("#vh-form-error").inner_text().lower()
    assert not dialog_open(page)
    assert page.locator("#vh-progress").is_hidden()
    text = page.locator("main").inner_text().lower()
    assert "refused" not in text and "not allowed" not in text
    web.shot("policy-unavailable", full_page=True)

    # The launch API answers the same (503 "unavailable"), and nothing was created.
    session = hub.login("carol")
    r = session.post(
        f"{hub.url}/hub/api/versahub/launch", json={"spec": {"repo": REQS}}, timeout=30
    )
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    servers = session.get(f"{hub.url}/hub/api/users/carol?include_stopped_servers=1", timeout=10)
    assert [name for name in servers.json()["servers"] if name] == []
    assert not web.js_dialogs
