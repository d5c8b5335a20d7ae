"""Helpers for the spawning tests: a real OPA + JupyterHub + proxy on loopback, real Docker.

``HubUnderTest`` writes a site.yaml and a jupyterhub_config.py that applies both the lead's
``hub_settings`` and ``versahub.hub.config.hub_extra_settings`` (plus one test service token
with admin scopes), starts OPA with the repository's real policies and the hub, and stops
both. ``seed_cached_image`` puts an image into the local cache under the exact name and
cache-key label ``versahub.images`` computes for (repo, commit), so that launches are cache
hits without any network. Test helper, not product code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from versahub.app.hubconfig import REPO_ROOT, find_chp
from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.engine import DockerEngine, docker_cli
from versahub.images.names import CACHE_KEY_LABEL
from versahub.policy import PolicyClient, build_input, confirmation_hash
from versahub.policy.data import render_site_data, write_site_data
from versahub.policy.server import find_opa, opa_command
from versahub.site.config import load_site

REPO = "https://github.com/binder-examples/requirements"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_IP = "172.17.0.1"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


class HubUnderTest:
    def __init__(
        self, root: Path, *, cull_every: int = 2, volumes: dict | None = None,
        stock_image: str | None = None, policy: dict[str, Any] | None = None,
        images_config: dict[str, Any] | None = None, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """``policy`` is merged over the test site's ``policy``; ``images_config`` becomes
        ``VersaHubDockerSpawner.images_config``; ``env`` is added to the hub's environment."""
        self.root = root
        self.stock_image = stock_image
        self.policy = dict(policy or {})
        self.images_config = dict(images_config or {})
        self.env = dict(env or {})
        self.port = free_port()
        while True:  # the proxy API listens on port + 1
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", self.port + 1))
                break
            except OSError:
                self.port = free_port()
        self.hub_port = free_port(HUB_IP)
        self.opa_port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.cull_every = cull_every
        self.volumes = volumes
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = root / "hub.log"

    def write_files(self) -> Path:
        state = self.root / "state"
        site = {
            "hub": {
                "url": self.url,
                "internal_ip": HUB_IP,
                "internal_port": self.hub_port,
                "cull_every": self.cull_every,
                "admin_users": ["admin"],
                "auth": {"kind": "demo", "users": ["alice", "bob", "carol", "admin"]},
            },
            "opa": {"address": f"127.0.0.1:{self.opa_port}", "timeout": 2.0},
            "state_dir": str(state),
            "volumes": self.volumes
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
                **self.policy,
            },
        }  # fmt: skip
        site_file = self.root / "site.yaml"
        site_file.write_text(yaml.safe_dump(site))
        (self.root / "hub").mkdir(exist_ok=True)
        (state / "hub").mkdir(parents=True, exist_ok=True)
        config = self.root / "hub" / "jupyterhub_config.py"
        config.write_text(
            f"""
from versahub.site.config import load_site
from versahub.app.hubconfig import HubPaths, apply_settings, find_chp, hub_settings, site_settings

site = load_site({str(site_file)!r})
paths = HubPaths(site.state_dir)
STOCK_IMAGE = {self.stock_image!r}
if STOCK_IMAGE:  # stock JupyterHub + DockerSpawner, for the benchmark's baseline
    apply_settings(c, hub_settings(site, paths=paths, demo_password="pw", chp=find_chp()))
    c.JupyterHub.hub_bind_url = "http://{HUB_IP}:{self.hub_port}"
    c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
    c.DockerSpawner.image = STOCK_IMAGE
    c.DockerSpawner.remove = True
    c.DockerSpawner.pull_policy = "never"
    c.Spawner.http_timeout = 60  # as VersaHub's settings
    c.Spawner.start_timeout = 900
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
else:  # exactly what `versahub up` configures (versahub.app.hubconfig.configure)
    apply_settings(c, site_settings(site, paths=paths, demo_password="pw", chp=find_chp()))
    c.VersaHubDockerSpawner.images_config = {self.images_config!r}
c.JupyterHub.services.append({{"name": "tests", "api_token": {self.token!r}}})
c.JupyterHub.load_roles.append({{
    "name": "tests", "services": ["tests"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "shares",
               "admin:groups", "read:roles"],
}})
c.JupyterHub.log_level = "DEBUG"
"""
        )
        return site_file

    def start(self) -> HubUnderTest:
        site_file = self.write_files()
        site = load_site(site_file)
        data_dir = self.root / "opa-data"
        write_site_data(render_site_data(site.policy, site.volumes), data_dir)
        opa_log = (self.root / "opa.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                opa_command(REPO_ROOT / "policies", data_dir, site.opa_address, opa=find_opa()),
                stdout=opa_log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["VERSAHUB_CHP"] = find_chp()
        env.update(self.env)
        log = self.log.open("ab")
        config = str(self.root / "hub" / "jupyterhub_config.py")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", config],
                cwd=self.root / "hub", env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/hub/api", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError("hub did not start:\n" + self.log.read_text()[-4000:])

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
        # this hub's port in the offline firewall chain (other hubs keep theirs)
        subprocess.run(
            ["iptables", "-w", "-D", "VERSAHUB-OFFLINE", "-p", "tcp", "-d", HUB_IP,
             "--dport", str(self.hub_port), "-j", "ACCEPT"],
            capture_output=True, check=False,
        )  # fmt: skip
        # containers of this hub (cleanup_servers stops them; remove leftovers by label)
        out = subprocess.run(
            [docker_cli(), "ps", "-aq", "--filter", "label=org.versahub.owner"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        if out:
            subprocess.run([docker_cli(), "rm", "-f", *out], capture_output=True, check=False)

    # -- REST helpers ---------------------------------------------------------------------
    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"token {token or self.token}"}
        kw.setdefault("timeout", 30)
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kw)

    def user_token(self, user: str) -> str:
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "tests"})
        r.raise_for_status()
        return str(r.json()["token"])

    def confirmation(self, spec: dict[str, Any], user: str) -> str:
        """What the launch dialog computes: the hash for the decision's warnings."""
        from versahub.spec import parse_spec

        site = load_site(self.root / "site.yaml")
        parsed = parse_spec(spec, owner=user, volumes=list(site.volumes))

        async def ask() -> Any:
            async with PolicyClient(site.opa_url, timeout=2) as client:
                return await client.decide(
                    build_input(parsed, {"name": user, "groups": [], "admin": False}, None,
                                {"users": [], "groups": []},
                                {"name": site.name, "hub_url": site.hub_url})
                )  # fmt: skip

        decision = asyncio.run(ask())
        return confirmation_hash(parsed.spec_id, decision.warn_ids)

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
        out = subprocess.run(
            [docker_cli(), "ps", "-q", "--filter", f"label=org.versahub.owner={user}",
             "--filter", f"label=org.versahub.server={name}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert len(out) == 1, out
        return out[0]

    def exec(self, container: str, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker_cli(), "exec", container, "python3", "-c", script],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def tail(self, n: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
