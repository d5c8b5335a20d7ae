"""LTI 1.3 and LTI 1.1 logins into a real hub started as ``versahub up`` starts it.

Two independent LTI 1.3 platforms (``lti1p3platform``, their JWKS served from this test on
loopback) and one LTI 1.1 consumer (``lti.ToolConsumer``) log people in through the
site's own configuration (``SiteUnderTest``: site.yaml → the production
``jupyterhub_config.py``; no trait injected). Each good login ends with a login cookie, the
user in the hub's database and the LTI claims in ``auth_state``. Each bad launch —
expired, replayed, tampered or foreign signature, wrong audience, unknown issuer or
deployment, another platform's token; LTI 1.1 bad signature, old timestamp, replayed nonce,
unknown key, not allowed — gets JupyterHub's error page saying why, no login cookie, no
user, and one ``LTI 1.x login refused`` line in the hub's log without the token or secret.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lti_support import (
    CONTEXT,
    CUSTOM,
    INSTRUCTOR,
    LEARNER,
    RESOURCE_LINK,
    ROLES,
    Attempt,
    JwksServer,
    Platform,
    course_cli,
    environment_file,
    rsa_pair,
    tamper,
)
from site_support import SiteUnderTest
from spawn_support import COMMIT, REPO, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.lti, pytest.mark.slow]

DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
CONSUMER_SECRET = "s3cret-" + "9f2c4e81a7b3d6e0" * 2


def admin_token(site: SiteUnderTest, session: requests.Session, name: str) -> str:
    """An API token of the admin ``name``, made through the REST API with the session an
    LTI login gave them (as an operator would)."""
    session.get(f"{site.url}/hub/home", timeout=20)
    xsrf = session.cookies.get("_xsrf", path="/hub/") or session.cookies.get("_xsrf") or ""
    r = session.post(
        f"{site.url}/hub/api/users/{name}/tokens",
        json={"note": "lti tests"},
        headers={"X-XSRFToken": xsrf},
        timeout=20,
    )
    assert r.status_code == 201, (r.status_code, r.text)
    return str(r.json()["token"])


def course_ds101(site: SiteUnderTest) -> None:
    """The course every good launch of these tests names (created as an operator does,
    with the hub running); its environment is a cached image."""
    seed_cached_image(REPO, COMMIT)
    env = environment_file(site.root, REPO, COMMIT)
    done = course_cli(site.site_file, "create", "ds101", "--title", "Data Science 101",
                      "--environment", str(env))  # fmt: skip
    assert done.returncode == 0, done.stderr


def refusals(site: SiteUnderTest, version: str) -> list[str]:
    return [
        line for line in site.tail(10**7).splitlines() if f"LTI {version} login refused" in line
    ]


def assert_refused(
    site: SiteUnderTest,
    r: requests.Response,
    version: str,
    *,
    session: requests.Session,
    user: str | None,
    before: int,
    reason: str,
) -> None:
    """The error page says why, no login cookie, no user, one more log line."""
    page = html.unescape(r.text)
    assert r.status_code in (400, 401, 403), (r.status_code, page[:500])
    assert f"LTI {version} launch refused" in page, page[:2000]
    assert reason in page, (reason, page[:2000])
    assert "Traceback" not in page
    assert not any(c.name == "jupyterhub-hub-login" for c in session.cookies)
    if user is not None:
        assert site.api("GET", f"/users/{user}").status_code == 404, f"{user} was created"
    lines = refusals(site, version)
    assert len(lines) == before + 1, lines[before:]
    assert reason.split(" (")[0] in lines[-1] or reason in lines[-1], lines[-1]


# -- LTI 1.3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lti13(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SiteUnderTest, dict[str, Platform]]]:
    root = tmp_path_factory.mktemp("lti13")
    site = SiteUnderTest(root)
    jwks = JwksServer()
    platforms = {
        "moodle": Platform("moodle", jwks, "moodle-client-1", "1", site.url),
        "canvas": Platform("canvas", jwks, "10000000000042", "42:abcdef", site.url),
    }
    site.doc = {
        "hub": {
            "admin_users": ["ops"],
            "auth": {
                "kind": "lti13",
                "allow_all": True,
                "lti13": {"platforms": [p.site_entry() for p in platforms.values()]},
            },
        },
    }
    site.start()
    try:
        course_ds101(site)
        ops = login13(site, platforms["moodle"], "ops", [INSTRUCTOR])
        assert ops.logged_in(), site.tail()
        site.token = admin_token(site, ops.session, "ops")
        yield site, platforms
    finally:
        site.stop()
        jwks.stop()


def login13(
    site: SiteUnderTest, platform: Platform, user: str, roles: list[str], **claims: Any
) -> Attempt:
    attempt = Attempt(site.url)
    r = attempt.initiate(platform.login_initiation_url(user))
    assert r.status_code == 302, (r.status_code, r.text[:500])
    assert r.headers["Location"].startswith(platform.authorize_url)
    form = platform.id_token(attempt.auth_request, user_id=user, roles=roles, **claims)
    r = attempt.callback(form)
    assert r.status_code == 302, (r.status_code, r.text[:1000])
    return attempt


@pytest.mark.parametrize(
    ("platform", "user", "role"),
    [
        pytest.param("moodle", "s-ada", LEARNER, id="moodle-learner"),
        pytest.param("canvas", "t-grace", INSTRUCTOR, id="canvas-instructor"),
    ],
)
def test_lti13_login_of_two_platforms(lti13: Any, platform: str, user: str, role: str) -> None:
    site, platforms = lti13
    attempt = login13(
        site, platforms[platform], user, [role], custom={"course": "ds101", "platform": platform}
    )
    assert attempt.logged_in()
    r = attempt.session.get(f"{site.url}/hub/home", timeout=20)
    assert r.status_code == 200 and user in r.text
    model = site.api("GET", f"/users/{user}").json()
    state = model["auth_state"]
    assert state["iss"] == platforms[platform].issuer
    assert state[ROLES] == [role]
    assert state[CONTEXT]["id"] == "course-1"
    assert state[RESOURCE_LINK]["id"] == "resource-1"
    assert state[CUSTOM] == {"course": "ds101", "platform": platform}
    assert state[DEPLOYMENT] == platforms[platform].deployment_id
    role = "teacher" if role == INSTRUCTOR else "student"
    assert state["versahub_course"] == {"kind": "course", "id": "ds101", "role": role}
    assert site.api("GET", f"/users/{user}").json()["groups"] == [f"ds101-{role}s"]


def test_lti13_claims_are_encrypted_with_the_key_versahub_up_made(lti13: Any) -> None:
    site, _ = lti13
    key = site.paths.crypt_key_file
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    database = b"".join(f.read_bytes() for f in site.paths.hub.glob("jupyterhub.sqlite*"))
    assert b"s-ada" in database  # the user's row is there
    assert b"Data Science 101" not in database  # the context title, only in auth_state
    assert site.api("GET", "/users/s-ada").json()["auth_state"][CONTEXT]["title"] == (
        "Data Science 101"
    )


def bad_launch(
    site: SiteUnderTest,
    platform: Platform,
    user: str,
    *,
    init: Callable[[str], str] = lambda url: url,
    form: Callable[[dict[str, str]], dict[str, str]] = lambda f: f,
    **claims: Any,
) -> tuple[Attempt, requests.Response]:
    """A login whose login initiation URL or platform answer is changed on the way."""
    attempt = Attempt(site.url)
    r = attempt.initiate(init(platform.login_initiation_url(user)))
    if r.status_code != 302:
        return attempt, r
    answer = platform.id_token(attempt.auth_request, user_id=user, roles=[LEARNER], **claims)
    return attempt, attempt.callback(form(answer))


def resign(form: dict[str, str], key_pem: str) -> dict[str, str]:
    """The same claims and key id, signed with another key (a forged signature)."""
    header = jwt.get_unverified_header(form["id_token"])
    claims = jwt.decode(form["id_token"], options={"verify_signature": False})
    token = jwt.encode(claims, key_pem, algorithm="RS256", headers={"kid": header["kid"]})
    return {**form, "id_token": token}


ROGUE_KEY = rsa_pair()[0]

BAD_LTI13 = [
    pytest.param({"expiration": -120}, "Signature has expired", id="expired"),
    pytest.param(
        {"form": lambda f: {**f, "id_token": tamper(f["id_token"], sub="x-tamp")}},
        "Signature verification failed",
        id="tampered",
    ),
    pytest.param(
        {"form": lambda f: resign(f, ROGUE_KEY)}, "Signature verification failed", id="foreign-key"
    ),
    pytest.param(
        {"extra": {"aud": "someone-else", "azp": "someone-else"}},
        "wrong audience",
        id="wrong-audience",
    ),
    pytest.param(
        {"init": lambda u: u.replace("%2Fmoodle", "%2Fnowhere", 1)},
        "unknown issuer",
        id="unknown-issuer",
    ),
    pytest.param(
        {"init": lambda u: u.replace("client_id=moodle-client-1", "client_id=evil")},
        "is not registered",
        id="unknown-client-id",
    ),
    pytest.param(
        {"init": lambda u: u.replace("lti_deployment_id=1", "lti_deployment_id=9")},
        "deployment id '9' is not registered",
        id="unknown-deployment-at-login",
    ),
    pytest.param(
        {"init": lambda u: u.replace("&lti_deployment_id=1", ""), "extra": {DEPLOYMENT: "9"}},
        "deployment id '9' is not registered",
        id="unknown-deployment-in-token",
    ),
    pytest.param(
        {"init": lambda u: u.replace("iss=", "x=")}, "Required LTI 1.3 arg iss", id="no-issuer"
    ),
]


@pytest.mark.parametrize(("change", "reason"), BAD_LTI13)
def test_lti13_bad_launch_is_refused(
    lti13: Any, change: dict[str, Any], reason: str, request: pytest.FixtureRequest
) -> None:
    site, platforms = lti13
    user = "x-" + request.node.callspec.id
    before = len(refusals(site, "1.3"))
    attempt, r = bad_launch(site, platforms["moodle"], user, **change)
    assert_refused(site, r, "1.3", session=attempt.session, user=user, before=before, reason=reason)


def test_lti13_token_of_another_platform_is_refused(lti13: Any) -> None:
    """A login initiated as Moodle answered with Canvas's (validly signed) id_token."""
    site, platforms = lti13
    moodle, canvas = platforms["moodle"], platforms["canvas"]
    before = len(refusals(site, "1.3"))
    attempt = Attempt(site.url)
    assert attempt.initiate(moodle.login_initiation_url("x-cross")).status_code == 302
    # Canvas signs for its own client id; the hub asked Moodle's authorize URL
    request_as_canvas = {**attempt.auth_request, "client_id": canvas.client_id}
    form = canvas.id_token(request_as_canvas, user_id="x-cross", roles=[LEARNER])
    r = attempt.callback(form)
    assert_refused(
        site,
        r,
        "1.3",
        session=attempt.session,
        user="x-cross",
        before=before,
        reason="Unable to find a signing key",
    )


