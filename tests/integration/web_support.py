"""A real VersaHub site for the launch-page tests: OPA + JupyterHub + proxy on loopback.

``WebHub`` writes a site.yaml and a ``jupyterhub_config.py`` that applies the lead's
``hub_settings``, the spawning settings of ``versahub.hub.config.hub_extra_settings`` and
``versahub.web.config.web_settings`` (merged per trait, as the lead's hubconfig should),
starts the real OPA with the repository's policies and the hub, and stops both. It never
uses ``make up``. Test helper, not product code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from versahub.app.hubconfig import REPO_ROOT, find_chp
from versahub.policy.data import render_site_data, write_site_data
from versahub.policy.server import find_opa, opa_command
from versahub.site.config import load_site

HUB_IP = "172.17.0.1"
PASSWORD = "launch-page-test"
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "admin"]
CATALOGUE = [
    {
        "id": "requirements-demo",
        "title": "Python with requirements.txt",
        "description": "The binder-examples requirements demo, with your home folder.",
        "spec": {
            "repo": "https://github.com/binder-examples/requirements",
            "urlpath": "lab",
            "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
        },
    },
    {
        "id": "ds101",
        "title": "DS101 labs <b>(course)</b>",
        "description": "Course material read-only, no internet.",
        "spec": {
            "repo": "https://github.com/binder-examples/requirements",
            "internet": False,
            "mounts": [{"volume": "teaching", "path": "/home/jovyan/course", "mode": "ro"}],
        },
    },
]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def docker0_available() -> bool:
    try:
        free_port(HUB_IP)
    except OSError:
        return False
    return Path("/var/run/docker.sock").exists()


class WebHub:
    """One site with the launch page; ``url`` is the public (proxy) URL."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        while True:  # the proxy API listens on port + 1
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", self.port + 1))
                break
            except OSError:
                self.port = free_port()
        self.spawning = docker0_available()
        self.hub_ip = HUB_IP if self.spawning else "127.0.0.1"
        self.hub_port = free_port(self.hub_ip)
        self.opa_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = root / "hub.log"
        self.opa_log = root / "opa.log"
        self.state = root / "state"
        self.config_file = root / "hub" / "jupyterhub_config.py"

    def site_document(self) -> dict[str, Any]:
        return {
            "site": {
                "name": "VersaHub test site",
                "institution": "Example University",
                "docs_url": "https://versahub.example.org/docs",
                "credits": "Service provided by the Example University research computing team.",
                "warnings": [
                    "Servers built from repositories you do not know can act as you inside "
                    "the server."
                ],
            },
            "hub": {
                "url": self.url,
                "internal_ip": self.hub_ip,
                "internal_port": self.hub_port,
                "admin_users": ["admin"],
                "auth": {"kind": "demo", "users": USERS},
            },
            "catalogue": CATALOGUE,
            "opa": {"address": f"127.0.0.1:{self.opa_port}", "timeout": 2.0},
            "state_dir": str(self.state),
            "volumes": {
                "home": {
                    "kind": "home",
                    "description": "Your persistent home folder.",
                    "read": {"users": ["*"]},
                    "write": {"users": ["*"]},
                },
                "teaching": {
                    "kind": "shared",
                    "description": "Course material, written by teachers.",
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
            },
        }  # fmt: skip

    def write_files(self) -> Path:
        site_file = self.root / "site.yaml"
        site_file.write_text(yaml.safe_dump(self.site_document()))
        (self.root / "hub").mkdir(exist_ok=True)
        (self.state / "hub").mkdir(parents=True, exist_ok=True)
        config = self.root / "hub" / "jupyterhub_config.py"
        config.write_text(
            f"""
# exactly what `versahub up` configures (versahub.app.hubconfig.configure)
from versahub.site.config import load_site
from versahub.app.hubconfig import HubPaths, apply_settings, find_chp, site_settings

site = load_site({str(site_file)!r})
paths = HubPaths(site.state_dir)
apply_settings(c, site_settings(site, paths=paths, demo_password={PASSWORD!r}, chp=find_chp()))
c.JupyterHub.log_level = "DEBUG"
"""
        )
        return site_file

    def start(self) -> WebHub:
        site_file = self.write_files()
        site = load_site(site_file)
        data_dir = self.root / "opa-data"
        write_site_data(render_site_data(site.policy, site.volumes), data_dir)
        opa_log = self.opa_log.open("ab")
        self.procs.append(
            subprocess.Popen(
                opa_command(REPO_ROOT / "policies", data_dir, site.opa_address, opa=find_opa()),
                stdout=opa_log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["VERSAHUB_CHP"] = find_chp()
        log = self.log.open("ab")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config_file)],
                cwd=self.root / "hub", env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/hub/api", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("hub did not start:\n" + self.log.read_text()[-4000:])

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
        self.procs.clear()
        # cleanup_servers (the lead's setting) stops every server when the hub stops.

    def login(self, user: str = "alice") -> requests.Session:
        """A requests session logged in as ``user`` (cookie auth, with the XSRF token)."""
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=10)
        xsrf = session.cookies.get("_xsrf") or ""
        resp = session.post(
            f"{self.url}/hub/login",
            data={"username": user, "password": PASSWORD, "_xsrf": xsrf},
            timeout=20,
        )
        resp.raise_for_status()
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/hub/") or xsrf
        return session
