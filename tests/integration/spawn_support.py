"""Helpers for the spawning tests: a real OPA + JupyterHub + proxy on loopback, real Docker.

``HubUnderTest`` is ``site_support.SiteUnderTest`` with the spawning tests' site (demo users
alice, bob, carol and admin; volumes home and teaching; trusted binder-examples) and their
helpers: launch a spec through the REST API, wait, stop, find the container, run a probe in
it. The hub is started exactly as ``versahub up`` starts it. ``seed_cached_image`` puts an
image into the local cache under the exact name and cache-key label ``versahub.images``
computes for (repo, commit), so that launches are cache hits without any network.

``HubUnderTest(root, stock_image=...)`` is the benchmark's baseline instead: stock
JupyterHub + DockerSpawner (not VersaHub), with a stock configuration of its own.
Test helper, not product code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # site_support

import requests
from site_support import SiteUnderTest, free_port

from versahub.app.hubconfig import HubPaths, find_chp
from versahub.app.processes import Component, http_status, start_process, wait_until
from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.engine import DockerEngine, docker_cli
from versahub.images.names import CACHE_KEY_LABEL
from versahub.site.config import Site

REPO = "https://github.com/binder-examples/requirements"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_IP = "172.17.0.1"
USERS = ["alice", "bob", "carol", "admin"]

__all__ = ["COMMIT", "REPO", "HubUnderTest", "free_port", "seed_cached_image", "sha"]


def seed_cached_image(repo: str = REPO, commit: str = COMMIT) -> str:
    """Tag a small image FROM the site's base as the cache entry for (repo, commit)."""
    builder = ImageBuilder(ImagesConfig())

    async def name() -> Any:
        async with DockerEngine() as engine:
            return await builder.image_for(engine, repo, commit)

    ref = asyncio.run(name())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.ipynb").write_text(json.dumps(
            {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        ))  # fmt: skip
        (Path(tmp) / "hello.txt").write_text("hello from the repository\n")
        (Path(tmp) / "Dockerfile").write_text(
            f"FROM {builder.config.base_image}\n"
            f"LABEL {CACHE_KEY_LABEL}={ref.key}\n"
            "COPY --chown=1000:1000 index.ipynb hello.txt /srv/repo/\n"
        )
        subprocess.run(
            [docker_cli(), "build", "-q", "-t", str(ref), tmp], check=True, capture_output=True
        )
    return str(ref)


class HubUnderTest(SiteUnderTest):
    def __init__(
        self, root: Path, *, cull_every: int = 2, volumes: dict | None = None,
        stock_image: str | None = None, policy: dict[str, Any] | None = None,
        images: dict[str, Any] | None = None, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """``policy`` is merged over the test site's ``policy``; ``images`` is the site's
        ``images:`` section; ``env`` is the environment of the operator starting the hub."""
        self.stock_image = stock_image
        doc: dict[str, Any] = {
            "hub": {
                "cull_every": cull_every,
                "admin_users": ["admin"],
                "auth": {"kind": "demo", "users": USERS},
            },
            "opa": {"timeout": 2.0},
            "volumes": volumes
            or {
                "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
                "teaching": {
                    "kind": "shared",
                    "read": {"users": ["*"]},
                    "write": {"users": ["admin"]},
                },
            },
            "policy": {
                "trusted_repos": ["https://github.com/binder-examples/*"],
                "trusted_forges": ["github.com"],
                "caps": {
                    "default": {
                        "memory": "2G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h",
                    }
                },
                "large_request": {"memory": "1G", "cpu": 1.5},
                **(policy or {}),
            },
        }  # fmt: skip
        if images:
            doc["images"] = dict(images)
        super().__init__(root, doc, env=env)

    def start(self) -> HubUnderTest:
        super().start()
        return self

    def start_hub(self, site: Site, paths: HubPaths) -> Component:
        if not self.stock_image:
            return super().start_hub(site, paths)
        return self.start_stock_hub(site, paths)

    def start_stock_hub(self, site: Site, paths: HubPaths) -> Component:
        """Stock JupyterHub + DockerSpawner launching ``stock_image`` (the benchmark's
        baseline): VersaHub's base hub settings, none of its spawning."""
        config = paths.hub / "stock_jupyterhub_config.py"
        config.write_text(
            f"""
from versahub.site.config import load_site
from versahub.app.hubconfig import HubPaths, apply_settings, find_chp, hub_settings

site = load_site({str(site.path)!r})
paths = HubPaths(site.state_dir)
password = paths.demo_password_file.read_text("utf-8").strip()
apply_settings(c, hub_settings(site, paths=paths, demo_password=password, chp=find_chp()))
c.JupyterHub.hub_bind_url = "http://{self.hub_ip}:{self.hub_port}"
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = {self.stock_image!r}
c.DockerSpawner.remove = True
c.DockerSpawner.pull_policy = "never"
c.Spawner.http_timeout = 60  # as VersaHub's settings
c.Spawner.start_timeout = 900
"""
        )
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["VERSAHUB_CHP"] = find_chp()
        argv = [sys.executable, "-m", "jupyterhub", "-f", str(config)]
        hub = start_process("hub", argv, log_dir=paths.logs, cwd=paths.hub, env=env)
        wait_until(
            lambda: http_status(f"{self.url}/hub/api") == 200, timeout=90, what="stock hub",
            alive=lambda: hub.process.poll() is None,
        )  # fmt: skip
        return hub

    # -- REST helpers ---------------------------------------------------------------------
    # -- REST helpers ---------------------------------------------------------------------
    def confirmation(self, spec: dict[str, Any], user: str) -> str:
        """What the launch dialog sends: the check API's confirmation hash for this spec
        and this user's decision (the product's own path, effective mounts included)."""
        r = self.api("POST", "/versahub/check", token=self.user_token(user), json={"spec": spec})
        r.raise_for_status()
        doc = r.json()
        assert doc["valid"] and doc["confirmation"], doc
        return str(doc["confirmation"])

    def launch(
        self, user: str, name: str, spec: dict[str, Any], *, confirm: bool = True,
        confirmation: str | None = None, timeout: float = 120,
    ) -> requests.Response:  # fmt: skip
        options: dict[str, Any] = {"spec": spec}
        if confirm:
            options["confirmation"] = confirmation or self.confirmation(spec, user)
        r = self.api("POST", f"/users/{user}/servers/{name}", json={"user_options": options})
        if r.status_code in (201, 202):
            self.wait_ready(user, name, timeout)
        return r

    def wait_ready(self, user: str, name: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            server = model.get("servers", {}).get(name)
            if server and server.get("ready"):
                return server
            if not server or (not server.get("pending") and not server.get("ready")):
                raise RuntimeError(f"{user}/{name} failed to start:\n{self.tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"{user}/{name} not ready after {timeout}s")

    def stop_server(self, user: str, name: str, timeout: float = 60) -> None:
        r = self.api("DELETE", f"/users/{user}/servers/{name}")
        assert r.status_code in (202, 204), r.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/users/{user}").json().get("servers", {}).get(name)
            if (
                not server
                or server.get("stopped")
                or not (server.get("ready") or server.get("pending"))
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{user}/{name} did not stop")

    def container(self, user: str, name: str) -> str:
        """The one running container of ``user``'s server ``name`` on this hub."""
        out = self.containers(running_only=True, owner=user, server=name)
        assert len(out) == 1, out
        return out[0]

    def exec(self, container: str, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker_cli(), "exec", container, "python3", "-c", script],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