def test_lti13_replayed_launch_is_refused(lti13: Any) -> None:
    site, platforms = lti13
    platform = platforms["moodle"]
    attempt = Attempt(site.url)
    assert attempt.initiate(platform.login_initiation_url("s-replay")).status_code == 302
    form = platform.id_token(attempt.auth_request, user_id="s-replay", roles=[LEARNER])
    captured = requests.utils.dict_from_cookiejar(attempt.session.cookies)
    assert attempt.callback(form).status_code == 302 and attempt.logged_in()
    # the whole callback again, with the cookies it carried (stolen form and cookies)
    before = len(refusals(site, "1.3"))
    thief = Attempt(site.url)
    thief.session.cookies.update(captured)
    r = thief.callback(form)
    assert_refused(
        site, r, "1.3", session=thief.session, user=None, before=before, reason="already used"
    )
    # and without the browser's cookies: the stock state check refuses it
    r = Attempt(site.url).callback(form)
    assert r.status_code == 400 and "OAuth state missing from cookies" in r.text


def test_lti13_log_lines_carry_no_token(lti13: Any) -> None:
    site, platforms = lti13
    _, r = bad_launch(site, platforms["moodle"], "x-logged", expiration=-60)
    assert r.status_code == 400
    lines = refusals(site, "1.3")
    assert "Signature has expired" in lines[-1] and "x-logged" in lines[-1]
    assert "eyJ" not in "\n".join(lines)  # no JWT (nor any part of one) in a refusal line


