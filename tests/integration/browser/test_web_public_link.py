"""The owner's public link in *My servers*: shown, copied, revoked.

A server launched with public read-only access has a *Public link* row under it: the
address of ``/hub/versahub/public/<owner>/<server>`` with *Copy* and *Revoke*. *Revoke*
(``DELETE /hub/api/versahub/public/<server>``, after a confirm) turns public access off:
the link answers 404 and the live copies stop.

Needs Docker: the image of the test repository is seeded into the local cache
(``spawn_support.seed_cached_image``), so the launches are cache hits without any network.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest import Watched
from page_helpers import REQS

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.docker]


def _open_copy(link: str) -> requests.Response:
    """An anonymous visitor opens a copy: the page, then its button (a POST)."""
    visitor = requests.Session()
    page = visitor.get(link, timeout=30)
    assert page.status_code == 200, page.text[:300]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return visitor.post(link, data=fields, allow_redirects=False, timeout=60)


def test_owner_copies_and_revokes_the_public_link(web: Any, browser: Any) -> None:
    if not web.hub.spawning:
        pytest.skip("no Docker engine: the hub cannot spawn")
    from spawn_support import COMMIT, seed_cached_image

    # Playwright's sync API runs an event loop in this thread; the seeding uses asyncio.run.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(seed_cached_image).result()
    hub = web.hub
    spec = {
        "repo": REQS, "ref": COMMIT, "server_name": "showcase", "public_readonly": True,
        "mounts": [
            {"volume": "home", "path": "/home/jovyan/home", "mode": "ro"},
            {"volume": "teaching", "path": "/home/jovyan/course", "mode": "ro"},
        ],
    }  # fmt: skip
    _, progress = hub.launch_and_follow(hub.user_token("alice"), spec, timeout=300)
    assert progress.get("status") == "ready", progress
    link = f"{hub.url}/hub/versahub/public/alice/showcase"
    opened = _open_copy(link)
    assert opened.status_code == 302, opened.text[:300]
    assert len(hub.containers(running_only=True, public="true")) == 1

    # what a visitor sees first: what will be opened, by whom, and a button (nothing yet)
    anonymous = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        visitor = Watched(anonymous.new_page(), hub)
        visitor.page.goto(link)
        assert "Open a read-only copy" in visitor.page.inner_text("#vh-public-open")
        assert "alice" in visitor.page.inner_text("#vh-public-by")
        visitor.shot("public-copy-page", full_page=True)
    finally:
        anonymous.close()

    web.login("alice")
    page = web.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url)
    page.goto(f"{hub.url}/hub/home")
    row = page.locator("tr.vh-public-row[data-public-server='showcase']")
    row.wait_for()
    field = page.get_by_role("textbox", name="Public link of showcase")
    assert field.input_value() == link
    assert "read-only copy" in row.inner_text()
    web.shot("public-link")

    page.get_by_role("button", name="Copy the public link of showcase").click()
    page.wait_for_function(
        "document.getElementById('vh-servers-note').textContent.includes('copied')"
    )
    assert page.evaluate("navigator.clipboard.readText()") == link

    page.get_by_role("button", name="Revoke the public link of showcase").click()
    page.wait_for_function(
        "document.getElementById('vh-servers-note').textContent.includes('revoked')",
        timeout=60_000,
    )
    assert "1 copy stopped" in page.inner_text("#vh-servers-note")
    assert any("Revoke the public link of showcase" in d for d in web.js_dialogs), web.js_dialogs
    page.wait_for_function(
        "!document.querySelector(\"tr.vh-public-row[data-public-server='showcase']\")"
    )
    # the server itself is still there, running, no longer public
    assert "running" in page.inner_text("#vh-server-rows tr[data-server='showcase']")
    assert requests.get(link, timeout=30).status_code == 404
    deadline = time.monotonic() + 60
    while hub.containers(running_only=True, public="true") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hub.containers(running_only=True, public="true") == []
    assert web.console_errors == []
