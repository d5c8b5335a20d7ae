"""One launch end to end with a real build: HTTPS git on loopback → repo2docker → server.

The fixture repository (``tests/fixtures/repos/requirements``: ``tabulate`` in
``requirements.txt`` and ``index.ipynb``) is served with git's smart HTTP (``git
http-backend``) behind a TLS server whose certificate is signed by a CA made here with
``openssl``. The site allows ``127.0.0.1`` as an internal host; the hub is started as
``versahub up`` starts it, with ``GIT_SSL_CAINFO`` = that CA in the operator's environment,
so ``git ls-remote`` and repo2docker's clone trust it. Nothing is seeded: the hub's own
``ImageBuilder`` runs repo2docker (offline buildpack, FROM ``versahub/base:bookworm``) with
the site's ``images:`` settings (a unique image prefix whose images are removed at the end).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "images"))
from images_support import GitHTTPSServer, GitSite
from site_support import make_ca
from spawn_support import HubUnderTest

from versahub.images.engine import docker_cli
from versahub.launch.progress import PHASES

pytestmark = [pytest.mark.integration, pytest.mark.docker]

USER = "alice"
SERVER = "tables"
BUILD_TIMEOUT = 900


def prefix_images(prefix: str) -> list[str]:
    out = subprocess.run(
        [docker_cli(), "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [name for name in out if name.startswith(prefix)]


@pytest.fixture(scope="module")
def https_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("https-git")
    ca, cert, key = make_ca(root / "tls")
    (root / "srv").mkdir()
    with GitHTTPSServer(root / "srv", cert, key) as server:
        repo = GitSite(root=root, server=server).repo("requirements", name="tables")
        yield repo.url, ca


@pytest.fixture(scope="module")
def build_hub(
    tmp_path_factory: pytest.TempPathFactory, https_repo: tuple[str, Path]
) -> Iterator[tuple[HubUnderTest, str]]:
    _, ca = https_repo
    root = tmp_path_factory.mktemp("build-hub")
    prefix = f"versahub-test-{uuid.uuid4().hex[:8]}/r2d-"
    # ``versahub.images.refs.git_env`` drops every GIT_* variable before ``git ls-remote``,
    # so the CA also reaches that git through its XDG config (see docs/spawning.md).
    xdg = root / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "config").write_text(f"[http]\n\tsslCAInfo = {ca}\n")
    hub = HubUnderTest(
        root,
        policy={"allowed_internal_hosts": ["127.0.0.1"]},
        images={
            "image_prefix": prefix,
            "cache_dir": str(root / "cache"),
            "build_timeout": BUILD_TIMEOUT,
        },
        env={"GIT_SSL_CAINFO": str(ca), "XDG_CONFIG_HOME": str(xdg)},
    ).start()
    try:
        yield hub, prefix
    finally:
        hub.stop()
        mine = prefix_images(prefix)
        if mine:
            subprocess.run([docker_cli(), "rmi", "--force", *mine], capture_output=True)


def follow_progress(hub: HubUnderTest, user: str, name: str) -> list[dict[str, Any]]:
    """The server's progress stream (JupyterHub's event-stream) until ready or failed;
    ``[]`` when the start was already over (JupyterHub answers 400: not starting)."""
    events: list[dict[str, Any]] = []
    with requests.get(
        f"{hub.url}/hub/api/users/{user}/servers/{name}/progress",
        headers={"Authorization": f"token {hub.token}"},
        stream=True, timeout=(10, BUILD_TIMEOUT),
    ) as resp:  # fmt: skip
        if resp.status_code == 400:
            return []
        resp.raise_for_status()
        for line in resp.iter_lines(decode_unicode=True):
            if not line or not line.startswith("data:"):
                continue
            event = json.loads(line[len("data:") :])
            events.append(event)
            if event.get("ready") or event.get("failed"):
                break
    return events


def start_and_follow(
    hub: HubUnderTest, body: dict[str, Any] | None
) -> tuple[requests.Response, list[dict[str, Any]]]:
    """POST the start (JupyterHub answers only after up to 10 s) and, meanwhile, follow the
    progress stream from the moment the server is pending."""
    path = f"/users/{USER}/servers/{SERVER}"
    events: list[dict[str, Any]] = []
    with ThreadPoolExecutor(1) as pool:
        post = pool.submit(hub.api, "POST", path, json=body, timeout=BUILD_TIMEOUT)
        while not post.done():
            server = hub.api("GET", f"/users/{USER}").json()["servers"].get(SERVER) or {}
            if server.get("pending") == "spawn":
                events = follow_progress(hub, USER, SERVER)
                break
            time.sleep(0.05)
        return post.result(), events


def image_of(container: str) -> tuple[str, str, str]:
    """(name, id, creation time) of a container's image."""
    name = subprocess.run(
        [docker_cli(), "inspect", "--format", "{{.Config.Image}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ident, created = subprocess.run(
        [docker_cli(), "image", "inspect", "--format", "{{.Id}} {{.Created}}", name],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return name, ident, created


def test_launch_builds_from_https_git_then_relaunch_reuses_the_image(
    build_hub: tuple[HubUnderTest, str], https_repo: tuple[str, Path]
) -> None:
    hub, prefix = build_hub
    url, _ = https_repo
    spec = {"repo": url, "ref": "main"}
    options = {"spec": spec, "confirmation": hub.confirmation(spec, USER)}
    r, events = start_and_follow(hub, {"user_options": options})
    assert r.status_code in (201, 202), r.text
    assert events and events[-1].get("ready"), f"{events[-3:]}\n{hub.tail()}"
    hub.wait_ready(USER, SERVER, timeout=60)
    # every event after JupyterHub's own "Server requested" carries BinderHub's phase;
    # "building" events are repo2docker's log lines: the build really ran
    phases = [ev.get("phase") for ev in events[1:]]
    assert set(phases) <= set(PHASES), phases
    assert phases[0] == "waiting" and phases[-2:] == ["launching", "ready"], phases
    assert {"fetching", "building", "built"} <= set(phases), phases
    assert all({"message", "progress"} <= set(ev) for ev in events), events

    # reached through the proxy: the repository's files in ~/<server_name>
    token = hub.user_token(USER)
    listing = requests.get(
        f"{hub.url}/user/{USER}/{SERVER}/api/contents/{SERVER}",
        headers={"Authorization": f"token {token}"}, timeout=30,
    )  # fmt: skip
    assert listing.status_code == 200, listing.text
    assert {"index.ipynb", "requirements.txt"} <= {c["name"] for c in listing.json()["content"]}
    container = hub.container(USER, SERVER)
    out = hub.exec(container, "import tabulate; print(tabulate.tabulate([[1, 2]]))")
    assert out.returncode == 0 and "1  2" in out.stdout, out
    built = image_of(container)
    assert built[0].startswith(prefix), built
    assert prefix_images(prefix) == [built[0]]

    # stop, start again with the stored spec: the same image, nothing built
    hub.stop_server(USER, SERVER)
    r, again = start_and_follow(hub, None)
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(USER, SERVER, timeout=120)
    assert "building" not in [ev.get("phase") for ev in again], again
    if again:  # the image came from the cache: the builder's "ready: Found built image"
        assert any(ev["message"].startswith("ready: Found built image") for ev in again), again
    assert image_of(hub.container(USER, SERVER)) == built
    assert prefix_images(prefix) == [built[0]]
    hub.stop_server(USER, SERVER)
