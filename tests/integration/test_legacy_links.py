"""Legacy Binder links on a real hub: ``/repo/<user>/<repo>/<path>`` reaches the launch page.

Through the proxy, the hub's stock ``PrefixRedirectHandler`` sends ``/repo/…`` to
``/hub/repo/…``; VersaHub's ``LegacyRedirectHandler`` then redirects as BinderHub does, to
``/hub/v2/gh/<user>/<repo>/master?urlpath=/<path>``, where the launch page (login first)
takes over. Hostile names get a one-line 400 and no ``Location``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import WebHub

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LINK = "/repo/binder-examples/requirements/notebooks//index.ipynb"
TARGET = "/hub/v2/gh/binder-examples/requirements/master?urlpath=/notebooks/index.ipynb"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    site = WebHub(tmp_path_factory.mktemp("legacy-links")).start()
    try:
        yield site
    finally:
        site.stop()


def test_legacy_link_redirects_to_the_v2_launch_page(hub: WebHub) -> None:
    first = requests.get(hub.url + LINK, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    assert first.headers["Location"] == "/hub" + LINK
    second = requests.get(hub.url + "/hub" + LINK, allow_redirects=False, timeout=10)
    assert second.status_code == 302
    assert second.headers["Location"] == TARGET
    # not logged in: the launch page sends to the login, which comes back to the v2 link
    login = requests.get(hub.url + TARGET, allow_redirects=False, timeout=10)
    assert login.status_code == 302 and "/hub/login?next=" in login.headers["Location"]
    assert unquote(login.headers["Location"].split("next=", 1)[1]) == TARGET
    # logged in: following every redirect ends on the launch page with the link's spec
    session = hub.login("carol")
    page = session.get(hub.url + LINK, timeout=10)
    assert page.status_code == 200 and page.url == hub.url + TARGET
    assert '"repo": "https://github.com/binder-examples/requirements"' in page.text
    assert '"ref": "master"' in page.text
    assert '"urlpath": "notebooks/index.ipynb"' in page.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        pytest.param("/hub/repo//evil.example/x", "user", id="protocol-relative"),
        pytest.param("/hub/repo/%2F%2Fevil.example/r/x", "user", id="encoded-slashes"),
        pytest.param("/hub/repo/..%2F/r/x", "user", id="dot-dot"),
        pytest.param("/hub/repo/org/r%0D%0ASet-Cookie:%20x=1/a", "repo", id="crlf"),
        pytest.param("/hub/repo/org/r/..%2F..%2Fhub%2Fadmin", "urlpath", id="path-dot-dot"),
    ],
)
def test_hostile_legacy_links_are_refused(hub: WebHub, path: str, field: str) -> None:
    resp = requests.get(hub.url + path, allow_redirects=False, timeout=10)
    assert resp.status_code == 400, resp.headers.get("Location")
    assert "Location" not in resp.headers and "x" not in resp.cookies
    assert resp.text.startswith(f"{field}: ") and resp.text.count("\n") == 1
    assert resp.headers["Content-Type"].startswith("text/plain")