def test_lti13_hub_pages_may_be_framed_by_the_platforms(lti13: Any) -> None:
    site, platforms = lti13
    r = requests.get(f"{site.url}/hub/login", timeout=20)
    csp = r.headers["Content-Security-Policy"]
    assert csp.startswith("frame-ancestors 'self'")
    for platform in platforms.values():
        assert platform.jwks.base in csp


# -- LTI 1.1 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lti11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteUnderTest]:
    root = tmp_path_factory.mktemp("lti11")
    secrets = root / "lti11-consumers.yaml"
    secrets.write_text(yaml.safe_dump({"moodle-key": CONSUMER_SECRET}))
    secrets.chmod(0o600)
    site = SiteUnderTest(root)
    site.doc = {
        "hub": {
            "admin_users": ["ops11"],
            "auth": {
                "kind": "lti11",
                "allowed_users": ["s-lti11"],
                "lti11": {"consumers_file": str(secrets)},
            },
        },
    }
    site.start()
    try:
        course_ds101(site)
        session = requests.Session()
        r = launch11(site, session, "ops11")
        assert r.status_code == 302, (r.status_code, r.text[:1000], site.tail())
        site.token = admin_token(site, session, "ops11")
        yield site
    finally:
        site.stop()


def launch11(
    site: SiteUnderTest,
    session: requests.Session,
    user: str,
    *,
    secret: str = CONSUMER_SECRET,
    key: str = "moodle-key",
    data: dict[str, str] | None = None,
    **oauth: Any,
) -> requests.Response:
    from lti import ToolConsumer

    if data is None:
        consumer = ToolConsumer(
            consumer_key=key,
            consumer_secret=secret,
            launch_url=f"{site.url}/hub/lti/launch",
            params={
                "lti_message_type": "basic-lti-launch-request",
                "lti_version": "LTI-1p0",
                "resource_link_id": "resource-11",
                "user_id": user,
                "roles": "Learner",
                "context_id": "course-11",
                "custom_course": "ds101",
            },
        )
        data = consumer.generate_launch_data(**oauth)
    return session.post(f"{site.url}/hub/lti/launch", data=data, allow_redirects=False, timeout=30)


