"""The whole launch in a real browser: form → dialog → progress → the running server.

Needs Docker and issue 5's spawner (``versahub.hub``): the image for the test repository is
seeded into the local cache (``spawn_support.seed_cached_image``), so the launch is a cache
hit without any network. Skipped, with the reason, when the hub could not bind the docker0
address (no Docker engine).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from page_helpers import HOME_RW_WARNINGS, REQS, dialog_open, fill_home_rw, finding_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.docker]


def _landed(page: Any, user: str, name: str) -> None:
    page.wait_for_url(f"**/user/{user}/{name}/lab**", timeout=120_000)
    page.wait_for_load_state("domcontentloaded")


def test_launch_dialog_progress_server_dont_ask_again(web: Any) -> None:
    if not web.hub.spawning:
        pytest.skip("no Docker engine: the hub cannot spawn (everything before is tested)")
    from spawn_support import COMMIT, seed_cached_image

    # Playwright's sync API runs an event loop in this thread; the seeding uses asyncio.run.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(seed_cached_image).result()
    web.login("alice")
    page = web.page
    fill_home_rw(page, ref=COMMIT, name="analysis", urlpath="lab")
    page.click("#vh-launch")
    page.wait_for_selector("#vh-dialog[open]")
    assert finding_ids(page) == HOME_RW_WARNINGS
    web.shot("risk-dialog")
    page.click("#vh-d-proceed")
    page.wait_for_selector("#vh-progress:not([hidden])")
    assert "progress=analysis" in page.url
    page.wait_for_function("document.getElementById('vh-log').textContent.length > 0")
    # the bar shows the latest event's progress (BinderHub's numbers: fetching is 20)
    now = int(page.get_attribute("#vh-progress-bar", "aria-valuenow") or 0)
    width = page.eval_on_selector(
        "#vh-progress-bar", "b => b.firstElementChild.offsetWidth / b.offsetWidth * 100"
    )
    assert now >= 10 and abs(width - now) < 2
    web.shot("progress")
    # The progress view survives a reload while the server starts (or opens it when ready).
    page.reload()
    page.wait_for_function(
        "location.pathname.startsWith('/user/') || !document.getElementById('vh-progress').hidden"
    )
    _landed(page, "alice", "analysis")

    # My servers: the server, its spec, its state; stop it from the page.
    page.goto(f"{web.hub.url}/hub/home")
    row = page.locator("#vh-server-rows tr[data-server='analysis']")
    row.wait_for()
    assert REQS in row.inner_text() and "running" in row.inner_text()
    web.shot("my-servers")
    row.get_by_role("button", name="Stop analysis").click()
    page.wait_for_function(
        "document.querySelector(\"#vh-server-rows tr[data-server='analysis'] .vh-state\")"
        "?.textContent === 'stopped'",
        timeout=60_000,
    )

    # Relaunch: asked again; this time "Don't ask again".
    row = page.locator("#vh-server-rows tr[data-server='analysis']")
    row.get_by_role("button", name="Start analysis").click()
    page.wait_for_selector("#vh-dialog[open]")
    assert finding_ids(page) == HOME_RW_WARNINGS
    page.click("#vh-d-trust")
    _landed(page, "alice", "analysis")

    # Stop, relaunch: no dialog at all.
    page.goto(f"{web.hub.url}/hub/home")
    row = page.locator("#vh-server-rows tr[data-server='analysis']")
    row.get_by_role("button", name="Stop analysis").click()
    start = page.locator("#vh-server-rows tr[data-server='analysis']").get_by_role(
        "button", name="Start analysis"
    )
    start.wait_for(timeout=60_000)
    start.click()
    _landed(page, "alice", "analysis")
    assert web.js_dialogs == []

    # Revoked: the dialog is back.
    page.goto(f"{web.hub.url}/hub/home")
    page.locator("#vh-server-rows tr[data-server='analysis']").get_by_role(
        "button", name="Stop analysis"
    ).click()
    page.get_by_role("button", name=f"Revoke trust in {REQS}").click()
    page.wait_for_selector("#vh-trusted-empty", state="visible")
    start = page.locator("#vh-server-rows tr[data-server='analysis']").get_by_role(
        "button", name="Start analysis"
    )
    start.wait_for(timeout=60_000)
    start.click()
    page.wait_for_selector("#vh-dialog[open]")
    page.keyboard.press("Escape")
    assert not dialog_open(page)
