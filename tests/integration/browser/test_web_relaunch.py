"""Relaunching from the launch page, and a launch whose image cannot be built.

Everything goes through ``POST /hub/api/versahub/launch`` as the page sends it: the same
configuration launched again opens the server that has it (running or stopped) instead of
creating a second one; a name that exists with another configuration shows the differences
and *Update* recreates the server with its volumes; a repository whose build fails shows
"The image could not be built" with the tail of repo2docker's log and leaves no server.

Needs Docker: the image of the test repository is seeded into the local cache
(``spawn_support.seed_cached_image``), so those launches are cache hits without any network.
The failing repository is a local git repository (``binder/Dockerfile`` with ``RUN false``
FROM the site's base image) served over HTTPS on loopback with a CA made here; the site allows
``127.0.0.1`` as an internal git host and the hub's operator environment trusts that CA.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from page_helpers import dialog_open, fill_home_rw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images"))  # images_support
from images_support import GitHTTPServer, GitSite
from site_support import make_ca, wait_for

from versahub.images.engine import docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.docker]

MARKER = "versahub-test: this build fails on purpose"
FAILING_DOCKERFILE = f"""\
# FROM the site's base image (no registry is reachable); the build stops at RUN.
FROM versahub/base:bookworm
RUN echo "{MARKER}" && false
"""
BUILD_TIMEOUT = 600_000  # ms: repo2docker starting, cloning and running the Dockerfile
ASKED_OR_STARTED = (
    "document.getElementById('vh-dialog').open || document.getElementById('vh-differs').open"
    " || !document.getElementById('vh-progress').hidden"
)


class GitHTTPSServer(GitHTTPServer):
    """The image tests' ``git http-backend`` bridge, behind TLS (the policy wants https)."""

    def __init__(self, root: Path, cert: Path, key: Path) -> None:
        super().__init__(root)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}.git"


@pytest.fixture(scope="module")
def failing_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(https URL, CA file) of a repository whose image build fails."""
    root = tmp_path_factory.mktemp("git")
    ca, cert, key = make_ca(root / "tls")
    (root / "srv").mkdir()
    with GitHTTPSServer(root / "srv", cert, key) as server:
        repo = GitSite(root=root, server=server).repo("dockerfile", name="broken-build")
        repo.commit({"binder/Dockerfile": FAILING_DOCKERFILE}, message="a build that fails")
        yield repo.url, ca


@pytest.fixture(scope="module")
def web_hub_env(
    tmp_path_factory: pytest.TempPathFactory, failing_repo: tuple[str, Path]
) -> dict[str, str]:
    """The hub trusts the test CA: repo2docker's clone through ``GIT_SSL_CAINFO``, and
    ``git ls-remote`` (which runs without any GIT_* variable) through its XDG config."""
    _, ca = failing_repo
    xdg = tmp_path_factory.mktemp("xdg")
    (xdg / "git").mkdir()
    (xdg / "git" / "config").write_text(f"[http]\n\tsslCAInfo = {ca}\n")
    return {"GIT_SSL_CAINFO": str(ca), "XDG_CONFIG_HOME": str(xdg)}


@pytest.fixture(scope="module")
def seeded() -> str:
    from spawn_support import COMMIT, seed_cached_image

    # Playwright's sync API runs an event loop in this thread; the seeding uses asyncio.run.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(seed_cached_image).result()
    return COMMIT


@pytest.fixture(autouse=True)
def needs_docker(web_hub: Any) -> None:
    if not web_hub.spawning:
        pytest.skip("no Docker engine: the hub cannot spawn")


def record_launches(page: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request body, answer) of every launch the page sends, passed through unchanged (the
    page may navigate away before a test could read a response body)."""
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def passthrough(route: Any) -> None:
        response = route.fetch()
        seen.append((route.request.post_data_json, response.json()))
        route.fulfill(response=response)

    page.route("**/hub/api/versahub/launch", passthrough)
    return seen


