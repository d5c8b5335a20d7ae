"""Hostile input through the hub's entry points, on one real site (as ``versahub up`` runs it).

* ``POST /hub/api/versahub/check`` (``{"spec"}`` and ``{"url"}``): the first bad field
  (``valid: false``, as documented: 200), or the decision denying it;
* ``POST /hub/api/versahub/launch``: 400 naming the field, 403 denied, 409 confirmation
  missing or not matching;
* JupyterHub's own ``POST /hub/api/users/<u>/servers/<name>`` with ``user_options``: the
  spawner's refusal (400/403/409), and the refused server's entry removed;
* the launch page ``GET /hub/v2/…`` and the legacy ``/hub/repo/…`` redirect.

Every case asserts the refusal and its message (field named, one bounded line, no raw
control characters), that nothing started (no container of this hub labelled with the
user and the server), that the user's server entries (and the ``user_options`` stored
with them) are as they were when the module started, that the trust store is untouched,
and that no secret (tokens, demo password, cookie secret) is in the answer. Nothing in
this module is ever meant to start: the users' state is compared with one baseline.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
# spawn_support, imported as the integration tests import it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from hostile_corpus import (
    COMMIT,
    INERT,
    LEGACY_REFUSED,
    PAGE_IDS,
    POLICY_DENIED,
    REPO,
    REQUEST_REFUSED,
    SPEC_REFUSED,
    STOCK_REST_IDS,
    URL_REFUSED,
    WHOLE_URL_REFUSED,
    Row,
    params,
    rows,
    spec,
)
from hostile_support import (
    HubState,
    assert_clear_message,
    assert_no_secret,
    hub_secrets,
)
from spawn_support import HubUnderTest

from versahub.policy import confirmation_hash
from versahub.spec import parse_spec
from versahub.urls import launch_url

pytestmark = [pytest.mark.integration, pytest.mark.docker]

# alice: the check and launch APIs, the page; carol: JupyterHub's REST API (named servers);
# dave: the default server; bob: only a name (a member of the group staff)
USERS = ("alice", "bob", "carol", "dave")
MAX_ANSWER = 64_000  # no answer echoes a 10 MB body


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    site = HubUnderTest(tmp_path_factory.mktemp("hostile-api")).start()
    try:
        made = site.api("POST", "/users", json={"usernames": ["dave"]})
        assert made.status_code in (201, 409), made.text
        made = site.api("POST", "/groups/staff", json={"users": ["bob"]})
        assert made.status_code in (201, 409), made.text
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def tokens(hub: HubUnderTest) -> dict[str, str]:
    return {user: hub.user_token(user) for user in USERS}


@pytest.fixture(scope="module")
def baseline(hub: HubUnderTest, tokens: dict[str, str]) -> dict[str, HubState]:
    return {user: HubState.take(hub, user) for user in USERS}


@pytest.fixture(scope="module")
def secrets(hub: HubUnderTest, tokens: dict[str, str]) -> list[str]:
    return hub_secrets(hub, *tokens.values())


@pytest.fixture(scope="module")
def alice_web(hub: HubUnderTest) -> requests.Session:
    return hub.login("alice")


def post(hub: HubUnderTest, path: str, token: str, body: Any) -> requests.Response:
    """POST ``body`` as JSON exactly as given (NaN, huge integers, duplicate keys in text)."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return hub.api("POST", path, token=token, data=data, timeout=120)


def answer(r: requests.Response, status: int, secrets: list[str], sent: Any) -> dict[str, Any]:
    assert r.status_code == status, f"{r.status_code}: {r.text[:800]}"
    assert len(r.content) < MAX_ANSWER, f"an answer of {len(r.content)} bytes"
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert_no_secret(r.text, secrets, sent=sent)
    return r.json()


def field_error(doc: dict[str, Any], field: str) -> None:
    error = doc["error"]
    assert error["field"] == field, f"field {error['field']!r}, expected {field!r}"
    assert_clear_message(error["message"], field)
    for other in doc.get("errors", []):
        assert_clear_message(other["message"], other["field"])


