"""``versahub up`` / ``down`` / ``status``: the whole site on this machine.

Order of ``up``: validate site.yaml → render OPA's site data → start OPA and wait for
``/health`` → write the hub configuration → start JupyterHub (which starts
configurable-http-proxy) and wait for ``/hub/api`` → print the URL and the demo login →
stay in the foreground until Ctrl-C, SIGTERM or ``versahub down``. When a step fails,
everything started so far is stopped again: nothing is left half-running.

State is private to the operator: the state folders are 0700 (tightened if they exist), the
hub database is created 0600 before JupyterHub opens it (SQLite gives its journal the same
mode), and the cookie secret stays 0600 (JupyterHub writes it so; an older one is tightened).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from versahub.app.hubconfig import HubPaths, find_chp, render_config_file
from versahub.app.processes import (
    Component,
    http_status,
    pid_alive,
    port_in_use,
    read_pid_file,
    read_run_file,
    start_process,
    stop_pid,
    wait_until,
    write_run_file,
)
from versahub.errors import InputError
from versahub.images.bootstrap import bootstrap
from versahub.images.engine import engine_state
from versahub.images.pool import probe_all
from versahub.images.registry import registry_config
from versahub.policy.data import write_decision_log_key, write_site_data
from versahub.policy.decision_store import summary as decision_summary
from versahub.policy.server import (
    POLICY_DIR,
    decision_log_config,
    find_opa,
    opa_command,
    policy_drift,
)
from versahub.site.config import Site
from versahub.site.lti import lti_endpoints, lti_kind
from versahub.site.tls import check_key_pair
from versahub.util.files import PRIVATE, PRIVATE_DIR, atomic_write
from versahub.util.net import split_host_port

Echo = Callable[[str], None]
# in paths.hub, as hubconfig.hub_settings names them (db_url, cookie_secret_file)
HUB_DB = "jupyterhub.sqlite"
COOKIE_SECRET = "jupyterhub_cookie_secret"


def _host_port(address: str) -> tuple[str, int]:
    return split_host_port(address, default_host="127.0.0.1")


def _hub_host_port(site: Site) -> tuple[str, int]:
    parts = urlsplit(site.hub_url)
    host = parts.hostname or "127.0.0.1"
    default = 443 if parts.scheme == "https" else 80
    return ("127.0.0.1" if host in ("0.0.0.0", "localhost") else host), (parts.port or default)


def prepare_state(paths: HubPaths) -> None:
    """Create the site's state folders mode 0700, tightening any that already exist.

    They hold the hub database, the cookie secret, the demo password, the trust store and
    the logs, none of which other local users may read.
    """
    for folder in (paths.state, paths.hub, paths.logs, paths.opa_data):
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        try:
            os.chmod(folder, PRIVATE_DIR)
        except OSError as err:
            raise InputError("state_dir", f"cannot make {folder} private: {err}") from None


def _private_file(path: Path, *, create: bool) -> None:
    """Make ``path`` mode 0600, creating it empty first when ``create`` and missing."""
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    if path.exists():
        os.chmod(path, PRIVATE)


def demo_password(paths: HubPaths) -> str:
    """Return the site's demo password, creating it (mode 0600) on first use."""
    return secret_file(paths.demo_password_file, make=lambda: secrets.token_urlsafe(12))


def crypt_key(paths: HubPaths) -> str:
    """Return the site's auth_state key (``JUPYTERHUB_CRYPT_KEY``), creating it on first use.

    32 random bytes, hex, in ``<state>/hub/crypt-key`` (mode 0600): the LTI logins keep the
    platforms' claims in JupyterHub's encrypted ``auth_state``. Losing the file only loses
    those claims (they come back at the next launch), not the accounts.
    """
    return secret_file(paths.crypt_key_file)


