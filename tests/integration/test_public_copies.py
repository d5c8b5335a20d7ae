"""Public read-only copies with a real hub, proxy, OPA (real policies) and Docker.

``/hub/versahub/public/<owner>/<server>``: GET shows what would be opened and changes
nothing; only a POST creates a copy (JupyterHub's XSRF token, plus the page's one-time
token for an anonymous visitor); a logged-in visitor gets the copy as a server of their own
and keeps their login; ``hub.public_copies`` limits answer 429 and create nothing; guest
names carry 64 random bits; the owner revokes the link (``DELETE
/hub/api/versahub/public/<server>``), which makes it 404 and stops the live copies.

The tests run in this order on one hub: each states what it adds to the hub's state.
"""

from __future__ import annotations

import html
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.docker]

# public access needs every mount read-only, the owner's home too (mounted aside)
HOME_RO = {"volume": "home", "path": "/home/jovyan/home", "mode": "ro"}
PUBLIC = {
    "repo": REPO,
    "ref": COMMIT,
    "public_readonly": True,
    "mounts": [HOME_RO, {"volume": "teaching", "path": "/home/jovyan/teaching"}],
}
GUEST = re.compile(r"^guest-[0-9a-f]{16,}$")
LOGIN_COOKIES = ("jupyterhub-hub-login", "jupyterhub-session-id")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(tmp_path_factory.mktemp("hub")).start()
    try:
        for user, name, spec in (
            ("alice", "demo", PUBLIC),
            ("carol", "notes", PUBLIC),
            ("alice", "private", {"repo": REPO, "ref": COMMIT}),
        ):
            r = hub.launch(user, name, spec)
            assert r.status_code in (201, 202), r.text
        yield hub
    finally:
        hub.stop()


# -- helpers ---------------------------------------------------------------------------------
def link(hub: HubUnderTest, owner: str = "alice", server: str = "demo") -> str:
    return f"{hub.url}/hub/versahub/public/{owner}/{server}"


def form_fields(page: requests.Response) -> dict[str, str]:
    """The hidden fields of the copy page's form (``_xsrf``, and ``token`` when anonymous)."""
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    return {name: html.unescape(value) for name, value in fields}


def users(hub: HubUnderTest) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in hub.api("GET", "/users?include_stopped_servers=1").json()}


def guests(hub: HubUnderTest) -> list[str]:
    return sorted(name for name in users(hub) if name.startswith("guest-"))


def copy_containers(hub: HubUnderTest) -> list[str]:
    """Running containers of public copies on this hub."""
    return hub.containers(running_only=True, public="true")


def set_limits(hub: HubUnderTest, **limits: int) -> None:
    """Edit ``hub.public_copies`` in the running site's site.yaml (the hub re-reads it)."""
    doc = yaml.safe_load(hub.site_file.read_text())
    doc["hub"]["public_copies"] = {
        "max_per_server": 20, "max_total": 100, "per_minute": 30, **limits,
    }  # fmt: skip
    tmp = hub.site_file.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc))
    os.replace(tmp, hub.site_file)


def anonymous_post(
    hub: HubUnderTest, owner: str = "alice", server: str = "demo"
) -> tuple[requests.Session, requests.Response]:
    visitor = requests.Session()
    page = visitor.get(link(hub, owner, server), timeout=30)
    assert page.status_code == 200, page.text[:300]
    answer = visitor.post(
        link(hub, owner, server), data=form_fields(page), allow_redirects=False, timeout=60
    )
    return visitor, answer


# -- the tests, in order -----------------------------------------------------------------------
def test_get_shows_the_copy_and_creates_nothing(hub: HubUnderTest) -> None:
    before = users(hub)
    visitor = requests.Session()
    page = visitor.get(link(hub), timeout=30)
    assert page.status_code == 200, page.text[:500]
    text = page.text
    for words in (REPO, COMMIT, "alice", "/home/jovyan/teaching", "Every mount is read-only",
                  "Nothing of alice’s home folder", "not logged in"):  # fmt: skip
        assert words in text, words
    assert 'method="post"' in text
    fields = form_fields(page)
    assert fields.get("_xsrf") and fields.get("token"), fields
    assert page.headers.get("Cache-Control") == "no-store"
    # a logged-in visitor is told the copy opens as their own server
    bob = hub.login("bob")
    page = bob.get(link(hub), timeout=30)
    assert page.status_code == 200
    assert "bob" in page.text and "public-alice-demo" in page.text
    assert "token" not in form_fields(page)
    # repeated GETs: no account, no server, no container
    for _ in range(3):
        assert visitor.get(link(hub), timeout=30).status_code == 200
    after = users(hub)
    assert sorted(after) == sorted(before)
    assert "public-alice-demo" not in after["bob"]["servers"]
    assert copy_containers(hub) == []
    # servers without public access have no link
    assert visitor.get(link(hub, "alice", "private"), timeout=30).status_code == 404
    assert visitor.get(link(hub, "nobody", "demo"), timeout=30).status_code == 404