def deny_ids(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["decision"]["deny"]}


# ------------------------------------------------------------------------- check API


@pytest.mark.parametrize(("fields", "field"), params(SPEC_REFUSED))
def test_check_api_refuses_spec(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    field: str,
) -> None:
    body = {"spec": spec(fields)}
    doc = answer(post(hub, "/versahub/check", tokens["alice"], body), 200, secrets, body)
    assert doc["valid"] is False
    field_error(doc, field)
    baseline["alice"].assert_unchanged(hub)


@pytest.mark.parametrize(("fields", "expected"), params(POLICY_DENIED))
def test_check_api_reports_the_denial(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    body = {"spec": spec(fields)}
    doc = answer(post(hub, "/versahub/check", tokens["alice"], body), 200, secrets, body)
    assert doc["valid"] is True and doc["decision"]["allowed"] is False
    assert deny_ids(doc) & set(expected), deny_ids(doc)
    assert doc["confirmation"] is None and doc["trusted"] is False
    baseline["alice"].assert_unchanged(hub)


URL_CASES = [
    *[(ident, "HUB" + path, field, *bug) for ident, path, field, *bug in URL_REFUSED],
    *WHOLE_URL_REFUSED,
]


def _url(hub: HubUnderTest, value: str) -> str:
    return hub.url + value[3:] if value.startswith("HUB/") else value


@pytest.mark.parametrize(("url", "field"), params(URL_CASES))
def test_check_api_refuses_url(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    url: str,
    field: str,
) -> None:
    body = {"url": _url(hub, url)}
    doc = answer(post(hub, "/versahub/check", tokens["alice"], body), 200, secrets, body)
    assert doc["valid"] is False
    field_error(doc, field)
    baseline["alice"].assert_unchanged(hub)


@pytest.mark.parametrize("fields", params(INERT))
def test_check_api_returns_inert_values_escaped(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
) -> None:
    body = {"spec": spec(fields)}
    doc = answer(post(hub, "/versahub/check", tokens["alice"], body), 200, secrets, body)
    assert doc["valid"] is True
    assert not any(c in doc["launch_url"] for c in "<>\"' ")
    assert re.fullmatch(
        r'<a href="[^"<>]*"><img src="[^"<>]*" alt="Launch on VersaHub"></a>', doc["badge_html"]
    )
    assert not any(c in doc["spec"]["urlpath"] for c in '<>" ')
    markdown_target = doc["badge_markdown"].rsplit("](", 1)[1][:-1]
    assert not any(c in markdown_target for c in "<>\"' ()")
    baseline["alice"].assert_unchanged(hub)


DUPLICATE_COLLABORATORS = (
    json.dumps({"spec": {"repo": REPO, "collaborators": []}})[:-2] + ', "collaborators": ["bob"]}}'
)
# (id, body, the field named, or None for a body that is not a JSON object: 400)
BODY_CASES: list[Row] = [
    ("check-body-not-json", "{'spec': not json", None),
    ("check-body-list", [spec({})], None),
    ("check-body-deep", '{"spec": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, None),
    ("check-body-10mb", {"spec": spec({"ref": "x" * 10_485_760})}, "ref"),
    ("check-body-duplicate-key", DUPLICATE_COLLABORATORS, "collaborators"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), params(BODY_CASES))
def test_check_api_refuses_bodies(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    body: Any,
    field: str | None,
) -> None:
    r = post(hub, "/versahub/check", tokens["alice"], body)
    if field is None:
        doc = answer(r, 400, secrets, body)
        assert_clear_message(doc["message"])
    elif r.status_code == 400:  # a refusal naming the field, either as 400 or as valid:false
        field_error(answer(r, 400, secrets, body), field)
    else:
        doc = answer(r, 200, secrets, body)
        assert doc["valid"] is False
        field_error(doc, field)
    baseline["alice"].assert_unchanged(hub)


# ------------------------------------------------------------------------ launch API


def launch_refused(
    hub: HubUnderTest, token: str, body: Any, status: int, kind: str, secrets: list[str]
) -> dict[str, Any]:
    doc = answer(post(hub, "/versahub/launch", token, body), status, secrets, body)
    assert doc.get("status") == kind, doc
    if kind != "invalid":
        assert_clear_message(doc["message"])
    return doc


@pytest.mark.parametrize(("fields", "field"), params(SPEC_REFUSED))
def test_launch_api_refuses_spec(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    field: str,
) -> None:
    body = {"spec": spec({"server_name": "hostile", **fields})}
    doc = launch_refused(hub, tokens["alice"], body, 400, "invalid", secrets)
    field_error(doc, field)
    baseline["alice"].assert_unchanged(hub, "hostile")


@pytest.mark.parametrize(("fields", "expected"), params(POLICY_DENIED))
def test_launch_api_denies(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    body = {"spec": spec({"server_name": "denied", **fields})}
    doc = launch_refused(hub, tokens["alice"], body, 403, "denied", secrets)
    assert deny_ids(doc) & set(expected), deny_ids(doc)
    baseline["alice"].assert_unchanged(hub, "denied")


@pytest.mark.parametrize(("url", "field"), params(URL_CASES))
def test_launch_api_refuses_url(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    url: str,
    field: str,
) -> None:
    body = {"url": _url(hub, url)}
    doc = launch_refused(hub, tokens["alice"], body, 400, "invalid", secrets)
    field_error(doc, field)
    baseline["alice"].assert_unchanged(hub)


LAUNCH_BODIES: list[Row] = [
    *[(ident, body, 400, field) for ident, body, field in REQUEST_REFUSED],
    ("action-delete", {"spec": spec({}), "action": "delete"}, 400, "action"),
    ("action-list", {"spec": spec({}), "action": ["update"]}, 400, "action"),
    ("action-object", {"spec": spec({}), "action": {"$ne": None}}, 400, "action"),
    ("body-10mb", {"spec": spec({"ref": "x" * 10_485_760})}, 400, "ref"),
    ("body-not-json", "{'spec': not json", 400, None),
    ("body-list", [spec({})], 400, None),
    ("body-deep", '{"spec": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, 400, None),
    ("body-duplicate-key",
     json.dumps({"spec": {"repo": REPO, "ref": COMMIT, "internet": False}})[:-2]
     + ', "internet": true}}', 400, "internet"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "field"), params(LAUNCH_BODIES))
def test_launch_api_refuses_bodies(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    body: Any,
    status: int,
    field: str | None,
) -> None:
    doc = answer(post(hub, "/versahub/launch", tokens["alice"], body), status, secrets, body)
    if field is not None:
        assert doc.get("status") == "invalid", doc
        field_error(doc, field)
    else:
        assert_clear_message(doc["message"])
    baseline["alice"].assert_unchanged(hub)


UNTRUSTED = {"repo": "https://github.com/someone/unknown", "ref": COMMIT, "server_name": "unsure"}


@pytest.fixture(scope="module")
def untrusted(hub: HubUnderTest, tokens: dict[str, str], secrets: list[str]) -> dict[str, Any]:
    """The decision about a configuration that needs a confirmation (never sent right)."""
    doc = launch_refused(hub, tokens["alice"], {"spec": UNTRUSTED}, 409,
                         "confirmation-required", secrets)  # fmt: skip
    warn = sorted(f["id"] for f in doc["decision"]["warn"])
    assert warn and doc["decision"]["allowed"] is True
    other = parse_spec({**UNTRUSTED, "internet": False}, owner="alice").spec_id
    return {"spec_id": doc["spec_id"], "warn": warn, "other_spec_id": other}


CONFIRMATIONS = {
    "confirm-missing": lambda u: None,
    "confirm-empty": lambda u: "",
    "confirm-another-spec": lambda u: confirmation_hash(u["other_spec_id"], u["warn"]),
    "confirm-fewer-warnings": lambda u: confirmation_hash(u["spec_id"], u["warn"][:-1]),
    "confirm-no-warnings": lambda u: confirmation_hash(u["spec_id"], []),
    "confirm-extra-warning": lambda u: confirmation_hash(
        u["spec_id"], [*u["warn"], "origin-external-link"]
    ),
    "confirm-uppercase": lambda u: confirmation_hash(u["spec_id"], u["warn"]).upper(),
    "confirm-trailing-newline": lambda u: confirmation_hash(u["spec_id"], u["warn"]) + "\n",
    "confirm-spec-id": lambda u: u["spec_id"],
    "confirm-1mb": lambda u: "f" * 1_048_576,
    "confirm-html": lambda u: '"><img src=x onerror=alert(1)>',
}
# (id, origin sent with the request): the right hash for an internal request does not
# confirm the same configuration launched from a link outside the hub (one more warning)
ORIGINS = {"confirm-internal-hash-external-link": {"external": True, "referrer": "https://x/"}}


@pytest.mark.parametrize("case", [pytest.param(k, id=k) for k in [*CONFIRMATIONS, *ORIGINS]])
def test_launch_api_refuses_mismatched_confirmations(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    untrusted: dict[str, Any],
    case: str,
) -> None:
    body: dict[str, Any] = {"spec": UNTRUSTED}
    if case in ORIGINS:
        body["confirmation"] = confirmation_hash(untrusted["spec_id"], untrusted["warn"])
        body["origin"] = ORIGINS[case]
    elif (value := CONFIRMATIONS[case](untrusted)) is not None:
        body["confirmation"] = value
    doc = launch_refused(hub, tokens["alice"], body, 409, "confirmation-required", secrets)
    assert doc["spec_id"] == untrusted["spec_id"]
    baseline["alice"].assert_unchanged(hub, "unsure")


# ----------------------------------------------------- trust API and launch progress

STOCK_DENIED_IDS = ("host-loopback-hex", "host-metadata-ip", "host-ipv4-mapped",
                    "host-localhost-dot", "collab-group-not-member", "volume-write-forbidden",
                    "memory-over-cap")  # fmt: skip

TRUST_IDS = ("mount-dotdot", "urlpath-javascript", "ref-upload-pack", "repo-ext-sh",
             "collab-star", "ref-bidi-rlo", "unknown-key", "cpu-huge-int")  # fmt: skip


@pytest.mark.parametrize(("fields", "field"), params(rows(SPEC_REFUSED, TRUST_IDS)))
def test_trust_api_refuses_spec(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    field: str,
) -> None:
    """ "Don't ask again" for a hostile configuration: refused, nothing stored."""
    body = {"spec": spec(fields)}
    doc = answer(post(hub, "/versahub/trust", tokens["alice"], body), 400, secrets, body)
    assert doc["valid"] is False
    field_error(doc, field)
    baseline["alice"].assert_unchanged(hub)


@pytest.mark.parametrize(("fields", "expected"), params(rows(POLICY_DENIED, STOCK_DENIED_IDS)))
def test_trust_api_refuses_a_denied_configuration(
    hub: HubUnderTest,
    tokens: dict[str, str],
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    body = {"spec": spec(fields)}
    doc = answer(post(hub, "/versahub/trust", tokens["alice"], body), 409, secrets, body)
    assert deny_ids(doc) & set(expected), deny_ids(doc)
    baseline["alice"].assert_unchanged(hub)


HOSTILE_NAMES: list[Row] = [
    ("name-script", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    ("name-crlf", "x%0d%0aSet-Cookie:%20a=b"),
    ("name-traversal", "..%2F..%2Fadmin"),
    ("name-bidi", "%E2%80%AEx"),
    ("name-nul", "x%00y"),
    ("name-10kb", "a" * 10_240),
]


@pytest.mark.parametrize("name", params(HOSTILE_NAMES))
def test_progress_and_trust_records_of_hostile_names(
    hub: HubUnderTest, tokens: dict[str, str], baseline: Any, secrets: list[str], name: str
) -> None:
    """A launch's progress, a public link, a trust record, under a hostile name: 404."""
    for method, path in (("GET", f"/versahub/launch/{name}"),
                         ("GET", f"/versahub/public/{name}"),
                         ("DELETE", f"/versahub/public/{name}"),
                         ("GET", f"/versahub/trust/{name}"),
                         ("DELETE", f"/versahub/trust/{name}")):  # fmt: skip
        r = hub.api(method, path, token=tokens["alice"])
        assert r.status_code in (400, 404), f"{method} {path[:80]}: {r.status_code}"
        assert len(r.content) < MAX_ANSWER
        assert_no_secret(r.text, secrets, sent=name)
        if r.headers.get("Content-Type", "").startswith("application/json") and r.content:
            message = r.json().get("message")
            if message is not None:  # a bare 404 has none
                assert_clear_message(message)
    baseline["alice"].assert_unchanged(hub)


# ------------------------------------------------------- JupyterHub's own REST API


def stock_start(hub: HubUnderTest, user: str, name: str, options: Any) -> requests.Response:
    path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
    return post(hub, path, hub.token, {"user_options": options})


@pytest.fixture
def leftovers(hub: HubUnderTest) -> Iterator[list[tuple[str, str]]]:
    """(user, server) entries a case may leave when it fails: removed after the case has
    made its assertions, so that one failure does not become the next case's failure."""
    entries: list[tuple[str, str]] = []
    yield entries
    for user, name in entries:
        listed = hub.api("GET", f"/users/{user}?include_stopped_servers=1").json()["servers"]
        if name and name in listed:
            hub.api("DELETE", f"/users/{user}/servers/{name}", json={"remove": True})
            for _ in range(100):
                gone = hub.api("GET", f"/users/{user}?include_stopped_servers=1").json()
                if name not in gone["servers"]:
                    break
                time.sleep(0.1)


def stock_refused(
    r: requests.Response, status: int, secrets: list[str], sent: Any, field: str | None = None
) -> None:
    doc = answer(r, status, secrets, sent)
    assert_clear_message(doc["message"], field)


STOCK_NAMES: dict[str, int] = {}


def stock_name(ident: str) -> str:
    """A valid, unique server name per case (the spec's own name may be the hostile one)."""
    return f"s{STOCK_NAMES.setdefault(ident, len(STOCK_NAMES))}"


@pytest.mark.parametrize(("fields", "field"), params(rows(SPEC_REFUSED, STOCK_REST_IDS)))
def test_stock_rest_refuses_spec(
    leftovers: list[tuple[str, str]],
    request: pytest.FixtureRequest,
    hub: HubUnderTest,
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    field: str,
) -> None:
    name = stock_name(request.node.callspec.id)
    leftovers.append(("carol", name))
    options = {"spec": spec(fields)}
    stock_refused(stock_start(hub, "carol", name, options), 400, secrets, options, field)
    baseline["carol"].assert_unchanged(hub, name)


@pytest.mark.parametrize(("fields", "expected"), params(rows(POLICY_DENIED, STOCK_DENIED_IDS)))
def test_stock_rest_denies(
    leftovers: list[tuple[str, str]],
    request: pytest.FixtureRequest,
    hub: HubUnderTest,
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    name = stock_name(request.node.callspec.id)
    leftovers.append(("carol", name))
    options = {"spec": spec(fields)}
    r = stock_start(hub, "carol", name, options)
    stock_refused(r, 403, secrets, options)
    assert any(i in r.json()["message"] for i in expected), r.json()["message"]
    baseline["carol"].assert_unchanged(hub, name)


STOCK_OPTIONS: list[Row] = [
    ("stock-url-ext", {"url": "HUB/v2/git/ext%3A%3Ash%20-c%20id/HEAD"}, 400, "repo"),
    ("stock-url-urlpath-js", {"url": "HUB/v2/gh/a/b/HEAD?urlpath=javascript:alert(1)"}, 400,
     "urlpath"),
    ("stock-bare-spec-file", {"repo": "file:///etc/passwd"}, 400, "repo"),
    ("stock-no-options", {}, 400, "spec"),
    ("stock-spec-and-url", {"spec": spec({}), "url": "HUB/v2/gh/a/b/HEAD"}, 400, "url"),
    ("stock-collab-owner", {"spec": spec({"collaborators": ["carol"]})}, 400,
     "collaborators[0]"),
    ("stock-name-mismatch", {"spec": spec({"server_name": "elsewhere"})}, 400, "server_name"),
    ("stock-unknown-option", {"spec": spec({}), "privileged": True}, 400, "privileged"),
    ("stock-confirmation-list", {"spec": spec({}), "confirmation": ["x"]}, 400,
     "confirmation"),
    ("stock-public-copy-not-public", {"public_copy_of": {"owner": "alice", "server": "x"}},
     404, None),
    ("stock-public-copy-bad-owner", {"public_copy_of": {"owner": "../admin", "server": "x"}},
     404, None),
    ("stock-unconfirmed", {"spec": UNTRUSTED | {"server_name": ""}}, 409, None),
    ("stock-wrong-confirmation", {"spec": UNTRUSTED | {"server_name": ""},
                                  "confirmation": "0" * 64}, 409, None),
]  # fmt: skip


def _hub_urls(hub: HubUnderTest, options: Any) -> Any:
    if isinstance(options, dict):
        return {k: _hub_urls(hub, v) for k, v in options.items()}
    return _url(hub, options) if isinstance(options, str) else options


@pytest.mark.parametrize(("options", "status", "field"), params(STOCK_OPTIONS))
def test_stock_rest_refuses_options(
    leftovers: list[tuple[str, str]],
    request: pytest.FixtureRequest,
    hub: HubUnderTest,
    baseline: Any,
    secrets: list[str],
    options: Any,
    status: int,
    field: str | None,
) -> None:
    name = stock_name(request.node.callspec.id)
    leftovers.append(("carol", name))
    options = _hub_urls(hub, options)
    stock_refused(stock_start(hub, "carol", name, options), status, secrets, options, field)
    baseline["carol"].assert_unchanged(hub, name)


def test_stock_rest_refuses_a_bad_server_name(
    hub: HubUnderTest, baseline: Any, secrets: list[str]
) -> None:
    options = {"spec": spec({})}
    r = stock_start(hub, "carol", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", options)
    stock_refused(r, 400, secrets, options)
    baseline["carol"].assert_unchanged(hub)


DEFAULT_SERVER_CASES: list[Row] = [
    ("default-server-hostile-spec", {"spec": spec({"repo": "ext::sh -c id"})}, 400),
    ("default-server-5mb-options", {"spec": spec({"ref": "x" * 5_242_880})}, 400),
]  # fmt: skip


@pytest.mark.parametrize(("options", "status"), params(DEFAULT_SERVER_CASES))
def test_stock_rest_default_server_keeps_nothing(
    hub: HubUnderTest, baseline: Any, secrets: list[str], options: Any, status: int
) -> None:
    """dave's default server: refused, and its stored user_options are what they were."""
    stock_refused(stock_start(hub, "dave", "", options), status, secrets, options)
    baseline["dave"].assert_unchanged(hub, "", wait=3)


# ---------------------------------------------------------------- the launch page


@dataclass
class Raw:
    status_code: int
    headers: dict[str, str]
    text: str


# Links whose path holds %2e%2e segments: browsers and the proxy (configurable-http-proxy
# parses URLs with WHATWG rules) resolve them before the hub sees anything, so these are
# sent to the hub's own port, as a proxy that passes paths through would.
DOT_SEGMENT_IDS = {"url-org-traversal", "legacy-user-dotdot", "legacy-path-dotdot"}


def raw_get(hub: HubUnderTest, session: requests.Session, path: str, ident: str = "") -> Raw:
    """GET ``path`` exactly as written: no client-side dot-segment removal or re-quoting
    (requests/urllib3 turn ``/a/%2e%2e/b`` into ``/b`` before sending), with the
    session's login cookie; through the proxy, or to the hub itself for DOT_SEGMENT_IDS."""
    parts = urlsplit(hub.url)
    host, port = (hub.hub_ip, hub.hub_port) if ident in DOT_SEGMENT_IDS else (
        parts.hostname, parts.port)  # fmt: skip
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        conn.request("GET", path, headers={"Cookie": cookies})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        return Raw(resp.status, dict(resp.getheaders()), body)
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "field"), params(rows(URL_REFUSED, PAGE_IDS)))
def test_launch_page_shows_the_refusal(
    request: pytest.FixtureRequest,
    hub: HubUnderTest,
    alice_web: requests.Session,
    baseline: Any,
    secrets: list[str],
    path: str,
    field: str,
) -> None:
    r = raw_get(hub, alice_web, "/hub" + path, request.node.callspec.id)
    launch = page_data(r, secrets, path)["launch"]
    assert launch["spec"] is None, launch["spec"]
    assert launch["error"]["field"] == field, launch["error"]
    assert_clear_message(launch["error"]["message"], field)
    baseline["alice"].assert_unchanged(hub)


@pytest.mark.parametrize("fields", params(INERT))
def test_launch_page_embeds_inert_values_escaped(
    hub: HubUnderTest,
    alice_web: requests.Session,
    baseline: Any,
    secrets: list[str],
    fields: dict[str, Any],
) -> None:
    link = launch_url(parse_spec(spec(fields), owner="alice"), hub.url)
    parts = urlsplit(link)
    r = raw_get(hub, alice_web, f"/hub{parts.path}?{parts.query}")
    launch = page_data(r, secrets, fields)["launch"]
    assert launch["error"] is None and launch["spec"]["spec_id"]
    baseline["alice"].assert_unchanged(hub)


_DATA = re.compile(r'<script type="application/json" id="vh-data">(.*?)</script>', re.DOTALL)
# markup a payload would need (inside the page's JSON, "<" and ">" are \u003c and \u003e)
PAYLOADS = ("<script>alert", "<img src=x", "<img/src=x", "alert(1)>", '="javascript:')


def page_data(r: Raw, secrets: list[str], sent: Any) -> dict[str, Any]:
    """The launch page's embedded JSON; the page around it holds no payload as markup."""
    assert r.status_code == 200, f"{r.status_code}: {r.text[:500]}"
    assert_no_secret(r.text, secrets, sent=sent)
    found = _DATA.search(r.text)
    assert found, "no vh-data in the launch page"
    for payload in PAYLOADS:
        assert payload not in r.text, f"{payload!r} is in the page as markup"
    return json.loads(found.group(1))


@pytest.mark.parametrize(("path", "query", "field"), params(LEGACY_REFUSED))
def test_legacy_redirect_refuses(
    request: pytest.FixtureRequest,
    hub: HubUnderTest,
    alice_web: requests.Session,
    baseline: Any,
    secrets: list[str],
    path: str,
    query: str,
    field: str,
) -> None:
    link = f"/hub{path}" + (f"?{query}" if query else "")
    r = raw_get(hub, alice_web, link, request.node.callspec.id)
    assert r.status_code == 400, f"{r.status_code} {r.headers.get('Location')}: {r.text[:300]}"
    assert "Location" not in r.headers
    assert_no_secret(r.text, secrets, sent=path + query)
    assert r.text.endswith("\n") and r.text.count("\n") == 1, repr(r.text[:300])
    assert r.text.startswith(f"{field}: ")
    assert_clear_message(r.text.rstrip("\n"), field)
    baseline["alice"].assert_unchanged(hub)
