"""`make up` starts a real site (JupyterHub + configurable-http-proxy + OPA); `versahub down`
stops all of it. Runs the real Makefile target in the background, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from versahub.app.processes import pid_alive, port_in_use

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VERSAHUB = [sys.executable, "-m", "versahub"]


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout} s")


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    doc = yaml.safe_load((REPO / "site.yaml").read_text())
    doc["state_dir"] = str(tmp_path / "state")
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump(doc))
    return file


def test_make_up_then_down(site_file: Path, tmp_path: Path) -> None:
    for port in (8000, 8001, 8081, 8181, 5000):
        assert not port_in_use("127.0.0.1", port), f"port {port} is busy before the test"
    env = dict(os.environ, VERSAHUB_SITE=str(site_file))
    log = (tmp_path / "make-up.log").open("wb")
    make = subprocess.Popen(
        ["make", "--no-print-directory", "up"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: _ok("http://127.0.0.1:8181/health"), 180, "OPA /health")
        _wait(lambda: _ok("http://127.0.0.1:8000/hub/api"), 180, "hub /hub/api")
        _wait(lambda: "password:" in (tmp_path / "make-up.log").read_text(), 30, "login line")
        output = (tmp_path / "make-up.log").read_text()
        assert "VersaHub is running: http://127.0.0.1:8000/hub/" in output
        password = output.split("password:", 1)[1].split()[0]

        # The demo login works through the proxy, and OPA answers the decision query.
        session = requests.Session()
        login_page = session.get("http://127.0.0.1:8000/hub/login", timeout=5)
        xsrf = session.cookies.get("_xsrf") or ""
        assert login_page.status_code == 200
        answer = session.post(
            "http://127.0.0.1:8000/hub/login",
            data={"username": "alice", "password": password, "_xsrf": xsrf},
            timeout=10,
            allow_redirects=False,
        )
        assert answer.status_code == 302, answer.text[:300]
        bad = requests.post(
            "http://127.0.0.1:8000/hub/login",
            data={"username": "alice", "password": "wrong"},
            timeout=10,
            allow_redirects=False,
        )
        assert bad.status_code != 302

        status = subprocess.run(
            [*VERSAHUB, "status", "--json", "--site", str(site_file)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert _ok("http://127.0.0.1:5000/v2/"), "the registry answers"
        for name in ("hub", "proxy", "opa", "registry"):
            assert report["components"][name]["state"] == "running", report

        run = json.loads((tmp_path / "state" / "run.json").read_text())
        pids = [run["supervisor"], *run["components"].values()]
        proxy_pid = int((tmp_path / "state" / "hub" / "jupyterhub-proxy.pid").read_text())
        pids.append(proxy_pid)
    finally:
        down = subprocess.run(
            [*VERSAHUB, "down", "--site", str(site_file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
        log.close()
    assert down.returncode == 0, down.stderr
    assert make.returncode == 0, (tmp_path / "make-up.log").read_text()[-2000:]
    for pid in pids:
        assert not pid_alive(pid), f"pid {pid} is still running after versahub down"
    for port in (8000, 8001, 8081, 8181, 5000):
        assert not port_in_use("127.0.0.1", port), f"port {port} still open after versahub down"
    assert not (tmp_path / "state" / "run.json").exists()

    after = subprocess.run(
        [*VERSAHUB, "status", "--json", "--site", str(site_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert after.returncode == 1
    assert json.loads(after.stdout)["running"] is False