def launch(page: Any, *, trust: bool = False) -> None:
    """Click Launch; confirm the risk dialog if it opens (*Don't ask again* with ``trust``)."""
    page.click("#vh-launch")
    page.wait_for_function(ASKED_OR_STARTED)
    if dialog_open(page):
        page.click("#vh-d-trust" if trust else "#vh-d-proceed")


def landed(page: Any, user: str) -> str:
    """Wait for the browser to open one of ``user``'s servers at ``lab``; its name."""
    page.wait_for_url(re.compile(rf"/user/{user}/[^/]+/lab"), timeout=120_000)
    page.wait_for_load_state("domcontentloaded")
    match = re.search(rf"/user/{user}/([^/]+)/lab", page.url)
    assert match, page.url
    return match.group(1)


def servers(hub: Any, user: str) -> dict[str, Any]:
    """``user``'s named servers, running or stopped, as the REST API lists them (admin)."""
    r = hub.api("GET", f"/users/{user}?include_stopped_servers=1")
    r.raise_for_status()
    return {name: s for name, s in r.json()["servers"].items() if name}


def stop(hub: Any, user: str, name: str) -> None:
    assert hub.api("DELETE", f"/users/{user}/servers/{name}").status_code in (202, 204)
    wait_for(
        lambda: not (servers(hub, user)[name]["ready"] or servers(hub, user)[name]["pending"]),
        60, f"{user}/{name} stopped",
    )  # fmt: skip


def container(hub: Any, user: str, name: str) -> str:
    ids = hub.containers(running_only=True, owner=user, server=name)
    assert len(ids) == 1, ids
    return ids[0]


