"""Beyond one hub, on loopback: "Launch on…" from hub A to hub B and to a BinderHub, and an
entry point E that routes links to a member that answers (all three real sites, started
as ``versahub up`` starts them)."""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import SiteUnderTest, free_port

from versahub.urls import launch_url, parse_launch_url

pytestmark = [pytest.mark.integration, pytest.mark.federation, pytest.mark.slow]

REPO = "https://github.com/binder-examples/requirements"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DEMO = {"auth": {"kind": "demo", "users": ["alice"]}, "admin_users": ["alice"]}


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SiteUnderTest]]:
    root = tmp_path_factory.mktemp("federation")
    b = SiteUnderTest(root / "b", {"hub": DEMO})
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    a = SiteUnderTest(root / "a", {"hub": DEMO, "federation": {"hubs": [
        {"name": "uni-b", "url": b.url, "kind": "versahub", "description": "Hub B"},
        {"name": "mybinder", "url": "https://mybinder.org", "kind": "binderhub"},
    ]}})  # fmt: skip
    e = SiteUnderTest(root / "e", {"hub": DEMO, "federation": {
        "hubs": [{"name": "down", "url": dead, "kind": "versahub"},
                 {"name": "uni-b", "url": b.url, "kind": "versahub"}],
        "entry_point": {"enabled": True, "health_timeout": 1.0,
                        "rules": [{"repos": ["https://github.com/nobody/*"], "hubs": ["down"]}],
                        "default": ["down", "uni-b"]},
    }})  # fmt: skip
    started = []
    try:
        for site in (b, a, e):
            site.start()
            started.append(site)
        yield {"a": a, "b": b, "e": e}
    finally:
        for site in started:
            site.stop()


SPEC = {"repo": REPO, "ref": COMMIT, "urlpath": "lab/tree/index.ipynb", "server_name": "shared",
        "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "ro"}],
        "internet": False, "resources": {"memory": "1G"}}  # fmt: skip


def test_launch_on_another_versahub_gets_the_whole_configuration(hubs) -> None:
    a, b = hubs["a"], hubs["b"]
    check = a.api("POST", "/versahub/check", json={"spec": SPEC}).json()
    links = {link["name"]: link for link in check["launch_on"]}
    target = links["uni-b"]["url"]
    assert target.startswith(b.url + "/v2/gh/binder-examples/requirements/")
    same = parse_launch_url(target, owner="alice").config_dict()
    assert same == {**parse_launch_url(check["launch_url"], owner="alice").config_dict()}
    # on B, the link from A is an outside link: B's page shows it with its risk dialog
    alice = b.login("alice")
    page = alice.get(target, headers={"Referer": a.url + "/hub/home"}, timeout=20)
    assert page.status_code == 200
    data = json.loads(
        html.unescape(
            re.search(
                r'<script type="application/json" id="vh-data">(.*?)</script>', page.text, re.S
            ).group(1)
        )
    )
    assert data["launch"]["origin"]["external"] is True
    assert data["launch"]["spec"]["spec_id"] == check["spec_id"]
    verdict = b.api(
        "POST", "/versahub/check", json={"url": target, "origin": data["launch"]["origin"]}
    )
    assert "origin-external-link" in {f["id"] for f in verdict.json()["decision"]["warn"]}


def test_launch_on_a_binderhub_gets_the_repository_and_a_note(hubs) -> None:
    check = hubs["a"].api("POST", "/versahub/check", json={"spec": SPEC}).json()
    binder = next(link for link in check["launch_on"] if link["name"] == "mybinder")
    url = urlsplit(binder["url"])
    assert (url.netloc, url.path) == (
        "mybinder.org",
        f"/v2/gh/binder-examples/requirements/{COMMIT}",
    )
    assert parse_qs(url.query) == {"urlpath": ["lab/tree/index.ipynb"]}
    assert "mounted folders" in binder["note"] and "resource requests" in binder["note"]


def test_the_entry_point_routes_to_a_member_that_answers(hubs) -> None:
    b, e = hubs["b"], hubs["e"]
    given = f"{e.url}/v2/gh/binder-examples/requirements/{COMMIT}?urlpath=lab"
    link = launch_url(parse_launch_url(given + "&mount=home:/home/jovyan/w:ro"), e.url)
    session = requests.Session()
    r = session.get(link, allow_redirects=False, timeout=20)
    if r.status_code in (301, 302) and "/hub/v2/" in r.headers["Location"]:
        r = session.get(e.url + r.headers["Location"] if r.headers["Location"].startswith("/")
                        else r.headers["Location"], allow_redirects=False, timeout=20)  # fmt: skip
    assert r.status_code == 302, (r.status_code, r.text[:300])
    target = r.headers["Location"]
    assert target.startswith(b.url + "/v2/gh/binder-examples/requirements/"), target
    assert "mount=home" in target  # a VersaHub member gets the whole configuration
    assert "does not answer; skipped" in e.tail(20000) and "down" in e.tail(20000)
    # a repository whose rule names only a member that is down: a clear 503
    r = session.get(f"{e.url}/hub/v2/gh/nobody/repo/main", allow_redirects=False, timeout=20)
    assert r.status_code == 503 and "tried: down" in r.text