def secret_file(file: Path, make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret in ``file`` (mode 0600), made on first use by ``make`` (32 random bytes,
    hex, unless told otherwise)."""
    if file.exists():
        _private_file(file, create=False)
        return file.read_text("utf-8").strip()
    file.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    value = make()
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def running_record(site: Site) -> dict[str, Any] | None:
    """The run record of a live ``versahub up`` of this site, else ``None``."""
    record = read_run_file(HubPaths(site.state_dir).run_file)
    if record and pid_alive(int(record.get("supervisor", 0) or 0)):
        return record
    return None


def _check_ports_free(site: Site) -> None:
    hub_host, hub_port = _hub_host_port(site)
    opa_host, opa_port = _host_port(site.opa_address)
    wanted = {
        "hub.url": (hub_host, hub_port),
        "hub.url (proxy API port, public port + 1)": ("127.0.0.1", hub_port + 1),
        "hub.internal_port": (
            str(site.data["hub"]["internal_ip"]),
            int(site.data["hub"]["internal_port"]),
        ),
        "opa.address": (opa_host, opa_port),
    }
    if site.registry_enabled:
        wanted["registry.address"] = _host_port(site.registry_address)
    tls = site.hub_tls
    if tls is not None and tls.redirect_port is not None:
        wanted["hub.tls.redirect_port"] = (hub_host, tls.redirect_port)
    for field, (host, port) in wanted.items():
        if port_in_use(host, port):
            raise InputError(field, f"port {port} on {host} is already in use")


def _hub_cert(site: Site) -> Path | None:
    """The certificate the hub's URL must answer with (``hub.tls``), else ``None``."""
    tls = site.hub_tls
    return tls.certificate if tls is not None else None


def _start_until_ok(
    name: str,
    argv: list[str],
    url: str,
    timeout: float,
    paths: HubPaths,
    echo: Echo,
    certificate: Path | None = None,
    **popen: Any,
) -> Component:
    """Start a component and wait until ``GET url`` answers 200 (or it exits).

    A component that never answers is stopped before the error is raised: a failed start
    leaves no process behind (the hub would otherwise keep its proxy and services running)."""
    component = start_process(name, argv, log_dir=paths.logs, **popen)
    try:
        wait_until(
            lambda: http_status(url, certificate=certificate) == 200,
            timeout=timeout,
            what=f"{name} ({url})",
            progress=echo,
            alive=lambda: component.process.poll() is None,
        )
    except BaseException:
        if component.process.poll() is None:
            stop_pid(component.process.pid, timeout=20)
        raise
    return component


def start_opa(site: Site, paths: HubPaths, echo: Echo) -> Component:
    """Render site data and start the real OPA server; wait for its health check.

    OPA uploads its decision log, masked as ``policy.decision_log.personal_data`` says, to
    the hub (``versahub.web.decisions``) with the token of the hub service ``versahub-opa``;
    the key that pseudonymises user names (``hash``) is OPA data of its own, never in
    site.yaml. Decisions are not also written to OPA's own log (``<state>/logs/opa.log``).
    """
    prepare_state(paths)
    write_site_data(site.policy_data(), paths.opa_data)
    write_decision_log_key(secret_file(paths.hub / "decision-log-key"), paths.opa_data)
    config = decision_log_config(
        f"{site.hub_internal_url}/hub/api", secret_file(paths.decision_log_token_file)
    )
    paths.opa_config_file.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    atomic_write(paths.opa_config_file, json.dumps(config, indent=2) + "\n", mode=PRIVATE)
    argv = opa_command(
        POLICY_DIR, paths.opa_data, site.opa_address, decision_log_console=False,
        opa=find_opa(), config_file=paths.opa_config_file,
    )  # fmt: skip
    echo(f"• starting OPA on {site.opa_address} (policies: {POLICY_DIR})")
    return _start_until_ok("opa", argv, f"{site.opa_url}/health", 30, paths, echo)


def start_registry(site: Site, paths: HubPaths, echo: Echo) -> Component:
    """Start Debian's ``docker-registry`` (CNCF distribution) on its own storage folder.

    Untagged blobs are garbage-collected first, while the registry is still stopped (the
    only safe moment for the distribution registry's own ``garbage-collect``).
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        raise InputError("registry.enabled", "docker-registry is not installed (make setup)")
    storage = site.registry_storage
    storage.mkdir(parents=True, exist_ok=True)
    config = paths.state / "registry.yml"
    config.write_text(registry_config(str(storage), site.registry_address), "utf-8")
    echo(f"• garbage-collecting the registry storage ({storage})")
    subprocess.run(
        [binary, "garbage-collect", "--delete-untagged", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )
    echo(f"• starting the image registry on {site.registry_address}")
    argv = [binary, "serve", str(config)]
    return _start_until_ok("registry", argv, f"http://{site.registry_address}/v2/", 30, paths, echo)


def ensure_base_image(site: Site, echo: Echo) -> None:
    """Build the site's base notebook image unless it is up to date (about a minute once)."""
    config = site.images_config()
    echo(f"• base notebook image {config.base_image}")
    result = bootstrap(config, lambda msg: echo(f"  {msg}"))
    echo(f"  {'built' if result.built else 'up to date'} (recipe {result.recipe})")


def start_hub(site: Site, paths: HubPaths, echo: Echo) -> Component:
    """Write ``jupyterhub_config.py`` and start JupyterHub; wait for ``/hub/api``."""
    prepare_state(paths)
    # an empty file is a new SQLite database: JupyterHub fills it, keeping the mode
    _private_file(paths.hub / HUB_DB, create=True)
    _private_file(paths.hub / COOKIE_SECRET, create=False)
    if lti_kind(site.data["hub"]["auth"]) is not None:
        crypt_key(paths)  # read by the hub's configure() unless JUPYTERHUB_CRYPT_KEY is set
    assert site.path is not None, "the hub reads site.yaml itself"
    if site.hub_tls is not None:
        check_key_pair(site.hub_tls)
    paths.config_file.write_text(render_config_file(site.path), "utf-8")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["VERSAHUB_CHP"] = find_chp()
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(paths.config_file)]
    echo(f"• starting JupyterHub at {site.hub_url} (with configurable-http-proxy)")
    url = f"{site.hub_url}/hub/api"
    return _start_until_ok(
        "hub", argv, url, 90, paths, echo, cwd=paths.hub, env=env, certificate=_hub_cert(site)
    )