def test_post_without_xsrf_or_token_is_refused(hub: HubUnderTest) -> None:
    visitor = requests.Session()
    fields = form_fields(visitor.get(link(hub), timeout=30))
    no_xsrf = visitor.post(link(hub), data={"token": fields["token"]}, allow_redirects=False)
    assert no_xsrf.status_code == 403
    no_token = visitor.post(link(hub), data={"_xsrf": fields["_xsrf"]}, allow_redirects=False)
    assert no_token.status_code == 403
    assert "one-time token" in no_token.text
    forged = visitor.post(
        link(hub), data={"_xsrf": fields["_xsrf"], "token": fields["token"][:-4] + "AAAA"},
        allow_redirects=False,
    )  # fmt: skip
    assert forged.status_code == 403
    # a token is bound to its owner/server: alice/demo's page does not open carol/notes
    other = visitor.post(link(hub, "carol", "notes"), data=fields, allow_redirects=False)
    assert other.status_code == 403
    assert "another server" in other.text
    # a logged-in visitor without the XSRF token (a cross-site form) is refused too
    bob = hub.login("bob")
    page = bob.get(link(hub), timeout=30)
    refused = bob.post(link(hub), headers={"X-XSRFToken": None}, allow_redirects=False)
    assert refused.status_code == 403, refused.status_code
    assert page.status_code == 200
    # nothing was created
    assert guests(hub) == []
    assert "public-alice-demo" not in users(hub)["bob"]["servers"]
    assert copy_containers(hub) == []


