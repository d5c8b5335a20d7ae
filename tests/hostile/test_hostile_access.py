"""CSRF and cross-user access on one real hub: alice attacks, bob is the victim.

Before the cases, bob trusts a configuration ("don't ask again", stored in the trust
store), bob has a refused launch whose progress names a host only bob knows, alice trusts
one configuration of her own, and ``staff`` is a group of bob's. Then every case — a
request a cross-site page could make with alice's cookie (no XSRF token, a forged one,
a form post, a GET of the stock spawn URL with query parameters) or a request with
alice's own token on bob's servers, launches, progress and trust records — is refused
(403/404/400), and afterwards: no container of either user on this hub, both users'
server entries (and stored options) as they were, the trust store file byte for byte as
it was, no secret and nothing of bob's in the answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
# spawn_support, imported as the integration tests import it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from hostile_corpus import COMMIT, REPO
from hostile_support import HubState, assert_no_secret, hub_secrets
from spawn_support import HubUnderTest, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.docker]

EVIL = "https://evil.example"
CROSS_SITE = {"Origin": EVIL, "Referer": EVIL + "/page", "Sec-Fetch-Site": "cross-site"}
BOB_MARKER = "bobs-secret-host"  # only in bob's refused launch
BOB_SERVER = "secret-plans"  # a refused launch: its events only
BOB_LAB = "bobs-lab"  # a running server of bob's
SPEC = {"repo": REPO, "ref": COMMIT}
BOB_TRUSTED = {**SPEC, "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}]}
ALICE_TRUSTED = {**SPEC, "internet": True}


@dataclass
class Ctx:
    hub: HubUnderTest
    alice: str  # alice's API token
    bob: str
    narrow: str  # an alice token without the servers scope
    web: requests.Session  # alice's login (cookie + XSRF header)
    bob_web: requests.Session
    bob_spec_id: str
    alice_spec_id: str

    def url(self, path: str) -> str:
        return self.hub.url + path

    def cookie_only(self) -> requests.Session:
        """alice's cookies as a cross-site page's request carries them: no XSRF header."""
        session = requests.Session()
        session.cookies.update(self.web.cookies)
        return session


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    seed_cached_image()  # bob's running server is a cache hit: no build, no network
    hub = HubUnderTest(tmp_path_factory.mktemp("hostile-access")).start()
    try:
        made = hub.api("POST", "/groups/staff", json={"users": ["bob"]})
        assert made.status_code in (201, 409), made.text
        alice, bob = hub.user_token("alice"), hub.user_token("bob")
        narrow = hub.api(
            "POST",
            "/users/alice/tokens",
            json={"note": "narrow", "scopes": ["read:users:name!user=alice"]},
        )
        assert narrow.status_code == 201, narrow.text  # fmt: skip
        trusted = hub.api("POST", "/versahub/trust", token=bob, json={"spec": BOB_TRUSTED})
        assert trusted.status_code == 201, trusted.text
        mine = hub.api("POST", "/versahub/trust", token=alice, json={"spec": ALICE_TRUSTED})
        assert mine.status_code == 201, mine.text
        refused = hub.api(
            "POST",
            f"/users/bob/servers/{BOB_SERVER}",
            json={"user_options": {"spec": {"repo": f"https://{BOB_MARKER}.internal/x.git"}}},
        )
        assert refused.status_code == 403, refused.text  # fmt: skip
        progress = hub.api("GET", f"/versahub/launch/{BOB_SERVER}", token=bob).json()
        assert BOB_MARKER in json.dumps(progress), progress
        started = hub.launch("bob", BOB_LAB, {**SPEC, "server_name": BOB_LAB})
        assert started.status_code in (201, 202), started.text
        yield Ctx(
            hub, alice, bob, narrow.json()["token"], hub.login("alice"), hub.login("bob"),
            trusted.json()["spec_id"], mine.json()["spec_id"],
        )  # fmt: skip
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def baseline(ctx: Ctx) -> dict[str, HubState]:
    states = {user: HubState.take(ctx.hub, user) for user in ("alice", "bob")}
    # bob's refused launch left no entry; his lab runs (every case checks it still does)
    assert set(states["bob"].servers) == {"", BOB_LAB}, states["bob"].servers
    assert states["bob"].servers[BOB_LAB]["ready"] and len(states["bob"].containers) == 1
    return states


def api(ctx: Ctx, method: str, path: str, token: str, **kw: Any) -> requests.Response:
    return ctx.hub.api(method, path, token=token, **kw)


def launch_body() -> dict[str, Any]:
    return {"spec": {**SPEC, "server_name": "from-evil"}}


# (id, the request, statuses that mean "refused")
Case = tuple[str, Callable[[Ctx], requests.Response], tuple[int, ...]]
CSRF: list[Case] = [
    ("csrf-check-cookie-without-xsrf", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/check"), json=launch_body(), timeout=30), (403,)),
    ("csrf-launch-cookie-without-xsrf", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch"), json=launch_body(), timeout=30), (403,)),
    ("csrf-launch-text-plain-cross-site", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch"), data=json.dumps(launch_body()),
        headers={"Content-Type": "text/plain", **CROSS_SITE}, timeout=30), (403,)),
    ("csrf-launch-html-form", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch"), data={"spec": json.dumps(launch_body()["spec"])},
        headers=CROSS_SITE, timeout=30), (403,)),
    ("csrf-launch-forged-xsrf-header", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch"), json=launch_body(),
        headers={"X-XSRFToken": "2|forged|token|1"}, timeout=30), (403,)),
    ("csrf-launch-forged-xsrf-query", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch?_xsrf=2%7Cforged"), json=launch_body(), timeout=30),
     (403,)),
    ("csrf-launch-bobs-xsrf-token", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/launch"), json=launch_body(),
        headers={"X-XSRFToken": c.bob_web.headers["X-XSRFToken"]}, timeout=30), (403,)),
    ("csrf-trust-add-without-xsrf", lambda c: c.cookie_only().post(
        c.url("/hub/api/versahub/trust"), json={"spec": SPEC}, timeout=30), (403,)),
    ("csrf-trust-delete-all-without-xsrf", lambda c: c.cookie_only().delete(
        c.url("/hub/api/versahub/trust"), timeout=30), (403,)),
    ("csrf-trust-delete-one-without-xsrf", lambda c: c.cookie_only().delete(
        c.url(f"/hub/api/versahub/trust/{c.alice_spec_id}"), timeout=30), (403,)),
    ("csrf-stock-start-without-xsrf", lambda c: c.cookie_only().post(
        c.url("/hub/api/users/alice/servers/from-evil"),
        json={"user_options": launch_body()}, timeout=30), (403,)),
    ("csrf-stock-stop-without-xsrf", lambda c: c.cookie_only().delete(
        c.url("/hub/api/users/alice/server"), timeout=30), (403,)),
    ("csrf-token-create-without-xsrf", lambda c: c.cookie_only().post(
        c.url("/hub/api/users/alice/tokens"), json={"note": "stolen"}, timeout=30), (403,)),
    ("csrf-spawn-get-with-query", lambda c: c.cookie_only().get(
        c.url("/hub/spawn/alice/from-evil"), params={"repo": REPO, "internet": "true"},
        headers=CROSS_SITE, allow_redirects=False, timeout=30), (400,)),
    ("csrf-spawn-get-default-with-query", lambda c: c.cookie_only().get(
        c.url("/hub/spawn"), params={"repo": "https://evil.example/miner.git"},
        headers=CROSS_SITE, allow_redirects=False, timeout=30), (400,)),
    ("csrf-spawn-post-form", lambda c: c.cookie_only().post(
        c.url("/hub/spawn/alice/from-evil"), data={"repo": REPO},
        headers=CROSS_SITE, allow_redirects=False, timeout=30), (403,)),
    ("csrf-public-copy-of-private-server", lambda c: c.cookie_only().get(
        c.url(f"/hub/versahub/public/bob/{BOB_SERVER}"), headers=CROSS_SITE,
        allow_redirects=False, timeout=30), (404,)),
    ("csrf-public-copy-post-without-xsrf", lambda c: c.cookie_only().post(
        c.url(f"/hub/versahub/public/bob/{BOB_SERVER}"), data={"token": "x"},
        headers=CROSS_SITE, allow_redirects=False, timeout=30), (403, 404)),
    ("csrf-public-link-revoke-without-xsrf", lambda c: c.cookie_only().delete(
        c.url(f"/hub/api/versahub/public/{BOB_SERVER}"), headers=CROSS_SITE, timeout=30),
     (403,)),
]  # fmt: skip

CROSS_USER: list[Case] = [
    ("xuser-stop-bobs-running-server", lambda c: api(c, "DELETE",
        f"/users/bob/servers/{BOB_LAB}", c.alice), (403, 404)),
    ("xuser-remove-bobs-running-server", lambda c: api(c, "DELETE",
        f"/users/bob/servers/{BOB_LAB}", c.alice, json={"remove": True}), (403, 404)),
    ("xuser-restart-bobs-running-server", lambda c: api(c, "POST",
        f"/users/bob/servers/{BOB_LAB}", c.alice, json={"user_options": launch_body()}),
     (403, 404)),
    ("xuser-bobs-running-progress", lambda c: api(c, "GET",
        f"/users/bob/servers/{BOB_LAB}/progress", c.alice), (403, 404)),
    ("xuser-bobs-running-launch-status", lambda c: api(c, "GET",
        f"/versahub/launch/{BOB_LAB}", c.alice), (404,)),
    ("xuser-public-link-of-bobs-running-server", lambda c: api(c, "GET",
        f"/versahub/public/{BOB_LAB}", c.alice), (404,)),
    ("xuser-make-bobs-server-private", lambda c: api(c, "DELETE",
        f"/versahub/public/{BOB_LAB}", c.alice), (404,)),
    ("xuser-public-copy-of-bobs-private-server", lambda c: api(c, "POST",
        "/users/alice/servers/copy2", c.alice,
        json={"user_options": {"public_copy_of": {"owner": "bob", "server": BOB_LAB}}}),
     (404,)),
    ("xuser-open-bobs-server-through-the-proxy", lambda c: requests.get(
        c.url(f"/user/bob/{BOB_LAB}/api/status"), headers={"Authorization": f"token {c.alice}"},
        allow_redirects=False, timeout=30), (302, 403, 404)),
    ("xuser-start-bobs-named-server", lambda c: api(c, "POST", "/users/bob/servers/x", c.alice,
        json={"user_options": launch_body()}), (403, 404)),
    ("xuser-start-bobs-default-server", lambda c: api(c, "POST", "/users/bob/server", c.alice,
        json={"user_options": launch_body()}), (403, 404)),
    ("xuser-stop-bobs-default-server", lambda c: api(c, "DELETE", "/users/bob/server",
        c.alice), (403, 404)),
    ("xuser-remove-bobs-server", lambda c: api(c, "DELETE", f"/users/bob/servers/{BOB_SERVER}",
        c.alice, json={"remove": True}), (403, 404)),
    ("xuser-read-bob", lambda c: api(c, "GET", "/users/bob", c.alice), (403, 404)),
    ("xuser-bobs-progress", lambda c: api(c, "GET", f"/users/bob/servers/{BOB_SERVER}/progress",
        c.alice), (403, 404)),
    ("xuser-bobs-tokens", lambda c: api(c, "POST", "/users/bob/tokens", c.alice,
        json={"note": "stolen"}), (403, 404)),
    ("xuser-bobs-launch-events", lambda c: api(c, "GET", f"/versahub/launch/{BOB_SERVER}",
        c.alice), (404,)),
    ("xuser-bobs-trust-record", lambda c: api(c, "GET", f"/versahub/trust/{c.bob_spec_id}",
        c.alice), (404,)),
    ("xuser-delete-bobs-trust-record", lambda c: api(c, "DELETE",
        f"/versahub/trust/{c.bob_spec_id}", c.alice), (404,)),
    ("xuser-bobs-public-link", lambda c: api(c, "GET", f"/versahub/public/{BOB_SERVER}",
        c.alice), (404,)),
    ("xuser-revoke-bobs-public-link", lambda c: api(c, "DELETE",
        f"/versahub/public/{BOB_SERVER}", c.alice), (404,)),
    ("xuser-trust-record-traversal", lambda c: api(c, "DELETE",
        "/versahub/trust/..%2F..%2Fbob", c.alice), (404,)),
    ("xuser-launch-as-bob", lambda c: api(c, "POST", "/versahub/launch", c.alice,
        json={**launch_body(), "user": "bob"}), (400,)),
    ("xuser-launch-public-copy-of-bob", lambda c: api(c, "POST", "/versahub/launch", c.alice,
        json={"public_copy_of": {"owner": "bob", "server": BOB_SERVER}}), (400,)),
    ("xuser-stock-public-copy-of-bob", lambda c: api(c, "POST", "/users/alice/servers/copy",
        c.alice, json={"user_options": {"public_copy_of": {"owner": "bob",
                                                          "server": BOB_SERVER}}}), (404,)),
    ("xuser-narrow-token-launch", lambda c: api(c, "POST", "/versahub/launch", c.narrow,
        json=launch_body()), (403,)),
    ("xuser-narrow-token-check", lambda c: api(c, "POST", "/versahub/check", c.narrow,
        json=launch_body()), (403,)),
    ("xuser-narrow-token-trust", lambda c: api(c, "GET", "/versahub/trust", c.narrow),
     (403,)),
    ("xuser-narrow-token-stock-start", lambda c: api(c, "POST", "/users/alice/servers/n",
        c.narrow, json={"user_options": launch_body()}), (403, 404)),
    ("xuser-no-token-launch", lambda c: requests.post(c.url("/hub/api/versahub/launch"),
        json=launch_body(), timeout=30), (403,)),
    ("xuser-garbage-token-launch", lambda c: api(c, "POST", "/versahub/launch",
        "0" * 32, json=launch_body()), (403,)),
]  # fmt: skip


def users_list(ctx: Ctx) -> set[str]:
    return {u["name"] for u in ctx.hub.api("GET", "/users").json()}


@pytest.mark.parametrize(
    ("request_", "statuses"),
    [pytest.param(call, statuses, id=ident) for ident, call, statuses in CSRF + CROSS_USER],
)
def test_refused_and_nothing_changes(
    ctx: Ctx, baseline: dict[str, HubState], request_: Callable[[Ctx], requests.Response],
    statuses: tuple[int, ...],
) -> None:  # fmt: skip
    people = users_list(ctx)
    login = dict(ctx.web.cookies)
    r = request_(ctx)
    assert r.status_code in statuses, f"{r.status_code}: {r.text[:600]}"
    location = r.headers.get("Location", "")
    assert "/user/bob" not in location or "/hub/" in location, location
    secrets = hub_secrets(ctx.hub, ctx.alice, ctx.bob, ctx.narrow)
    assert_no_secret(r.text, secrets)
    assert BOB_MARKER not in r.text and ctx.bob_spec_id not in r.text, "bob's data answered"
    assert "jupyterhub-hub-login" not in r.headers.get("Set-Cookie", ""), "login replaced"
    assert dict(ctx.web.cookies) == login
    assert users_list(ctx) == people, "an account was created"
    for user in ("alice", "bob"):
        baseline[user].assert_unchanged(ctx.hub, "from-evil" if user == "alice" else None)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/hub/v2/gh/binder-examples/requirements/HEAD?server_name=from-evil",
                     id="page-v2-link-from-another-site"),
        pytest.param("/hub/versahub/launch?url=/v2/gh/binder-examples/requirements/HEAD",
                     id="page-launch-url-from-another-site"),
    ],
)  # fmt: skip
def test_a_link_from_another_site_only_opens_the_page(
    ctx: Ctx, baseline: dict[str, HubState], path: str
) -> None:
    """The page (never a start), marked as reached from outside, so the dialog shows."""
    r = ctx.cookie_only().get(ctx.url(path), headers=CROSS_SITE, allow_redirects=False,
                              timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    assert '"external": true' in r.text
    assert_no_secret(r.text, hub_secrets(ctx.hub, ctx.alice, ctx.bob, ctx.narrow))
    for user in ("alice", "bob"):
        baseline[user].assert_unchanged(ctx.hub, "from-evil" if user == "alice" else None)


def test_bob_still_has_his_records(ctx: Ctx, baseline: dict[str, HubState]) -> None:
    """After every attack: bob's trust record and launch events are his, unchanged."""
    mine = api(ctx, "GET", f"/versahub/trust/{ctx.bob_spec_id}", ctx.bob)
    assert mine.status_code == 200, mine.text
    events = api(ctx, "GET", f"/versahub/launch/{BOB_SERVER}", ctx.bob).json()
    assert BOB_MARKER in json.dumps(events)
    listed = api(ctx, "GET", "/versahub/trust", ctx.alice).json()["trusted"]
    assert [t["spec_id"] for t in listed] == [ctx.alice_spec_id]