def stop_components(components: list[Component], echo: Echo) -> None:
    """Stop components in reverse start order (the hub stops its proxy itself)."""
    for component in reversed(components):
        if component.process.poll() is None:
            echo(f"• stopping {component.name}")
            stop_pid(component.process.pid, timeout=20)
        component.process.wait(timeout=5)


def up(site: Site, echo: Echo, *, foreground: bool = True) -> int:
    """Start the site; in the foreground, wait until told to stop. Returns an exit status."""
    paths = HubPaths(site.state_dir)
    live = running_record(site)
    if live:
        raise InputError("site", f"already running at {live.get('hub_url')} (versahub down)")
    if engine_state()["state"] != "running":
        raise InputError("docker", "the Docker engine is not running (make setup starts it)")
    _check_ports_free(site)
    if site.hub_tls is not None:
        check_key_pair(site.hub_tls)  # before anything starts
    prepare_state(paths)
    password = demo_password(paths)
    components: list[Component] = []
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        ensure_base_image(site, echo)
        components.append(start_opa(site, paths, echo))
        if site.registry_enabled:
            components.append(start_registry(site, paths, echo))
        components.append(start_hub(site, paths, echo))
        write_run_file(
            paths.run_file,
            {
                "supervisor": os.getpid(),
                "hub_url": site.hub_url,
                "opa_url": site.opa_url,
                "site_file": str(site.path),
                "components": {c.name: c.process.pid for c in components},
                "started": time.time(),
            },
        )
        auth = site.data["hub"]["auth"]
        echo("")
        echo(f"VersaHub is running: {site.hub_url}/hub/")
        if auth["kind"] == "demo":
            echo(f"  demo login: user {auth['users'][0]!r} (or any of {', '.join(auth['users'])})")
            echo(f"  password:   {password}")
        for label, url in lti_endpoints(site.hub_url, lti_kind(auth) or "").items():
            echo(f"  LTI {label}: {url}")
        echo(f"  OPA:        {site.opa_url}  (policies reload on edit)")
        echo(f"  decisions:  {site.hub_url}/hub/versahub/decisions  (for admins)")
        if site.registry_enabled:
            echo(f"  registry:   http://{site.registry_address}  (storage {site.registry_storage})")
        echo(f"  logs:       {paths.logs}")
        echo("Stop with Ctrl-C or `versahub down`.")
        if not foreground:
            return 0
        while not stopping:
            for component in components:
                if component.process.poll() is not None:
                    echo(f"! {component.name} exited (see {component.log_file}); stopping the site")
                    stopping = True
            time.sleep(0.3)
        return 0
    finally:
        if foreground or stopping:
            stop_components(components, echo)
            paths.run_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def down(site: Site, echo: Echo, *, timeout: float = 40.0) -> int:
    """Stop a running site (its ``versahub up``), then anything it left behind."""
    paths = HubPaths(site.state_dir)
    record = read_run_file(paths.run_file)
    if record is None:
        echo("VersaHub is not running.")
    else:
        supervisor = int(record.get("supervisor", 0) or 0)
        if supervisor and pid_alive(supervisor):
            echo(f"• stopping versahub up (pid {supervisor})")
            stop_pid(supervisor, timeout=timeout, group=False)
        for name, pid in sorted(record.get("components", {}).items()):
            if pid_alive(int(pid)):
                echo(f"• stopping {name} (pid {pid})")
                stop_pid(int(pid))
    proxy_pid = read_pid_file(paths.hub / "jupyterhub-proxy.pid")
    if proxy_pid and pid_alive(proxy_pid) and _is_proxy(proxy_pid):
        echo(f"• stopping configurable-http-proxy (pid {proxy_pid})")
        stop_pid(proxy_pid, group=False)
    paths.run_file.unlink(missing_ok=True)
    echo("VersaHub is stopped.")
    return 0