def test_lti11_login(lti11: SiteUnderTest) -> None:
    site = lti11
    session = requests.Session()
    r = launch11(site, session, "s-lti11")
    assert r.status_code == 302, (r.status_code, r.text[:1000])
    assert any(c.name == "jupyterhub-hub-login" for c in session.cookies)
    # the course launch lands in the course server, the role in the course's group
    assert r.headers["Location"] == "/hub/spawn-pending/s-lti11/ds101"
    model = site.api("GET", "/users/s-lti11").json()
    assert model["groups"] == ["ds101-students"]
    assert "ds101" in model["servers"]
    state = model["auth_state"]
    assert state["roles"] == "Learner"
    assert state["context_id"] == "course-11"
    assert state["resource_link_id"] == "resource-11"
    assert state["custom_course"] == "ds101"
    assert not any(k.startswith("oauth_") for k in state)


BAD_LTI11 = [
    pytest.param({"secret": "wrong-" + "0" * 20}, "Invalid oauth_signature", id="bad-signature"),
    pytest.param({"timestamp": "an hour ago"}, "Timestamp given is invalid", id="old-timestamp"),
    pytest.param({"key": "nobody"}, "unknown oauth_consumer_key", id="unknown-key"),
]


@pytest.mark.parametrize(("change", "reason"), BAD_LTI11)
def test_lti11_bad_launch_is_refused(
    lti11: SiteUnderTest, change: dict[str, Any], reason: str
) -> None:
    site = lti11
    session = requests.Session()
    before = len(refusals(site, "1.1"))
    if "timestamp" in change:  # signed correctly, with a timestamp an hour old
        change = {"timestamp": str(int(time.time()) - 3600)}
    r = launch11(site, session, "s-lti11-bad", **change)
    assert_refused(
        site, r, "1.1", session=session, user="s-lti11-bad", before=before, reason=reason
    )
    assert CONSUMER_SECRET not in site.tail(10**7)


