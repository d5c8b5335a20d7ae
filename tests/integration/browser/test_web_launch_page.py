"""The launch page and the risk dialog in a real browser, against a real site.

JupyterHub + configurable-http-proxy + the real OPA with the repository's policies (and the
VersaHub Docker spawner when Docker is there) are started by ``conftest.web_hub``; Debian's
Chromium is driven by Playwright. Every test logs in as its own demo user so the "don't ask
again" records and servers of one test never change another.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from page_helpers import (
    HOME_RW_WARNINGS,
    REQS,
    TEACHERS_ENTRY,
    dialog_open,
    fill_home_rw,
    finding_ids,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_main_page_after_login(web: Any) -> None:
    web.login("carol")
    page = web.page
    assert page.url.endswith("/hub/home")
    assert page.locator("h1").inner_text() == "Launch a persistent server"
    assert page.locator("#vh-choose").inner_text() == "Choose a preconfigured server"
    assert page.locator("#vh-create").inner_text() == "Create my own"
    assert "can act as you inside the server" in page.locator(".vh-warnings").inner_text()
    assert (
        page.locator("#vh-docs-link").get_attribute("href") == "https://versahub.example.org/docs"
    )
    assert "Example University research computing" in page.locator("#vh-credits").inner_text()
    # Nothing is loaded from another origin (works offline).
    origins = page.evaluate(
        "[...document.querySelectorAll('script[src], link[href], img[src]')]"
        ".map(e => new URL(e.src || e.href, location.href).origin)"
    )
    assert set(origins) == {web.hub.url}
    page.click("#vh-choose")
    cards = page.locator(".vh-card h3")
    assert cards.count() == 3
    # A catalogue title with markup is shown as text.
    assert "DS101 labs <b>(course)</b>" in cards.all_inner_texts()
    web.shot("launch-page")
    page.click(".vh-use[data-entry='ds101']")
    assert page.input_value("#f-repo") == REQS
    assert page.locator("#f-internet").is_checked() is False
    page.wait_for_function("document.getElementById('s-url').value.includes('internet=false')")
    assert page.input_value("#s-md").startswith("[![Launch on VersaHub](")
    assert page.input_value("#s-html").startswith('<a href="')
    # Launch on… another hub: a BinderHub gets the repository, and the page says what not
    link = page.locator("#vh-launch-on-list a")
    assert link.inner_text() == "Launch on mybinder"
    assert link.get_attribute("href").startswith(
        "https://mybinder.org/v2/gh/binder-examples/requirements/"
    )
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert "internet off" in page.locator(".vh-launch-on-note").inner_text()
    web.shot("launch-form", full_page=True)
    assert not web.js_dialogs


def test_inline_validation_shows_the_servers_message(web: Any) -> None:
    web.login("carol")
    page = web.page
    page.click("#vh-create")
    page.fill("#f-repo", "gh:binder-examples/requirements")
    page.click("#vh-advanced-resources summary")
    page.fill("#f-memory", "lots")
    page.wait_for_function("document.getElementById('e-memory').textContent.length > 0")
    shown = page.locator("#e-memory").inner_text()
    session = web.hub.login("carol")
    answer = session.post(
        f"{web.hub.url}/hub/api/versahub/check",
        json={"spec": {"repo": "gh:binder-examples/requirements", "resources": {"memory": "lots"}}},
        timeout=10,
    ).json()
    assert answer["valid"] is False
    assert shown == answer["error"]["message"]
    assert page.get_attribute("#f-memory", "aria-invalid") == "true"
    # The hub reports one error at a time; the page shows every bad field at once.
    page.fill("#f-cpu", "many")
    page.wait_for_function("document.getElementById('e-cpu').textContent.length > 0")
    assert page.locator("#e-memory").inner_text() == shown
    assert page.get_attribute("#f-cpu", "aria-invalid") == "true"
    assert "2 highlighted fields" in page.locator("#vh-check-state").inner_text()
    web.shot("field-errors")
    page.fill("#f-cpu", "")
    page.fill("#f-memory", "2G")
    page.wait_for_function("document.getElementById('e-memory').textContent === ''")
    assert page.locator("#e-cpu").inner_text() == ""
    # Mount rows: add two, remove one; a bad path names its row.
    page.click("#vh-advanced-access summary")
    page.click("#vh-add-mount")
    page.click("#vh-add-mount")
    assert page.locator("#vh-mount-rows tr").count() == 2
    page.locator("#vh-mount-rows tr").nth(1).get_by_role("button", name="Remove mount 2").click()
    assert page.locator("#vh-mount-rows tr").count() == 1
    page.fill("#vh-mount-rows tr .m-path", "relative/path")
    page.wait_for_function(
        "document.getElementById('e-mounts').textContent.startsWith('mounts[0].path')"
    )
    assert page.get_attribute("#vh-mount-rows tr .m-path", "aria-invalid") == "true"
    page.fill("#vh-mount-rows tr .m-path", "/home/jovyan/data")
    page.wait_for_function("document.getElementById('e-mounts').textContent === ''")
    page.wait_for_function(
        "document.getElementById('s-url').value.includes('/v2/gh/binder-examples/requirements/HEAD')"
    )
    assert not web.js_dialogs


def test_denied_configuration_shows_why_and_offers_edit(web: Any) -> None:
    web.login("dave")
    page = web.page
    page.click("#vh-create")
    page.fill("#f-repo", REQS)
    page.click("#vh-advanced-access summary")
    page.click("#vh-add-mount")
    page.select_option("#vh-mount-rows tr .m-volume", "teaching")
    page.fill("#vh-mount-rows tr .m-path", "/home/jovyan/course")
    page.select_option("#vh-mount-rows tr .m-mode", "rw")
    page.wait_for_function("document.getElementById('s-url').value.includes('teaching')")
    page.click("#vh-launch")
    page.wait_for_selector("#vh-dialog[open]")
    assert page.locator("#vh-dialog-title").inner_text() == "This configuration is not allowed"
    assert "volume-write-forbidden" in finding_ids(page)
    assert "What to change" in page.locator("#vh-dialog-findings").inner_text()
    assert page.locator("#vh-d-proceed").is_hidden()
    assert page.locator("#vh-d-trust").is_hidden()
    assert page.locator("#vh-d-edit").is_visible()
    web.shot("denied-dialog")
    page.click("#vh-d-edit")
    assert not dialog_open(page)
    assert page.evaluate("document.activeElement.id") == "f-repo"
    assert not web.js_dialogs


def test_malicious_link_renders_as_text(web: Any) -> None:
    web.login("erin")
    page = web.page
    page.goto(
        f"{web.hub.url}/v2/gh/evil/<script>alert(1)</script>/HEAD?urlpath=<script>alert(2)</script>"
    )
    page.wait_for_load_state("networkidle")
    error = page.locator("#vh-link-error-text")
    assert error.is_visible()
    assert "<script>alert(1)<" in error.inner_text()
    assert not dialog_open(page)
    # A valid repository whose urlpath holds markup: the dialog shows it as text.
    page.goto(
        f"{web.hub.url}/v2/gh/binder-examples/requirements/HEAD"
        "?urlpath=lab/<img src=x onerror=alert(3)><script>alert(4)</script>&internet=false"
    )
    page.wait_for_selector("#vh-dialog[open]")
    summary = page.locator("#vh-dialog-summary").inner_text()
    assert "lab/%3Cimg" in summary or "<img src=x" in summary
    assert page.locator("#vh-dialog img").count() == 0
    assert page.locator("#vh-dialog script").count() == 0
    page.wait_for_timeout(500)
    assert web.js_dialogs == []


def test_external_link_always_asks_keyboard_only(web: Any) -> None:
    web.login("frank")
    page = web.page
    # A mybinder.org link with only the host changed, followed from mybinder.org; launched
    # from the hub itself this configuration warns only about the persistent home, which
    # every server gets read-write.
    link = f"{web.hub.url}/v2/gh/binder-examples/requirements/HEAD?urlpath=lab&internet=false"
    page.goto(link, referer="https://mybinder.org/")
    assert "/hub/v2/gh/binder-examples/requirements/HEAD?urlpath=lab&internet=false" in page.url
    page.wait_for_selector("#vh-dialog[open]")
    assert finding_ids(page) == {"origin-external-link", "storage-read-write"}
    assert "https://mybinder.org/" in page.locator("#vh-dialog-origin").inner_text()
    role = page.get_attribute("#vh-dialog", "role"), page.get_attribute("#vh-dialog", "aria-modal")
    assert role == ("dialog", "true")
    web.shot("risk-dialog-external-link")
    # Focus starts on Cancel and stays inside the dialog.
    assert page.evaluate("document.activeElement.id") == "vh-d-cancel"
    for _ in range(7):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('#vh-dialog')")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("!!document.activeElement.closest('#vh-dialog')")
    page.keyboard.press("Escape")
    assert not dialog_open(page)
    # The same configuration from the hub's own form has no origin warning: only the home.
    session = web.hub.login("frank")
    inside = session.post(
        f"{web.hub.url}/hub/api/versahub/check",
        json={"url": link, "origin": {"external": False}},
        timeout=10,
    ).json()
    assert {f["id"] for f in inside["decision"]["warn"]} == {"storage-read-write"}
    assert not web.js_dialogs


def test_link_before_login_asks_after_login(web: Any) -> None:
    link = f"{web.hub.url}/v2/gh/binder-examples/requirements/HEAD?internet=false"
    web.page.goto(link)
    assert "/hub/login" in web.page.url
    web.page.fill("#username_input", "grace")
    web.page.fill("#password_input", web.hub.password)
    web.page.click("#login_submit")
    web.page.wait_for_selector("#vh-dialog[open]")
    assert "/hub/v2/gh/binder-examples/requirements/HEAD" in web.page.url
    assert finding_ids(web.page) == {"origin-external-link", "storage-read-write"}


def test_dont_ask_again_then_revoke(web: Any) -> None:
    """Trust is per configuration (spec_id), server-side, and revocable from the page."""
    web.login("bob")
    page = web.page
    fill_home_rw(page, name="first")
    page.click("#vh-launch")
    page.wait_for_selector("#vh-dialog[open]")
    assert finding_ids(page) == HOME_RW_WARNINGS
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/hub/api/versahub/launch")
    ) as launched:
        page.click("#vh-d-trust")
    body = launched.value.post_data_json
    assert set(body) == {"spec", "confirmation", "origin"} and len(body["confirmation"]) == 64
    assert body["spec"]["server_name"] == "first"
    page.goto(f"{web.hub.url}/hub/home")
    page.wait_for_selector("#vh-trusted-list li")
    assert REQS in page.locator("#vh-trusted-list").inner_text()
    # Same configuration under another name: no dialog, straight to the hub, and the page
    # does not announce warnings it will not ask about.
    fill_home_rw(page, name="second")
    page.wait_for_function(
        "document.getElementById('vh-check-state').textContent.startsWith('Ready')"
    )
    assert "warning" not in page.locator("#vh-check-state").inner_text()
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/hub/api/versahub/launch")
    ) as launched:
        page.click("#vh-launch")
    assert launched.value.post_data_json["spec"]["server_name"] == "second"
    assert not dialog_open(page)
    # Revoke: the dialog is back.
    page.goto(f"{web.hub.url}/hub/home")
    page.wait_for_selector("#vh-trusted-list li")
    page.get_by_role("button", name=re.compile("^Revoke trust")).click()
    page.wait_for_selector("#vh-trusted-empty", state="visible")
    fill_home_rw(page, name="third")
    page.click("#vh-launch")
    page.wait_for_selector("#vh-dialog[open]")
    assert finding_ids(page) == HOME_RW_WARNINGS
    page.click("#vh-d-cancel")
    assert not dialog_open(page)
    assert not web.js_dialogs


def test_phone_viewport(phone: Any) -> None:
    phone.login("carol")
    page = phone.page
    page.click("#vh-create")
    page.fill("#f-repo", REQS)
    page.wait_for_function("document.getElementById('s-url').value !== ''")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.shot("launch-page-phone")
    page.click("#vh-launch")
    page.wait_for_selector("#vh-dialog[open]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.shot("risk-dialog-phone")
    page.keyboard.press("Escape")
    assert not dialog_open(page)


def test_catalogue_marks_entries_you_may_not_launch_before_any_click(web: Any) -> None:
    web.login("dave")
    page = web.page
    page.wait_for_function("document.body.dataset.catalogueChecked === 'true'")
    launches = []
    page.on("request", lambda r: launches.append(r.url) if "versahub/launch" in r.url else None)
    page.click("#vh-choose")
    card = page.locator(f".vh-card[data-entry='{TEACHERS_ENTRY['id']}']")
    session = web.hub.login("dave")
    decision = session.post(
        f"{web.hub.url}/hub/api/versahub/check", json={"spec": TEACHERS_ENTRY["spec"]}, timeout=10
    ).json()["decision"]
    assert decision["allowed"] is False
    note = card.locator(".vh-unavailable")
    assert note.inner_text() == f"Not available to you: {decision['deny'][0]['title']}"
    assert card.locator(".vh-use").is_disabled()
    assert card.locator(".vh-use").get_attribute("aria-describedby") == note.get_attribute("id")
    for entry in ("requirements-demo", "ds101"):
        other = page.locator(f".vh-card[data-entry='{entry}']")
        assert other.locator(".vh-unavailable").is_hidden()
        assert other.locator(".vh-use").is_enabled()
    web.shot("catalogue-unavailable")
    assert launches == []
    # The teaching volume's writer may launch it.
    page.goto(f"{web.hub.url}/hub/logout")
    web.login("admin")
    page.wait_for_function("document.body.dataset.catalogueChecked === 'true'")
    assert page.locator(f".vh-card[data-entry='{TEACHERS_ENTRY['id']}'] .vh-use").is_enabled()
    assert not web.js_dialogs