def _is_proxy(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"configurable-http-proxy" in cmdline


def status(site: Site) -> dict[str, Any]:
    """Each component's state: ``running``, ``down`` or ``absent``, with details."""
    paths = HubPaths(site.state_dir)
    record = running_record(site)
    hub_status = http_status(f"{site.hub_url}/hub/api", timeout=1.0, certificate=_hub_cert(site))
    opa_status = http_status(f"{site.opa_url}/health", timeout=1.0)
    proxy_pid = read_pid_file(paths.hub / "jupyterhub-proxy.pid")
    proxy_live = bool(proxy_pid and pid_alive(proxy_pid) and _is_proxy(proxy_pid))
    components = {
        "hub": {"state": "running" if hub_status == 200 else "down", "url": f"{site.hub_url}/hub/"},
        "proxy": {
            "state": "running" if proxy_live else "down",
            "pid": proxy_pid if proxy_live else None,
        },
        "opa": {"state": "running" if opa_status == 200 else "down", "url": site.opa_url},
        "docker": engine_state(),
    }
    # what the hub has recorded of OPA's decisions (docs/policies.md#decision-records)
    components["opa"]["decision_records"] = decision_summary(site.state_dir)
    if opa_status == 200:
        try:
            drift = policy_drift(site.opa_url, POLICY_DIR)
        except (OSError, ValueError) as err:
            drift = [f"cannot list OPA's policies: {err}"]
        components["opa"]["policy_drift"] = drift
        if drift:
            components["opa"]["state"] = "degraded"
    images = site.images_config()
    if site.registry_enabled:
        url = f"{images.registry_scheme}://{site.registry_address}"
        registry_status = http_status(f"{url}/v2/", timeout=1.0)
        components["registry"] = {
            # 401: it answers, and asks for the account the hub has (registry.credentials)
            "state": "running" if registry_status in (200, 401) else "down",
            "url": url,
        }
    # each remote builder's engine, pinged over its TLS connection (docs/deploy-ansible.md)
    probes = asyncio.run(probe_all(images.builders)) if images.builders else []
    for endpoint, problem in probes:
        components[f"builder {endpoint.name}"] = {
            "state": "running" if problem is None else "down",
            "url": endpoint.url,
            **({"detail": problem} if problem else {}),
        }
    return {
        "site": site.name,
        "running": record is not None,
        "supervisor": record.get("supervisor") if record else None,
        "components": components,
    }