def test_lti11_replayed_nonce_is_refused(lti11: SiteUnderTest) -> None:
    from lti import ToolConsumer

    site = lti11
    consumer = ToolConsumer(
        consumer_key="moodle-key",
        consumer_secret=CONSUMER_SECRET,
        launch_url=f"{site.url}/hub/lti/launch",
        params={
            "lti_message_type": "basic-lti-launch-request",
            "lti_version": "LTI-1p0",
            "resource_link_id": "resource-11",
            "user_id": "s-lti11",
            "roles": "Learner",
            "custom_course": "ds101",
        },
    )
    data = consumer.generate_launch_data()
    assert launch11(site, requests.Session(), "", data=data).status_code == 302
    before = len(refusals(site, "1.1"))
    thief = requests.Session()
    r = launch11(site, thief, "", data=data)
    assert_refused(site, r, "1.1", session=thief, user=None, before=before, reason="already used")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        pytest.param({"custom_course": "nope"}, "'nope' is not a course of this hub", id="unknown"),
        pytest.param({"custom_course": ""}, "the launch names no course", id="none"),
        pytest.param({"roles": "Observer"}, "no teaching or learning role", id="no-role"),
    ],
)
def test_lti11_launch_without_a_usable_course_is_refused(
    lti11: SiteUnderTest, params: dict[str, str], reason: str
) -> None:
    from lti import ToolConsumer

    site = lti11
    consumer = ToolConsumer(
        consumer_key="moodle-key",
        consumer_secret=CONSUMER_SECRET,
        launch_url=f"{site.url}/hub/lti/launch",
        params={
            "lti_message_type": "basic-lti-launch-request",
            "lti_version": "LTI-1p0",
            "resource_link_id": "resource-11",
            "user_id": "s-lti11-nocourse",
            "roles": "Learner",
            "context_id": "course-11",
            "custom_course": "ds101",
            **params,
        },
    )
    session = requests.Session()
    before = len(refusals(site, "1.1"))
    r = launch11(site, session, "", data=consumer.generate_launch_data())
    assert_refused(
        site, r, "1.1", session=session, user="s-lti11-nocourse", before=before, reason=reason
    )
    assert site.containers(owner="s-lti11-nocourse") == []


def test_lti11_account_not_allowed_is_refused(lti11: SiteUnderTest) -> None:
    site = lti11
    session = requests.Session()
    before = len(refusals(site, "1.1"))
    r = launch11(site, session, "stranger")
    assert_refused(
        site,
        r,
        "1.1",
        session=session,
        user="stranger",
        before=before,
        reason="not in allowed_users",
    )


def test_lti11_config_xml_names_the_launch_url(lti11: SiteUnderTest) -> None:
    r = requests.get(f"{lti11.url}/hub/lti11/config", timeout=20)
    assert r.status_code == 200
    assert f"{lti11.url}/hub/lti/launch" in r.text


# -- LTI next to the site's own login -------------------------------------------------------------
@pytest.fixture(scope="module")
def beside(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SiteUnderTest, Platform]]:
    root = tmp_path_factory.mktemp("beside")
    site = SiteUnderTest(root)
    jwks = JwksServer()
    moodle = Platform("moodle", jwks, "moodle-client-9", "9", site.url)
    site.doc = {
        "hub": {
            "admin_users": ["ops"],
            "groups": {"staff": ["alice"]},
            "auth": {
                "kind": "demo",
                "users": ["alice", "bob"],
                "lti13": {"platforms": [moodle.site_entry()], "allow_all": True},
            },
        },
    }
    site.start()
    try:
        course_ds101(site)
        yield site, moodle
    finally:
        site.stop()
        jwks.stop()


def test_lti_next_to_the_demo_login(beside: tuple[SiteUnderTest, Platform]) -> None:
    """One hub, two logins: the demo form at /hub/login, LMS launches at /hub/lti13/…,
    each with its own allow rule."""
    site, moodle = beside
    page = requests.get(f"{site.url}/hub/login", timeout=20)
    assert page.status_code == 200 and 'id="password_input"' in page.text
    alice = site.login("alice")  # the site's own login
    assert alice.get(f"{site.url}/hub/home", timeout=20).status_code == 200
    assert site.api("GET", "/users/alice").json()["groups"] == ["staff"]

    attempt = login13(site, moodle, "t-ann", [INSTRUCTOR])  # a launch from the LMS
    assert attempt.logged_in()
    model = site.api("GET", "/users/t-ann").json()
    assert model["groups"] == ["ds101-teachers"] and "ds101" in model["servers"]
    assert model["auth_state"]["versahub_course"]["id"] == "ds101"
    keys = requests.get(f"{site.url}/hub/lti13/jwks", timeout=20).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and "d" not in k for k in keys)

    # someone who came from the LMS cannot use the demo password, and a launch is refused
    # like on an LTI-only hub
    with pytest.raises(RuntimeError, match="login as t-ann failed"):
        site.login("t-ann")
    before = len(refusals(site, "1.3"))
    _, r = bad_launch(site, moodle, "s-nocourse", custom={})
    assert_refused(site, r, "1.3", session=requests.Session(), user="s-nocourse",
                   before=before, reason="the launch names no course")  # fmt: skip
