"""HTTPS for users (``hub.tls``): a site started as ``versahub up`` starts it answers only over
HTTPS with the site CA's certificate, plain HTTP on ``redirect_port`` redirects there, the
hub's responses carry HSTS, Chromium loads the launch page over HTTPS, and a key that does
not match its certificate stops ``versahub up`` before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import (
    SiteUnderTest,
    free_port,
    https_page,
    log_in_and_open_the_launch_page,
    make_ca,
)

pytestmark = [pytest.mark.integration]


class TLSSite(SiteUnderTest):
    """A site whose ``hub.url`` is https, with a certificate of a throwaway site CA."""

    def __init__(self, root: Path) -> None:
        self.ca, self.cert, key = make_ca(root / "tls")
        os.chmod(key, 0o600)
        self.redirect_port = free_port()
        super().__init__(root, {
            "hub": {"admin_users": ["admin"], "auth": {"kind": "demo", "users": ["alice", "admin"]},
                    "tls": {"certificate": str(self.cert), "key": str(key),
                            "redirect_port": self.redirect_port}},
        })  # fmt: skip
        self.url = f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSSite]:
    site = TLSSite(tmp_path_factory.mktemp("tls"))
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(site.ca)  # what a user's machine trusts
    site.start()
    try:
        yield site
    finally:
        site.stop()
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


def test_the_hub_answers_only_https_with_the_site_certificate(site: TLSSite) -> None:
    assert requests.get(f"{site.url}/hub/api", verify=str(site.ca), timeout=10).status_code == 200
    # a client that does not trust the site CA (only the public CAs) is refused by its own
    # TLS check
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{site.url}/hub/api", verify=certifi.where(), timeout=10)
    # the https port speaks no plain HTTP
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{site.port}/hub/api", timeout=10)
    login = requests.get(f"{site.url}/hub/login", timeout=10)
    assert login.status_code == 200
    assert login.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_plain_http_redirects_to_https(site: TLSSite) -> None:
    r = requests.get(f"http://127.0.0.1:{site.redirect_port}/hub/login?next=%2Fhub%2Fhome",
                     allow_redirects=False, timeout=10)  # fmt: skip
    assert r.status_code in (301, 302, 307, 308)
    assert r.headers["Location"] == f"{site.url}/hub/login?next=%2Fhub%2Fhome"


def test_status_checks_the_hub_through_its_certificate(site: TLSSite) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "versahub", "status", "--json", "--site", str(site.site_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    import json

    assert json.loads(done.stdout)["components"]["hub"]["state"] == "running", done.stdout


def test_a_browser_loads_the_launch_page_over_https(site: TLSSite) -> None:
    """Chromium trusts exactly the hub's key (an SPKI pin stands in for installing the site
    CA, which this Chromium has no store for) and never sees plain HTTP."""
    with https_page(site.cert) as page:
        page.goto(f"http://127.0.0.1:{site.redirect_port}/hub/login")  # typed without https
        assert page.url.startswith(f"{site.url}/hub/login")
        log_in_and_open_the_launch_page(page, site.url, "alice", site.password)
        assert page.evaluate("location.protocol") == "https:"
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["jupyterhub-session-id"]["secure"] is True


def test_a_key_that_does_not_match_stops_up_before_anything_starts(tmp_path: Path) -> None:
    _, cert, _ = make_ca(tmp_path / "one")
    _, _, other_key = make_ca(tmp_path / "two")
    os.chmod(other_key, 0o600)
    port = free_port()
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"),
        "hub": {"url": f"https://127.0.0.1:{port}",
                "tls": {"certificate": str(cert), "key": str(other_key)}},
        "opa": {"address": f"127.0.0.1:{free_port()}"},
    }))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "versahub", "up", "--site", str(site_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "hub.tls.key" in done.stderr and "cannot be used together" in done.stderr
    assert not (tmp_path / "state" / "logs").exists()  # nothing was started
