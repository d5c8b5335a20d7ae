"""One real VersaHub site for the integration tests, started exactly as ``versahub up`` does.

``SiteUnderTest(root, site_doc, env=None)`` writes ``<root>/site.yaml`` (the given document
plus this test's free ports and ``state_dir: <root>/state``), then starts the site's
processes with the product's own functions of ``versahub.app.up``: ``start_opa``,
``start_registry`` (when ``registry.enabled``) and ``start_hub``, which writes the
production ``jupyterhub_config.py`` (``render_config_file``: two lines calling
``configure``). No trait, service or token is injected: the tests reach the admin API by
logging in as the site's first admin user with the demo password ``versahub up`` generates
(``demo_password``) and creating a token through the REST API, as an operator would.

``stop()`` stops the processes with ``stop_components``, then cleans up as ``versahub
down`` does (the proxy the hub started), removes this hub's port from the offline firewall
chain and removes leftover server containers *of this hub only* (other tests run hubs in
parallel): VersaHub labels its containers ``org.versahub.owner``, and a container belongs to
this hub when its ``JUPYTERHUB_API_URL`` points at this hub's own internal address.

``env`` is extra environment of the operator who runs ``versahub up`` (e.g.
``GIT_SSL_CAINFO`` for a test git server with its own CA): it is set in ``os.environ``
around ``start_hub`` only. Test helper, not product code.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from versahub.app.hubconfig import HubPaths
from versahub.app.processes import Component
from versahub.app.up import demo_password, down, start_hub, start_opa, start_registry
from versahub.app.up import stop_components as stop_site_components
from versahub.images.engine import docker_cli
from versahub.site.config import Site, load_site, merge_defaults

DOCKER0 = "172.17.0.1"
OWNER_LABEL = "org.versahub.owner"
OFFLINE_CHAIN = "VERSAHUB-OFFLINE"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A free port whose next port is free too (the proxy's API listens on port + 1)."""
    while True:
        port = free_port(host)
        try:
            with socket.socket() as s:
                s.bind((host, port + 1))
        except OSError:
            continue
        return port


def docker0_available() -> bool:
    """True when servers in containers can reach a hub on the docker0 address."""
    try:
        free_port(DOCKER0)
    except OSError:
        return False
    return Path("/var/run/docker.sock").exists()


