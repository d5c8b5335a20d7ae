"""The launch page's REST API and routes on a real hub (JupyterHub + proxy + real OPA).

``POST /hub/api/versahub/check``, ``/hub/api/versahub/trust[/<spec_id>]``, the ``/v2/…``
route through the proxy and the hub's prefix redirect, the badge and the static files.
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

from versahub.policy import confirmation_hash
from versahub.urls import parse_launch_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQS = "https://github.com/binder-examples/requirements"
HOME_RW = {
    "repo": REQS,
    "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    site = WebHub(tmp_path_factory.mktemp("web-api")).start()
    try:
        yield site
    finally:
        site.stop()


def check(session: requests.Session, hub: WebHub, body: dict) -> requests.Response:
    return session.post(f"{hub.url}/hub/api/versahub/check", json=body, timeout=10)


def test_check_needs_login_and_xsrf(hub: WebHub) -> None:
    anonymous = requests.post(f"{hub.url}/hub/api/versahub/check", json={"spec": HOME_RW})
    assert anonymous.status_code == 403
    session = hub.login("alice")
    del session.headers["X-XSRFToken"]
    assert check(session, hub, {"spec": HOME_RW}).status_code == 403
    assert session.get(f"{hub.url}/hub/api/versahub/trust", timeout=10).status_code in (200, 403)


def test_check_spec_and_url_agree(hub: WebHub) -> None:
    session = hub.login("alice")
    by_spec = check(session, hub, {"spec": HOME_RW, "origin": {"external": False}}).json()
    assert by_spec["valid"] is True
    assert {f["id"] for f in by_spec["decision"]["warn"]} == {
        "internet-data-exfiltration", "internet-egress", "storage-read-write",
    }  # fmt: skip
    assert by_spec["requires_confirmation"] is True and by_spec["trusted"] is False
    warn_ids = [f["id"] for f in by_spec["decision"]["warn"]]
    assert by_spec["confirmation"] == confirmation_hash(by_spec["spec_id"], warn_ids)
    assert by_spec["launch_url"].startswith(f"{hub.url}/v2/gh/binder-examples/requirements/HEAD?")
    assert parse_launch_url(by_spec["launch_url"]).spec_id == by_spec["spec_id"]
    assert by_spec["badge_markdown"].startswith(f"[![Launch on VersaHub]({hub.url}/badge.svg)](")
    assert by_spec["badge_html"].startswith("<a href=")
    assert by_spec["summary"][0]["key"] == "image"
    assert by_spec["suggested_server_name"]
    by_url = check(session, hub, {"url": by_spec["launch_url"]}).json()
    assert by_url["spec_id"] == by_spec["spec_id"]
    # A link from outside adds the origin warning, so another confirmation hash.
    outside = check(
        session, hub, {"spec": HOME_RW, "origin": {"external": True, "referrer": "https://x.org/"}}
    ).json()
    assert "origin-external-link" in {f["id"] for f in outside["decision"]["warn"]}
    assert outside["confirmation"] != by_spec["confirmation"]


def test_check_reports_the_first_bad_field(hub: WebHub) -> None:
    session = hub.login("alice")
    bad = check(session, hub, {"spec": {"repo": REQS, "resources": {"memory": "lots"}}})
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["error"]["field"] == "resources.memory"
    owner = check(session, hub, {"spec": {"repo": REQS, "collaborators": ["alice"]}}).json()
    assert owner["error"]["field"] == "collaborators[0]"
    link = check(session, hub, {"url": f"{hub.url}/v2/gh/a/b/HEAD?memroy=8G"}).json()
    assert link["valid"] is False and link["error"]["field"] == "memroy"
    assert check(session, hub, {}).json()["error"]["field"] == "spec"


def test_check_reports_every_bad_field_at_once(hub: WebHub) -> None:
    session = hub.login("alice")
    spec = {"repo": REQS, "ref": "-x", "internet": "maybe", "resources": {"cpu": "many"}}
    doc = check(session, hub, {"spec": spec}).json()
    assert doc["valid"] is False
    assert [e["field"] for e in doc["errors"]] == ["ref", "internet", "resources.cpu"]
    assert doc["error"] == doc["errors"][0]


def test_the_default_home_mount_is_judged_and_shown(hub: WebHub) -> None:
    """A spec without mounts still gets the persistent home, read-write: the policy warns
    about it and the dialog's summary says so (nothing is mounted that was not shown)."""
    session = hub.login("alice")
    doc = check(session, hub, {"spec": {"repo": REQS}}).json()
    warn_ids = {f["id"] for f in doc["decision"]["warn"]}
    assert "storage-read-write" in warn_ids, doc["decision"]
    storage = [item["text"] for item in doc["summary"] if item["key"] == "mounts"]
    assert any("/home/jovyan" in text and "read-write" in text for text in storage), storage
    assert not any("nothing of yours is mounted" in text for text in storage)