def test_anonymous_visitor_gets_a_guest_copy_once_per_token(hub: HubUnderTest) -> None:
    visitor = requests.Session()
    page = visitor.get(link(hub), timeout=30)
    fields = form_fields(page)
    replay = requests.Session()  # the same page posted again, from a browser without a login
    replay.cookies.update(visitor.cookies)
    answer = visitor.post(link(hub), data=fields, allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:500]
    where = answer.headers["Location"]
    match = re.fullmatch(r"/hub/spawn-pending/([^/]+)/public-alice-demo", where)
    assert match, where
    guest = match.group(1)
    assert GUEST.match(guest), guest  # 64 random bits at least
    assert guests(hub) == [guest]
    # the same page (token) cannot open a second copy
    again = replay.post(link(hub), data=fields, allow_redirects=False, timeout=60)
    assert again.status_code == 403, again.status_code
    assert "already used" in again.text
    assert guests(hub) == [guest]
    hub.wait_ready(guest, "public-alice-demo")
    ctr = hub.container(guest, "public-alice-demo")
    out = hub.exec(
        ctr,
        "import os\n"
        "try:\n open('/home/jovyan/teaching/x','w'); print('wrote')\n"
        "except OSError as e: print('ro', e.errno)\n"
        "print(os.path.exists('/run/secrets/versahub'), os.path.ismount('/home/jovyan'))\n",
    )
    assert out.stdout.split() == ["ro", "30", "False", "False"], out
    # the guest's browser follows the redirect into its copy (through the proxy, by OAuth)
    landing = visitor.get(f"{hub.url}{where}", timeout=60)
    assert landing.status_code == 200
    assert f"/user/{guest}/public-alice-demo/" in landing.url, landing.url
    status = visitor.get(f"{hub.url}/user/{guest}/public-alice-demo/api/status", timeout=30)
    assert status.status_code == 200
    # a guest account only ever runs its copy: no launch of its own, by any API
    token = hub.user_token(guest)
    spec = {"repo": "https://github.com/binder-examples/requirements", "server_name": "mine"}
    own = hub.api("POST", "/versahub/launch", token=token, json={"spec": spec})
    assert own.status_code == 403 and "Guest accounts" in own.text, own.text
    stock = hub.api("POST", f"/users/{guest}/servers/mine", token=token,
                    json={"user_options": {"spec": spec}})  # fmt: skip
    assert stock.status_code == 403, stock.text
    deadline = time.monotonic() + 15  # the refused start's entry is removed right after
    while "mine" in users(hub)[guest].get("servers", {}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "mine" not in users(hub)[guest].get("servers", {})


def test_logged_in_visitor_keeps_their_login(hub: HubUnderTest) -> None:
    bob = hub.login("bob")
    before = {name: bob.cookies.get(name) for name in LOGIN_COOKIES}
    assert before["jupyterhub-hub-login"]
    known = set(users(hub))
    page = bob.get(link(hub), timeout=30)
    answer = bob.post(link(hub), data=form_fields(page), allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:500]
    assert answer.headers["Location"] == "/hub/spawn-pending/bob/public-alice-demo"
    set_cookie = answer.headers.get("Set-Cookie", "")
    assert not any(name in set_cookie for name in LOGIN_COOKIES), set_cookie
    assert {name: bob.cookies.get(name) for name in LOGIN_COOKIES} == before
    me = bob.get(f"{hub.url}/hub/api/user", timeout=30)
    assert me.status_code == 200 and me.json()["name"] == "bob"
    assert set(users(hub)) == known  # no guest account for a logged-in visitor
    server = hub.wait_ready("bob", "public-alice-demo")
    assert server["user_options"] == {"public_copy_of": {"owner": "alice", "server": "demo"}}
    ctr = hub.container("bob", "public-alice-demo")
    out = hub.exec(ctr, "import os; print(os.path.ismount('/home/jovyan'))")
    assert out.stdout.split() == ["False"], out  # neither alice's home nor bob's
    # opening the link again opens the same copy: no second server
    page = bob.get(link(hub), timeout=30)
    again = bob.post(link(hub), data=form_fields(page), allow_redirects=False, timeout=60)
    assert again.headers["Location"] == "/hub/spawn-pending/bob/public-alice-demo"
    assert len(copy_containers(hub)) == 2


def test_limits_answer_429_and_create_nothing(hub: HubUnderTest) -> None:
    # alice/demo has two live copies (the guest's and bob's)
    known, live = set(users(hub)), sorted(copy_containers(hub))
    assert len(live) == 2
    try:
        set_limits(hub, max_per_server=2)
        _, answer = anonymous_post(hub)
        assert answer.status_code == 429, answer.text[:300]
        assert "2 live public copies" in answer.text
        assert int(answer.headers["Retry-After"]) > 0
        _, other = anonymous_post(hub, "carol", "notes")  # another server is not limited
        assert other.status_code == 302, other.text[:300]
        hub.wait_ready(other.headers["Location"].split("/")[-2], "public-carol-notes")
        known, live = set(users(hub)), sorted(copy_containers(hub))

        set_limits(hub, max_total=3)
        _, answer = anonymous_post(hub, "carol", "notes")
        assert answer.status_code == 429
        assert "This site already runs 3 public copies" in answer.text
        carol = hub.login("carol")  # a logged-in visitor is limited the same way
        page = carol.get(link(hub), timeout=30)
        refused = carol.post(link(hub), data=form_fields(page), allow_redirects=False)
        assert refused.status_code == 429
        assert "public-alice-demo" not in users(hub)["carol"]["servers"]

        set_limits(hub, per_minute=0)
        _, answer = anonymous_post(hub, "carol", "notes")
        assert answer.status_code == 429
        assert "a minute" in answer.text
    finally:
        set_limits(hub)
    assert set(users(hub)) == known
    assert sorted(copy_containers(hub)) == live


def test_the_owner_revokes_the_link(hub: HubUnderTest) -> None:
    alice, bob = hub.user_token("alice"), hub.user_token("bob")
    state = hub.api("GET", "/versahub/public/demo", token=alice)
    assert state.status_code == 200, state.text
    assert state.json()["public"] is True
    assert state.json()["url"] == f"{hub.url}/hub/versahub/public/alice/demo"
    assert state.json()["live_copies"] == 2
    # only the owner can revoke: bob has no server demo
    assert hub.api("DELETE", "/versahub/public/demo", token=bob).status_code == 404
    assert requests.get(link(hub), timeout=30).status_code == 200
    # a page opened before the revocation
    visitor = requests.Session()
    fields = form_fields(visitor.get(link(hub), timeout=30))

    revoked = hub.api("DELETE", "/versahub/public/demo", token=alice, timeout=60)
    assert revoked.status_code == 200, revoked.text
    copies = revoked.json()["copies"]
    assert "bob/public-alice-demo" in copies and len(copies) == 2, copies
    assert requests.get(link(hub), timeout=30).status_code == 404
    late = visitor.post(link(hub), data=fields, allow_redirects=False, timeout=30)
    assert late.status_code == 404
    carols = hub.containers(running_only=True, public="true", server="public-carol-notes")
    assert len(carols) == 1
    deadline = time.monotonic() + 60
    while copy_containers(hub) != carols and time.monotonic() < deadline:
        time.sleep(0.5)
    assert copy_containers(hub) == carols  # alice/demo's copies stopped, carol/notes's not
    assert "public-alice-demo" not in users(hub)["bob"]["servers"]
    model = users(hub)["alice"]["servers"]["demo"]
    assert model["ready"] and model["user_options"]["spec"]["public_readonly"] is False
    after = hub.api("GET", "/versahub/public/demo", token=alice).json()
    assert after == {"server": "demo", "public": False, "url": None, "live_copies": 0}
    # the owner's server restarts as it is, without being asked to confirm again
    hub.stop_server("alice", "demo")
    restart = hub.api("POST", "/users/alice/servers/demo")
    assert restart.status_code in (201, 202), restart.text
    hub.wait_ready("alice", "demo")
    assert requests.get(link(hub), timeout=30).status_code == 404


def test_the_creation_rate_is_a_sliding_minute() -> None:
    """``per_minute`` counts creations of the last 60 seconds (pure: no hub needed)."""
    from versahub.hub.handlers import CopyLimits, limit_refusal

    limits = CopyLimits(max_per_server=20, max_total=100, per_minute=2)
    assert limit_refusal(limits, 0, 0, [100.0], 130.0) is None
    refused = limit_refusal(limits, 0, 0, [100.0, 120.0], 130.0)
    assert refused is not None and refused[1] == 31  # the older one leaves the window at 160
    assert limit_refusal(limits, 0, 0, [100.0, 120.0], 160.5) is None