def in_container(ident: str, script: str) -> str:
    return subprocess.run(
        [docker_cli(), "exec", "-u", "1000", ident, "sh", "-c", script],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def test_relaunching_a_configuration_opens_its_server(web: Any, seeded: str) -> None:
    hub, page = web.hub, web.page
    launches = record_launches(page)
    web.login("alice")
    fill_home_rw(page, ref=seeded, urlpath="lab")
    launch(page, trust=True)
    name = landed(page, "alice")
    # no name typed: the page sent none, the hub picked one
    (sent, answer), *_ = launches
    assert "server_name" not in sent["spec"] and answer["server_name"] == name
    assert list(servers(hub, "alice")) == [name]

    # The same configuration again, without a name: the running server opens.
    page.goto(f"{hub.url}/hub/home")
    fill_home_rw(page, ref=seeded, urlpath="lab")
    page.click("#vh-launch")  # trusted: no dialog
    assert landed(page, "alice") == name
    sent, answer = launches[-1]
    assert "server_name" not in sent["spec"]
    assert (answer["status"], answer["server_name"]) == ("ready", name)
    assert list(servers(hub, "alice")) == [name]

    # Stopped, it is started again rather than duplicated.
    stop(hub, "alice", name)
    page.goto(f"{hub.url}/hub/home")
    fill_home_rw(page, ref=seeded, urlpath="lab")
    page.click("#vh-launch")
    assert landed(page, "alice") == name
    sent, answer = launches[-1]
    assert answer["status"] in ("starting", "ready") and answer["server_name"] == name
    assert len(launches) == 3
    assert list(servers(hub, "alice")) == [name]
    page.goto(f"{hub.url}/hub/home")
    page.locator(f"#vh-server-rows tr[data-server='{name}']").wait_for()
    assert page.locator("#vh-server-rows tr").count() == 1
    web.shot("relaunch-one-server")
    assert not web.js_dialogs


def test_changed_configuration_shows_differences_and_update_keeps_volumes(
    web: Any, seeded: str
) -> None:
    hub, page = web.hub, web.page
    web.login("bob")
    fill_home_rw(page, ref=seeded, name="notes", urlpath="lab")
    launch(page, trust=True)
    assert landed(page, "bob") == "notes"
    before = container(hub, "bob", "notes")
    in_container(before, "echo 'written before the update' > /home/jovyan/work/kept.txt")

    def launch_changed() -> None:
        """The same name with less memory: a new configuration (asked), then differences."""
        page.goto(f"{hub.url}/hub/home")
        fill_home_rw(page, ref=seeded, name="notes", urlpath="lab")
        page.click("#vh-advanced-resources summary")
        page.fill("#f-memory", "512M")
        page.wait_for_function("document.getElementById('s-url').value.includes('memory=512M')")
        launch(page)
        page.wait_for_selector("#vh-differs[open]")

    launch_changed()
    rows = page.eval_on_selector_all(
        "#vh-differs-rows tr",
        "trs => trs.map(t => [t.dataset.field, ...[...t.children].map(c => c.textContent)])",
    )
    assert rows == [["resources", "Resources", "(the site's defaults)", "memory 512M"]]
    assert page.evaluate("document.activeElement.id") == "vh-x-cancel"
    web.shot("relaunch-differences")

    # Open as it is: the running server, unchanged.
    page.click("#vh-x-open")
    assert landed(page, "bob") == "notes"
    assert container(hub, "bob", "notes") == before
    assert servers(hub, "bob")["notes"]["user_options"]["spec"]["resources"]["memory"] is None

    # Update: recreated with the new configuration; the home volume is still there.
    launches = record_launches(page)
    launch_changed()
    page.click("#vh-x-update")
    assert landed(page, "bob") == "notes"
    assert [sent.get("action") for sent, _ in launches] == [None, "update"]
    assert launches[0][1]["status"] == "differs"
    after = container(hub, "bob", "notes")
    assert after != before
    assert in_container(after, "cat /home/jovyan/work/kept.txt") == "written before the update\n"
    listed = servers(hub, "bob")
    assert list(listed) == ["notes"]
    assert listed["notes"]["user_options"]["spec"]["resources"]["memory"] == "512M"
    assert not web.js_dialogs


def test_failed_build_shows_the_log_tail_and_leaves_no_server(
    web: Any, failing_repo: tuple[str, Path]
) -> None:
    hub, page = web.hub, web.page
    url, _ = failing_repo
    web.login("carol")
    page.click("#vh-create")
    page.fill("#f-repo", url)
    page.fill("#f-ref", "main")
    page.wait_for_function("document.getElementById('s-url').value !== ''")
    launches = record_launches(page)
    launch(page)
    failure = page.locator("#vh-failure")
    failure.wait_for(state="visible", timeout=BUILD_TIMEOUT)
    [(sent, answer)] = launches
    name = answer["server_name"]
    assert "server_name" not in sent["spec"] and answer["status"] in ("starting", "failed")
    assert (
        page.locator("#vh-failure-text").inner_text().startswith("The image could not be built: ")
    )
    tail = page.locator("#vh-failure-log")
    assert tail.is_visible()
    assert tail.evaluate("e => e.tagName") == "PRE"
    assert MARKER in tail.inner_text()
    assert page.get_attribute("[data-phase='building']", "class") == "vh-phase vh-phase-failed"
    assert page.locator("#vh-progress-h").inner_text() == f"Could not start \u201c{name}\u201d"
    assert "refused" not in failure.inner_text()
    failure.scroll_into_view_if_needed()
    web.shot("build-failed")
    # The failed start leaves no server entry behind; its events stay readable for a while.
    wait_for(lambda: servers(hub, "carol") == {}, 30, "the failed server's entry removed")
    session = hub.login("carol")
    state = session.get(f"{hub.url}/hub/api/versahub/launch/{name}", timeout=10).json()
    assert state["status"] == "failed" and state["failed_phase"] == "building"
    # Reloading the progress address shows the same failure.
    page.goto(f"{hub.url}/hub/home?progress={name}")
    failure.wait_for(state="visible")
    assert MARKER in tail.inner_text()
    assert not web.js_dialogs