def test_check_denial(hub: WebHub) -> None:
    session = hub.login("alice")
    spec = {"repo": REQS, "mounts": [{"volume": "teaching", "path": "/srv/t", "mode": "rw"}]}
    denied = check(session, hub, {"spec": spec}).json()
    assert denied["decision"]["allowed"] is False
    assert "volume-write-forbidden" in {f["id"] for f in denied["decision"]["deny"]}
    assert denied["confirmation"] is None


def test_trust_store_api(hub: WebHub) -> None:
    alice, bob = hub.login("alice"), hub.login("bob")
    base = f"{hub.url}/hub/api/versahub/trust"
    made = alice.post(base, json={"spec": HOME_RW}, timeout=10)
    assert made.status_code == 201
    spec_id = made.json()["spec_id"]
    assert made.json()["warn_ids"] == [
        "internet-data-exfiltration", "internet-egress", "storage-read-write",
    ]  # fmt: skip
    assert check(alice, hub, {"spec": HOME_RW}).json()["trusted"] is True
    # the same configuration under another server name is the same spec_id
    named = check(alice, hub, {"spec": {**HOME_RW, "server_name": "other"}}).json()
    assert named["spec_id"] == spec_id and named["trusted"] is True
    # not covered: the external-link warning was not accepted
    outside = check(alice, hub, {"spec": HOME_RW, "origin": {"external": True}}).json()
    assert outside["trusted"] is False
    listed = alice.get(base, timeout=10).json()["trusted"]
    assert [t["spec_id"] for t in listed] == [spec_id] and listed[0]["repo"] == REQS
    assert alice.get(f"{base}/{spec_id}", timeout=10).status_code == 200
    # per user
    assert bob.get(base, timeout=10).json() == {"trusted": []}
    assert check(bob, hub, {"spec": HOME_RW}).json()["trusted"] is False
    assert bob.delete(f"{base}/{spec_id}", timeout=10).status_code == 404
    # denied configurations cannot be trusted; invalid ones are 400
    teaching = {"repo": REQS, "mounts": [{"volume": "teaching", "path": "/t", "mode": "rw"}]}
    assert alice.post(base, json={"spec": teaching}, timeout=10).status_code == 409
    assert alice.post(base, json={"spec": {"repo": "nope"}}, timeout=10).status_code == 400
    # revoke
    assert alice.delete(f"{base}/{spec_id}", timeout=10).status_code == 204
    assert alice.delete(f"{base}/{spec_id}", timeout=10).status_code == 404
    assert check(alice, hub, {"spec": HOME_RW}).json()["trusted"] is False
    assert alice.post(base, json={"spec": HOME_RW}, timeout=10).status_code == 201
    assert alice.delete(base, timeout=10).status_code == 204
    assert alice.get(base, timeout=10).json() == {"trusted": []}
    # stored server-side under the site's state folder
    assert (hub.state / "web" / "trust.json").is_file()


def test_binder_link_with_only_the_host_changed_reaches_the_launch_page(hub: WebHub) -> None:
    link = "/v2/gh/binder-examples/requirements/HEAD?urlpath=lab%2Ftree%2Findex.ipynb"
    first = requests.get(hub.url + link, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    assert first.headers["Location"] == "/hub" + link
    # not logged in: the hub's login comes first, then the same link
    login = requests.get(hub.url + "/hub" + link, allow_redirects=False, timeout=10)
    assert login.status_code == 302
    assert "/hub/login?next=" in login.headers["Location"]
    assert unquote(login.headers["Location"].split("next=", 1)[1]) == "/hub" + link
    session = hub.login("carol")
    page = session.get(hub.url + link, timeout=10, headers={"Referer": "https://mybinder.org/"})
    assert page.status_code == 200 and page.url == hub.url + "/hub" + link
    assert '"external": true' in page.text and "mybinder.org" in page.text
    assert page.headers.get("Referrer-Policy") == "same-origin"
    # A pasted mybinder.org link, host and all.
    pasted = session.get(
        f"{hub.url}/hub/versahub/launch",
        params={"url": "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD"},
        timeout=10,
    )
    assert pasted.status_code == 200
    assert '"repo": "https://github.com/binder-examples/requirements"' in pasted.text


def test_badge_and_static_files(hub: WebHub) -> None:
    badge = requests.get(f"{hub.url}/badge.svg", timeout=10)
    assert badge.status_code == 200 and badge.headers["Content-Type"] == "image/svg+xml"
    assert badge.text.startswith("<svg")
    for name in ("versahub.js", "versahub.css"):
        resp = requests.get(f"{hub.url}/hub/versahub/static/{name}", timeout=10)
        assert resp.status_code == 200
        assert "https://" not in resp.text and "http://" not in resp.text  # offline
        assert resp.text.isascii()
        for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in resp.text
