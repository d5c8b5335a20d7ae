"""Fixtures for the launch-page browser tests: one real site per module, Debian's Chromium.

The site (OPA + JupyterHub + configurable-http-proxy, with the VersaHub spawner when Docker
is there) is ``tests/integration/web_support.py``'s, started as ``versahub up`` starts it,
with one more catalogue entry that only teachers may launch and the loopback git host
allowed (``LaunchPageHub``); Chromium is driven by Playwright for Python with the launch
options of ``shared/ENVIRONMENT.md``. Every page records the JavaScript dialogs
(``alert``/``confirm``) it sees and the console errors, so a test can assert that nothing in
a hostile link ever ran as code.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # web_support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # page_helpers

from page_helpers import TEACHERS_ENTRY
from web_support import WebHub

REPO_ROOT = Path(__file__).resolve().parents[3]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LaunchPageHub(WebHub):
    """``web_support``'s site plus :data:`TEACHERS_ENTRY` and ``127.0.0.1`` as an allowed
    internal git host (the failing-build repository is served there)."""

    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(root)
        self.env = dict(env or {})  # SiteUnderTest: set around start_hub only

    def start(self) -> LaunchPageHub:
        super().start()
        return self

    def site_document(self) -> dict[str, Any]:
        doc = super().site_document()
        doc["catalogue"] = [*doc["catalogue"], TEACHERS_ENTRY]
        doc["policy"] = {**doc["policy"], "allowed_internal_hosts": ["127.0.0.1"]}
        # "Launch on…" another hub (a link only: nothing contacts it)
        doc["federation"] = {
            "hubs": [
                {
                    "name": "mybinder",
                    "url": "https://mybinder.org",
                    "kind": "binderhub",
                    "description": "the public Binder",
                }
            ]
        }
        return doc


def start_hub(root: Path, env: Mapping[str, str] | None = None) -> LaunchPageHub:
    """A started :class:`LaunchPageHub`; ``env`` is the operator's extra environment."""
    return LaunchPageHub(root, env).start()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the
# main thread while it is open, which would break every async test collected after these.
@pytest.fixture(scope="module")
def web_hub_env() -> dict[str, str]:
    """Extra environment of the operator who starts the hub; a test module may override it
    (e.g. ``GIT_SSL_CAINFO`` for a git server with its own CA)."""
    return {}


@pytest.fixture(scope="module")
def web_hub(
    tmp_path_factory: pytest.TempPathFactory, web_hub_env: dict[str, str]
) -> Iterator[WebHub]:
    hub = start_hub(tmp_path_factory.mktemp("web-hub"), web_hub_env)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A Playwright page plus what it saw: JS dialogs and console errors."""

    page: Any
    hub: WebHub
    js_dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    auto_accept_confirm: bool = True

    def login(self, user: str = "alice", next_url: str | None = None) -> None:
        target = f"{self.hub.url}/hub/login"
        if next_url:
            self.page.goto(next_url)
        else:
            self.page.goto(target)
        self.page.fill("#username_input", user)
        self.page.fill("#password_input", self.hub.password)
        self.page.click("#login_submit")
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if os.environ.get("VERSAHUB_UPDATE_DOCS_IMAGES") == "1":  # `make screenshots`
            docs = REPO_ROOT / "docs" / "img"
            docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, docs / path.name)
        return path


def _watch(browser: Any, hub: WebHub, **context_args: Any) -> Iterator[Watched]:
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watched = Watched(page, hub)

    def on_dialog(dialog: Any) -> None:
        watched.js_dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm" and watched.auto_accept_confirm:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on(
        "console",
        lambda msg: watched.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    try:
        yield watched
    finally:
        context.close()


@pytest.fixture
def web(browser: Any, web_hub: WebHub) -> Iterator[Watched]:
    yield from _watch(browser, web_hub, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone(browser: Any, web_hub: WebHub) -> Iterator[Watched]:
    yield from _watch(
        browser, web_hub, viewport={"width": 375, "height": 812}, device_scale_factor=2,
        is_mobile=True, has_touch=True,
    )  # fmt: skip