@contextlib.contextmanager
def operator_environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` for the duration (the operator's shell), then restored."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class SiteCA:
    """A throwaway site CA (openssl) that issues server certificates (test sites and hosts)."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def create(self) -> SiteCA:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=VersaHub test site CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return self

    def issue(
        self, name: str, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()
    ) -> tuple[Path, Path]:
        """A server certificate and key for ``dns`` names and ``ips`` (cert, key)."""
        sans = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
        (self.folder / f"{name}.ext").write_text(
            f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        )
        self._openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={(dns or ips)[0]}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
        )  # fmt: skip
        self._openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        )  # fmt: skip
        return self.folder / f"{name}.crt", self.folder / f"{name}.key"

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.folder, check=True, capture_output=True)


def make_ca(folder: Path, *, server_ip: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``IP:<server_ip>`` (ca, cert, key)."""
    site_ca = SiteCA(folder).create()
    cert, key = site_ca.issue("server", ips=(server_ip,))
    return site_ca.ca, cert, key


def spki_pin(cert: Path) -> str:
    """Chromium's pin of a certificate's public key (base64 SHA-256 of the DER SPKI), for
    ``--ignore-certificate-errors-spki-list``: trusting exactly the hub's key stands in for
    installing the site CA, which this Chromium has no store for."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout  # fmt: skip
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout  # fmt: skip
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@contextlib.contextmanager
def https_page(cert: Path) -> Iterator[Any]:
    """A Chromium page that trusts exactly ``cert``'s key (``spki_pin``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu",
                  f"--ignore-certificate-errors-spki-list={spki_pin(cert)}"],
        )  # fmt: skip
        try:
            yield browser.new_page()
        finally:
            browser.close()


def log_in_and_open_the_launch_page(page: Any, url: str, user: str, password: str) -> None:
    """On the hub's login page: log in, open ``/hub/home``, check it is the launch page."""
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{url}/hub/**")
    page.goto(f"{url}/hub/home")
    assert page.locator("#vh-title").inner_text() == "Launch a persistent server"


class SiteUnderTest:
    """A whole site (OPA, registry when enabled, JupyterHub + proxy) as ``versahub up``
    starts it. ``url`` is the public (proxy) URL; ``token`` an admin's API token."""

    def __init__(
        self, root: Path, site_doc: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.root = root
        self.doc = dict(site_doc or {})
        self.env = dict(env or {})
        self.port = free_port_pair()
        self.spawning = docker0_available()
        self.hub_ip = DOCKER0 if self.spawning else "127.0.0.1"
        self.hub_port = free_port(self.hub_ip)
        self.opa_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = root / "state"
        self.site_file = root / "site.yaml"
        self.site: Site | None = None
        self.components: list[Component] = []
        self.password = ""
        self.token = ""
        self.output: list[str] = []

    # -- the site file ------------------------------------------------------------------
    def site_document(self) -> dict[str, Any]:
        """What ``site.yaml`` says: this test's addresses, overridden by ``site_doc``."""
        own = {
            "hub": {"url": self.url, "internal_ip": self.hub_ip, "internal_port": self.hub_port},
            "opa": {"address": f"127.0.0.1:{self.opa_port}"},
            "state_dir": str(self.state),
        }
        return merge_defaults(own, self.doc)

    @property
    def paths(self) -> HubPaths:
        return HubPaths(self.site.state_dir if self.site is not None else self.state.resolve())

    @property
    def log(self) -> Path:
        """The hub's log file (JupyterHub and everything VersaHub logs inside it)."""
        return self.paths.logs / "hub.log"

    @property
    def procs(self) -> list[Any]:
        """The processes started, in order: OPA, the registry (when enabled), the hub."""
        return [c.process for c in self.components]

    def echo(self, line: str) -> None:
        self.output.append(line)

    # -- start and stop -------------------------------------------------------------------
    def start(self) -> SiteUnderTest:
        self.root.mkdir(parents=True, exist_ok=True)
        self.site_file.write_text(yaml.safe_dump(self.site_document()))
        self.site = site = load_site(self.site_file)
        paths = self.paths
        for folder in (paths.state, paths.hub, paths.logs, paths.opa_data):
            folder.mkdir(parents=True, exist_ok=True)
        self.password = demo_password(paths)
        try:
            self.components.append(start_opa(site, paths, self.echo))
            if site.registry_enabled:
                self.components.append(start_registry(site, paths, self.echo))
            with operator_environment(self.env):
                self.components.append(self.start_hub(site, paths))
            if site.data["hub"]["auth"]["kind"] == "demo" and site.data["hub"]["admin_users"]:
                self.token = self.admin_token(site.data["hub"]["admin_users"][0])
        except BaseException as err:
            self.stop()
            raise RuntimeError(f"the site did not start: {err}\n{self.tail(4000)}") from err
        return self

    def start_hub(self, site: Site, paths: HubPaths) -> Component:
        """The hub as ``versahub up`` starts it (subclasses may start another hub)."""
        return start_hub(site, paths, self.echo)

    def stop(self) -> None:
        stop_site_components(self.components, self.echo)
        if self.site is not None:
            down(self.site, self.echo)  # what `versahub down` cleans up: the proxy
        self.remove_containers()
        # this hub's port in the offline firewall chain (other hubs keep theirs)
        subprocess.run(
            ["iptables", "-w", "-D", OFFLINE_CHAIN, "-p", "tcp", "-d", self.hub_ip,
             "--dport", str(self.hub_port), "-j", "ACCEPT"],
            capture_output=True, check=False,
        )  # fmt: skip

    # -- this hub's containers --------------------------------------------------------------
    def containers(self, *, running_only: bool = False, **labels: str) -> list[str]:
        """Ids of this hub's server containers (also stopped ones unless ``running_only``)
        with ``org.versahub.<key>`` labels equal to ``labels`` (``owner="alice"``)."""
        filters = [] if running_only else ["-a"]
        filters += ["--filter", f"label={OWNER_LABEL}"]
        for key, value in labels.items():
            filters += ["--filter", f"label=org.versahub.{key}={value}"]
        ids = subprocess.run(
            [docker_cli(), "ps", "-q", "--no-trunc", *filters],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        if not ids:
            return []
        inspected = subprocess.run(
            [docker_cli(), "inspect", *ids], capture_output=True, text=True, check=False
        ).stdout  # fmt: skip
        mine = f"JUPYTERHUB_API_URL=http://{self.hub_ip}:{self.hub_port}/"
        try:
            docs = json.loads(inspected or "[]")
        except ValueError:
            return []
        return [
            doc["Id"][:12]
            for doc in docs
            if any(var.startswith(mine) for var in (doc.get("Config") or {}).get("Env") or [])
        ]

    def remove_containers(self) -> None:
        """Remove what is left of this hub's servers (``cleanup_servers`` stops them)."""
        mine = self.containers()
        if mine:
            subprocess.run([docker_cli(), "rm", "-f", *mine], capture_output=True, check=False)

    # -- logins and the REST API -------------------------------------------------------------
    def login(self, user: str = "alice") -> requests.Session:
        """A session logged in as ``user`` with the demo password (cookie + XSRF header)."""
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=10)
        xsrf = session.cookies.get("_xsrf") or ""
        resp = session.post(
            f"{self.url}/hub/login",
            data={"username": user, "password": self.password, "_xsrf": xsrf},
            timeout=20,
            allow_redirects=False,  # the login cookie is set; open no page (nor server)
        )
        if resp.status_code != 302 or "/hub/login" in resp.headers.get("Location", ""):
            raise RuntimeError(f"login as {user} failed: {resp.status_code}")
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/hub/") or xsrf
        return session

    def admin_token(self, admin: str) -> str:
        """An API token of ``admin``, made through the REST API by a logged-in admin."""
        session = self.login(admin)
        r = session.post(
            f"{self.url}/hub/api/users/{admin}/tokens", json={"note": "integration tests"},
            timeout=20,
        )  # fmt: skip
        if r.status_code != 201:
            raise RuntimeError(f"no admin token: {r.status_code} {r.text}")
        return str(r.json()["token"])

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"token {token or self.token}"}
        kw.setdefault("timeout", 30)
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kw)

    def user_token(self, user: str) -> str:
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "tests"})
        r.raise_for_status()
        return str(r.json()["token"])

    def launch_and_follow(
        self, token: str, spec: Mapping[str, Any], *, timeout: float = 900
    ) -> tuple[requests.Response, dict[str, Any]]:
        """Launch ``spec`` through ``POST /hub/api/versahub/launch`` as the token's user,
        confirming the decision's warnings as the launch dialog would, then follow
        ``progress_url`` until ``ready`` or ``failed``. Returns (the launch answer, the
        last progress document)."""
        from versahub.policy import confirmation_hash

        body: dict[str, Any] = {"spec": dict(spec)}
        r = self.api("POST", "/versahub/launch", token=token, json=body)
        if r.status_code == 409 and r.json().get("status") == "confirmation-required":
            answer = r.json()
            warn_ids = [f["id"] for f in answer["decision"]["warn"]]
            body["confirmation"] = confirmation_hash(answer["spec_id"], warn_ids)
            r = self.api("POST", "/versahub/launch", token=token, json=body)
        if r.status_code not in (200, 202):
            return r, {}
        progress_url = r.json()["progress_url"]
        assert progress_url.startswith("/hub/api/"), progress_url
        path = progress_url[len("/hub/api") :]

        def finished() -> dict[str, Any] | None:
            doc = self.api("GET", path, token=token).json()
            return doc if doc.get("status") in ("ready", "failed", "stopped") else None

        return r, wait_for(finished, timeout, f"launch of {spec.get('repo')}", interval=0.5)

    def tail(self, n: int = 6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "\n".join(self.output)[-n:]


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll ``check()`` until it returns something true; return it (else TimeoutError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout:.0f} s")


REPO_ROOT = Path(__file__).resolve().parents[2]


def page_screenshot(
    url: str, session: requests.Session, name: str, *, selector: str, at_least: int = 1,
    exactly: int | None = None, height: int = 800,
) -> None:  # fmt: skip
    """Open ``url`` in Chromium with ``session``'s cookies, check that ``selector`` matches
    at least ``at_least`` (or ``exactly``) elements, and save
    ``test-artifacts/screenshots/<name>.png`` (also ``docs/img/<name>.png`` with
    ``make screenshots``)."""
    from playwright.sync_api import sync_playwright

    shots = REPO_ROOT / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            context = browser.new_context(viewport={"width": 1100, "height": height})
            context.add_cookies([{"name": c.name, "value": c.value or "", "domain": "127.0.0.1",
                                  "path": c.path or "/"} for c in session.cookies])  # fmt: skip
            page = context.new_page()
            page.goto(url)
            found = page.locator(selector).count()
            assert found == exactly if exactly is not None else found >= at_least
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    if os.environ.get("VERSAHUB_UPDATE_DOCS_IMAGES") == "1":
        import shutil

        shutil.copyfile(shots / f"{name}.png", REPO_ROOT / "docs" / "img" / f"{name}.png")
