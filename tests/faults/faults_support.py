"""Helpers of the fault-injection tests: a real site, and ways to break its parts.

``FaultHub`` is the integration tests' ``HubUnderTest`` (a site started exactly as ``versahub
up`` starts it: OPA, the registry when enabled, the hub; ``.components`` in that order) plus
what a fault test needs: the component of a part and its process, restarting OPA or the hub
with the product's own functions (``versahub.app.up.start_opa`` / ``start_hub``, the state
folder kept), the launch API, waiting for a launch, a request through the proxy.

Everything a test creates carries this run's unique prefix (``RUN``): user names
(``ft<RUN>…``, so that container names ``jupyter-ft<RUN>…`` are unique on a machine where other
hubs run ``alice``), image prefixes (``versahub-fault-<RUN>-<kind>/r2d-``); the harness removes
this hub's containers, ``remove_images(prefix)`` removes this run's images only.
Test helper, not product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(INTEGRATION / "images"))

from images_support import GitHTTPSServer, GitSite  # noqa: E402
from site_support import make_ca, operator_environment, wait_for  # noqa: E402
from spawn_support import COMMIT, REPO, HubUnderTest, free_port  # noqa: E402

from versahub.app.processes import Component  # noqa: E402
from versahub.app.up import start_hub, start_opa  # noqa: E402
from versahub.app.up import stop_components as stop_site_components  # noqa: E402
from versahub.images.builder import ImageBuilder  # noqa: E402
from versahub.images.config import ImagesConfig  # noqa: E402
from versahub.images.engine import DockerEngine, docker_cli  # noqa: E402
from versahub.images.names import CACHE_KEY_LABEL  # noqa: E402
from versahub.policy import confirmation_hash  # noqa: E402
from versahub.site.config import site_from_mapping  # noqa: E402

__all__ = [
    "COMMIT",
    "REPO",
    "RUN",
    "FaultHub",
    "docker",
    "free_port",
    "git_https",
    "image_exists",
    "prefix_images",
    "remove_images",
    "seed_image",
    "wait_for",
]

RUN = uuid.uuid4().hex[:6]
UNAVAILABLE = "policy-engine-unavailable"


def docker(*args: str, check: bool = True, timeout: float = 300) -> str:
    proc = subprocess.run(
        [docker_cli(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def image_exists(ref: str) -> bool:
    return (
        subprocess.run(
            [docker_cli(), "image", "inspect", ref], capture_output=True, check=False
        ).returncode
        == 0
    )


def prefix_images(prefix: str) -> list[str]:
    out = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
    return [name for name in out if name.startswith(prefix)]


def remove_images(prefix: str) -> None:
    """Remove this run's images under ``prefix`` (nobody else's)."""
    assert RUN in prefix, prefix
    mine = prefix_images(prefix)
    if mine:
        subprocess.run([docker_cli(), "rmi", "--force", *mine], capture_output=True, check=False)


def seed_image(config: ImagesConfig, repo: str, commit: str, *, blob_mib: int = 0) -> str:
    """Tag an image FROM the site's base image as the cache entry of (repo, commit) under the
    site's ``images`` settings (the name and cache-key label ``versahub.images`` computes), so
    that a launch of it is a local cache hit; ``blob_mib`` adds a layer of random bytes."""
    builder = ImageBuilder(config)

    async def name() -> Any:
        async with DockerEngine() as engine:
            return await builder.image_for(engine, repo, commit)

    ref = asyncio.run(name())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.ipynb").write_text(
            '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        )
        lines = [
            f"FROM {config.base_image}",
            f"LABEL {CACHE_KEY_LABEL}={ref.key}",
            "COPY --chown=1000:1000 index.ipynb /srv/repo/",
        ]
        if blob_mib:
            (Path(tmp) / "blob").write_bytes(os.urandom(blob_mib << 20))
            lines.append("COPY blob /srv/blob")
        (Path(tmp) / "Dockerfile").write_text("\n".join(lines) + "\n")
        subprocess.run(
            [docker_cli(), "build", "-q", "-t", str(ref), tmp],
            env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=True, capture_output=True,
        )  # fmt: skip
    return str(ref)


@contextlib.contextmanager
def git_https(root: Path) -> Iterator[tuple[GitSite, dict[str, str]]]:
    """A git server over loopback HTTPS (a CA of its own) and the operator environment that
    trusts it (``GIT_SSL_CAINFO``; ``git ls-remote`` reads the CA from its XDG config)."""
    ca, cert, key = make_ca(root / "tls")
    xdg = root / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "config").write_text(f"[http]\n\tsslCAInfo = {ca}\n")
    (root / "git" / "srv").mkdir(parents=True)
    with GitHTTPSServer(root / "git" / "srv", cert, key) as server:
        yield (
            GitSite(root=root / "git", server=server),
            {"GIT_SSL_CAINFO": str(ca), "XDG_CONFIG_HOME": str(xdg)},
        )


class FaultHub(HubUnderTest):
    """``HubUnderTest`` with the parts a fault test breaks and restarts."""

    def __init__(self, root: Path, *, registry: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(root, **kw)
        if registry:
            self.doc["registry"] = dict(registry)

    def images_config(self) -> ImagesConfig:
        """The site's image settings as the hub will read them (before or after start)."""
        site = self.site or site_from_mapping(self.site_document(), path=self.site_file)
        return site.images_config()

    # -- the site's processes ----------------------------------------------------------------
    def component(self, name: str) -> Component:
        (found,) = [c for c in self.components if c.name == name]
        return found

    def signal(self, name: str, sig: int) -> None:
        """Send ``sig`` to the process of the component ``name`` (its pid only)."""
        process = self.component(name).process
        os.kill(process.pid, sig)
        if sig == signal.SIGKILL:
            process.wait(timeout=10)

    def _replace(self, name: str, new: Component) -> None:
        self.components[[c.name for c in self.components].index(name)] = new

    def restart_opa(self) -> Component:
        """Start OPA again on the site's address with ``versahub.app.up.start_opa``."""
        assert self.site is not None
        old = self.component("opa")
        if old.process.poll() is None:
            stop_site_components([old], self.echo)
        new = start_opa(self.site, self.paths, self.echo)
        self._replace("opa", new)
        return new

    def restart_hub(self) -> Component:
        """Stop the hub component and start it again (``stop_components`` / ``start_hub``,
        the same site file and state folder, the operator's environment)."""
        assert self.site is not None
        stop_site_components([self.component("hub")], self.echo)
        with operator_environment(self.env):
            new = start_hub(self.site, self.paths, self.echo)
        self._replace("hub", new)
        return new

    # -- people ------------------------------------------------------------------------------
    def make_users(self, *names: str) -> dict[str, str]:
        """Create ``names`` (admin API) and return an API token of each."""
        made = self.api("POST", "/users", json={"usernames": list(names)})
        assert made.status_code in (201, 409), made.text
        return {name: self.user_token(name) for name in names}

    def servers(self, user: str) -> dict[str, Any]:
        return self.api("GET", f"/users/{user}").json().get("servers", {})

    # -- the launch API ----------------------------------------------------------------------
    def launch_api(
        self, token: str, spec: dict[str, Any], *, confirm: bool = True,
        timeout: float = 120, **extra: Any,
    ) -> requests.Response:  # fmt: skip
        """``POST /hub/api/versahub/launch`` as the token's user, with the confirmation the
        launch dialog would send (``confirm``)."""
        body: dict[str, Any] = {"spec": spec, **extra}
        if confirm:
            body["confirmation"] = self.confirm_as_page(token, spec)
        return self.api("POST", "/versahub/launch", token=token, json=body, timeout=timeout)

    def launch_all(self, token: str, specs: list[dict[str, Any]], timeout: float = 120) -> None:
        """Launch ``specs`` (each with its ``server_name``) at once through the launch API
        and wait until every one is ready."""
        with ThreadPoolExecutor(len(specs)) as pool:
            answers = list(pool.map(lambda spec: self.launch_api(token, spec), specs))
        for spec, r in zip(specs, answers, strict=True):
            assert r.status_code in (200, 202), r.text
            done = self.wait_launch(token, spec["server_name"], timeout)
            assert done["status"] == "ready", done

    def confirm_as_page(self, token: str, spec: dict[str, Any]) -> str:
        """The confirmation the launch dialog would send (from the check API's decision)."""
        doc = self.api("POST", "/versahub/check", token=token, json={"spec": spec}).json()
        return confirmation_hash(doc["spec_id"], [f["id"] for f in doc["decision"]["warn"]])

    def wait_launch(
        self, token: str, name: str, timeout: float = 120, until: tuple[str, ...] = ("ready",
                                                                                      "failed"),
    ) -> dict[str, Any]:  # fmt: skip
        """``GET /hub/api/versahub/launch/<name>`` until its status is one of ``until``."""

        def done() -> dict[str, Any] | None:
            r = self.api("GET", f"/versahub/launch/{name}", token=token)
            doc = r.json() if r.status_code == 200 else {}
            return doc if doc.get("status") in until else None

        return wait_for(done, timeout, f"launch of {name}", interval=0.3)

    def through_proxy(self, user: str, name: str, token: str) -> int:
        """HTTP status of the server's ``/api/status`` through the proxy (0: no answer)."""
        try:
            return requests.get(
                f"{self.url}/user/{user}/{name}/api/status",
                headers={"Authorization": f"token {token}"}, timeout=15,
                allow_redirects=False,
            ).status_code  # fmt: skip
        except requests.RequestException:
            return 0


def images_settings(root: Path, prefix: str, **more: Any) -> dict[str, Any]:
    return {"image_prefix": prefix, "cache_dir": str(root / "cache"), **more}


def elapsed(t0: float) -> str:
    return f"{time.monotonic() - t0:.1f} s"


def require_docker() -> None:
    if subprocess.run([docker_cli(), "version"], capture_output=True).returncode != 0:
        pytest.fail("the docker engine does not answer: run `bash scripts/docker.sh` first")
    if not image_exists(ImagesConfig().base_image):
        pytest.fail(f"{ImagesConfig().base_image} is missing: run `versahub images bootstrap`")
