"""Course launches from an LMS into a real hub started as ``versahub up`` starts it.

An independent LTI 1.3 platform (``lti1p3platform``) launches a Learner and an Instructor
into the course ``ds101``, which an operator created with ``versahub course create`` while
the hub was running (no restart). Each lands in their running course server — the
course's environment as the named server ``ds101`` — with the course volume read-write
for the teacher and read-only for the student (checked from inside the containers), the
course groups set through JupyterHub, no risk dialog (the course's own servers are trusted
through OPA's data) and the material pulled by nbgitpuller from a git server into
``~/ds101/material``. A spec the student changes is judged like any other; unknown,
archived or unnamed courses and launches without a role are refused before any account
exists.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lti_support import (
    INSTRUCTOR,
    LEARNER,
    Attempt,
    JwksServer,
    MaterialRepo,
    Platform,
    course_cli,
    environment_file,
)
from site_support import SiteUnderTest, docker0_available, wait_for
from spawn_support import COMMIT, REPO, seed_cached_image

from versahub.images.engine import docker_cli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGE = "https://purl.imsglobal.org/spec/lti/claim/message_type"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"


def shot(page: Any, name: str) -> None:
    """A screenshot for test-artifacts/ (and docs/img with `make screenshots`)."""
    shots = REPO_ROOT / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"))
    if os.environ.get("VERSAHUB_UPDATE_DOCS_IMAGES") == "1":
        shutil.copyfile(shots / f"{name}.png", REPO_ROOT / "docs" / "img" / f"{name}.png")


pytestmark = [
    pytest.mark.integration,
    pytest.mark.lti,
    pytest.mark.slow,
    pytest.mark.skipif(not docker0_available(), reason="needs the Docker engine (docker0)"),
]

CATALOGUE_ENTRY = {
    "id": "pandas-intro",
    "title": "Pandas introduction",
    "description": "A notebook environment with pandas.",
    "spec": {"repo": REPO, "ref": COMMIT, "internet": True},
}
LESSON = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def nbgrader_cell(source: str, **meta: Any) -> dict[str, Any]:
    """A code cell with nbgrader's metadata (``grade_id`` and the flags given)."""
    flags = {"schema_version": 3, "locked": False, "solution": False, "grade": False,
             "task": False, **meta}  # fmt: skip
    return {"cell_type": "code", "execution_count": None, "outputs": [], "source": source,
            "metadata": {"nbgrader": flags}, "id": meta["grade_id"]}  # fmt: skip


# An assignment with one answer (autograded by one test worth 1 point).
PS1 = json.dumps({
    "cells": [
        nbgrader_cell("### BEGIN SOLUTION\nx = 42\n### END SOLUTION",
                      solution=True, grade_id="answer"),
        nbgrader_cell("assert x == 42", grade=True, locked=True, points=1,
                      grade_id="check"),
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
})  # fmt: skip


class Classroom:
    def __init__(self, site: SiteUnderTest, platform: Platform, material: MaterialRepo) -> None:
        self.site = site
        self.platform = platform
        self.material = material

    def course(self, *args: str) -> subprocess.CompletedProcess[str]:
        return course_cli(self.site.site_file, *args)

    def launch(
        self, user: str, roles: list[str], *, custom: dict[str, str] | None = None,
        context_id: str = "lms-course-1",
    ) -> tuple[Attempt, requests.Response]:  # fmt: skip
        attempt = Attempt(self.site.url)
        r = attempt.initiate(self.platform.login_initiation_url(user))
        assert r.status_code == 302, (r.status_code, r.text[:500])
        form = self.platform.id_token(
            attempt.auth_request,
            user_id=user,
            roles=roles,
            context_id=context_id,
            custom={"course": "ds101"} if custom is None else custom,
        )
        return attempt, attempt.callback(form)

    def ready(self, user: str, server: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            model = self.site.api("GET", f"/users/{user}").json()
            entry = (model.get("servers") or {}).get(server)
            return model if entry and entry.get("ready") else None

        return wait_for(check, 180, f"{user}/{server} ready", interval=0.5)

    def container(self, user: str, server: str) -> str:
        ids = self.site.containers(running_only=True, owner=user, server=server)
        assert len(ids) == 1, ids
        return ids[0]

    def sh(
        self, container: str, script: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``script`` in ``container`` as the notebook user (uid 1000), in its home."""
        return subprocess.run(
            [docker_cli(), "exec", "-i", "-u", "1000", "-w", "/home/jovyan", container,
             "bash", "-lc", script],
            input=stdin, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    def ok(self, container: str, script: str, stdin: str | None = None) -> str:
        done = self.sh(container, script, stdin)
        assert done.returncode == 0, (script, done.stdout[-2000:], done.stderr[-3000:])
        return done.stdout


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Classroom]:
    root = tmp_path_factory.mktemp("courses")
    seed_cached_image(REPO, COMMIT)
    site = SiteUnderTest(root)
    jwks = JwksServer()
    platform = Platform("moodle", jwks, "moodle-client-7", "7", site.url)
    material = MaterialRepo(root, site.hub_ip, {"lesson1.ipynb": LESSON, "README.md": "Week 1\n"})
    site.doc = {
        "hub": {
            "admin_users": ["ops"],
            "auth": {
                "kind": "lti13",
                "allow_all": True,
                "lti13": {"platforms": [platform.site_entry()]},
            },
        },
        "catalogue": [CATALOGUE_ENTRY],
    }
    site.start()
    room = Classroom(site, platform, material)
    try:
        # created while the hub runs: no restart
        env = environment_file(root, REPO, COMMIT)
        done = room.course("create", "ds101", "--title", "Data Science 101",
                           "--environment", str(env), "--material", material.url,
                           "--ref", "main")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "custom parameters            course=ds101" in done.stdout
        attempt, r = room.launch("ops", [INSTRUCTOR])
        assert r.status_code == 302, (r.status_code, html.unescape(r.text)[:2000], site.tail())
        session = attempt.session
        session.get(f"{site.url}/hub/home", timeout=20)
        xsrf = session.cookies.get("_xsrf", path="/hub/") or ""
        tok = session.post(f"{site.url}/hub/api/users/ops/tokens", json={"note": "tests"},
                           headers={"X-XSRFToken": xsrf}, timeout=20)  # fmt: skip
        assert tok.status_code == 201, tok.text
        site.token = tok.json()["token"]
        yield room
    finally:
        site.stop()
        material.stop()
        jwks.stop()


def pull_material(room: Classroom, session: requests.Session, user: str) -> None:
    """Open the course server as the browser would (progress page → server → its default
    URL, nbgitpuller's page) and run the pull that page's script starts."""
    r = session.get(f"{room.site.url}/hub/spawn-pending/{user}/ds101", timeout=60)
    assert r.status_code == 200, (r.status_code, r.url)
    assert "/git-pull" in r.url, r.url  # the course server opens nbgitpuller's page
    api = r.url.replace("/git-pull?", "/git-pull/api?", 1)
    pulled = session.get(api, timeout=120)
    assert pulled.status_code == 200, pulled.text[:500]
    assert "error" not in pulled.text.lower().split("data:")[-1], pulled.text[-1000:]


def test_learner_and_instructor_land_in_their_course_server(classroom: Classroom) -> None:
    room = classroom
    teacher, r = room.launch("t-grace", [INSTRUCTOR])
    assert r.status_code == 302, (r.status_code, html.unescape(r.text)[:2000])
    # no risk dialog: straight to the server's progress page
    assert urlsplit(r.headers["Location"]).path == "/hub/spawn-pending/t-grace/ds101"
    student, r = room.launch("s-ada", [LEARNER])
    assert r.status_code == 302, (r.status_code, html.unescape(r.text)[:2000])
    assert urlsplit(r.headers["Location"]).path == "/hub/spawn-pending/s-ada/ds101"

    for user, group in (("t-grace", "ds101-teachers"), ("s-ada", "ds101-students")):
        model = room.ready(user, "ds101")
        assert model["groups"] == [group]
        state = room.site.api("GET", f"/users/{user}").json()["auth_state"]
        assert state["versahub_course"] == {
            "kind": "course",
            "id": "ds101",
            "role": group.split("-")[1][:-1],
        }

    t_box, s_box = room.container("t-grace", "ds101"), room.container("s-ada", "ds101")
    wrote = room.sh(t_box, "echo notes > ~/course/week1.txt && cat ~/course/week1.txt")
    assert wrote.returncode == 0 and wrote.stdout == "notes\n", wrote
    read = room.sh(s_box, "cat ~/course/week1.txt")
    assert read.returncode == 0 and read.stdout == "notes\n", read
    denied = room.sh(s_box, "echo x > ~/course/student.txt")
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr, denied

    pull_material(room, teacher.session, "t-grace")
    pull_material(room, student.session, "s-ada")
    for box in (t_box, s_box):
        listed = room.sh(box, "ls ~/ds101/material")
        assert listed.returncode == 0 and listed.stdout.split() == ["README.md", "lesson1.ipynb"]


def test_a_changed_course_spec_is_judged_like_any_other(classroom: Classroom) -> None:
    room = classroom
    _, r = room.launch("s-lin", [LEARNER])
    assert r.status_code == 302
    room.ready("s-lin", "ds101")
    token = room.site.user_token("s-lin")
    spec = room.site.api("GET", "/users/s-lin").json()["servers"]["ds101"]["user_options"]["spec"]
    same = room.site.api("POST", "/versahub/check", token=token, json={"spec": spec}).json()
    assert same["decision"]["allowed"] and same["decision"]["warn"] == [], same
    changed = {**spec, "resources": {**spec["resources"], "memory": "1G"}}
    other = room.site.api("POST", "/versahub/check", token=token, json={"spec": changed}).json()
    assert "internet-egress" in {f["id"] for f in other["decision"]["warn"]}, other


@pytest.mark.parametrize(
    ("custom", "roles", "status", "reason"),
    [
        pytest.param({"course": "nope"}, [LEARNER], 400, "'nope' is not a course of this hub",
                     id="unknown-course"),
        pytest.param({}, [LEARNER], 400, "the launch names no course", id="no-course"),
        pytest.param({"course": "ds101"}, ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"],
                     403, "carries no teaching or learning role", id="no-role"),
    ],
)  # fmt: skip
def test_launch_without_a_usable_course_is_refused(
    classroom: Classroom, custom: dict[str, str], roles: list[str], status: int, reason: str
) -> None:
    room = classroom
    user = f"s-refused-{len(custom)}-{len(roles[0])}"
    attempt, r = room.launch(user, roles, custom=custom, context_id="unbound")
    page = html.unescape(r.text)
    assert r.status_code == status, (r.status_code, page[:1500])
    assert "LTI 1.3 launch refused" in page and reason in page, page[:1500]
    assert not attempt.logged_in()
    assert room.site.api("GET", f"/users/{user}").status_code == 404
    assert room.site.containers(owner=user) == []
    assert any("LTI 1.3 login refused" in line and reason in line
               for line in room.site.tail(10**6).splitlines())  # fmt: skip


def test_a_link_to_a_catalogue_entry_goes_through_the_risk_dialog(classroom: Classroom) -> None:
    """A deep link may name a catalogue entry: it is no course (no group, no trust), so
    its warnings open the launch page's dialog; an unknown entry is refused."""
    room = classroom
    attempt, r = room.launch("s-cat", [LEARNER], custom={"catalogue": "pandas-intro"})
    assert r.status_code == 302, html.unescape(r.text)[:1500]
    dialog = urlsplit(r.headers["Location"])
    assert dialog.path.startswith("/v2/gh/binder-examples/requirements/"), dialog
    page = attempt.session.get(r.headers["Location"], timeout=20)
    assert page.status_code == 200 and "internet" in page.text.lower()
    model = room.site.api("GET", "/users/s-cat").json()
    assert model["groups"] == [] and model["servers"] == {}  # nothing started without a click
    _, r = room.launch("s-cat2", [LEARNER], custom={"catalogue": "nope"})
    assert r.status_code == 400 and "'nope' is not in this hub's catalogue" in html.unescape(r.text)
    assert room.site.api("GET", "/users/s-cat2").status_code == 404


def test_archived_course_is_refused(classroom: Classroom) -> None:
    room = classroom
    env = environment_file(room.site.root, REPO, COMMIT)
    made = room.course("create", "old-course", "--title", "Old", "--environment", str(env))
    assert made.returncode == 0, made.stderr
    assert room.course("archive", "old-course").returncode == 0
    _, r = room.launch("s-late", [LEARNER], custom={"course": "old-course"})
    assert r.status_code == 400 and "'old-course' is archived" in html.unescape(r.text)
    assert room.site.api("GET", "/users/s-late").status_code == 404


def test_lms_context_bound_to_a_course_and_groups_of_two_courses(classroom: Classroom) -> None:
    """A launch with no custom parameter finds its course by the LMS context; a person in
    two courses keeps both courses' groups."""
    room = classroom
    env = environment_file(room.site.root, REPO, COMMIT)
    made = room.course("create", "ds102", "--title", "Data Science 102", "--environment",
                       str(env), "--lti-context", room.platform.issuer, "lms-ds102")  # fmt: skip
    assert made.returncode == 0, made.stderr
    _, r = room.launch("s-ada", [INSTRUCTOR], custom={}, context_id="lms-ds102")
    assert r.status_code == 302, html.unescape(r.text)[:1500]
    assert urlsplit(r.headers["Location"]).path == "/hub/spawn-pending/s-ada/ds102"
    model = room.ready("s-ada", "ds102")
    assert model["groups"] == ["ds101-students", "ds102-teachers"]
    box = room.container("s-ada", "ds102")
    assert room.sh(box, "touch ~/course/ok").returncode == 0


def test_nbgrader_round_trip_keeps_students_apart(classroom: Classroom) -> None:
    """release → fetch → submit → collect → autograde → feedback, teachers and students in
    their own containers; a student cannot read another's submission or feedback, and a
    submission made under another student's name is not collected as theirs."""
    room = classroom
    teacher = room.container("t-grace", "ds101")
    ada, lin = room.container("s-ada", "ds101"), room.container("s-lin", "ds101")
    exchange = "/srv/nbgrader/exchange/ds101"

    room.ok(teacher, "mkdir -p ~/grading/source/ps1 && cat > ~/grading/source/ps1/ps1.ipynb",
            stdin=PS1)  # fmt: skip
    room.ok(teacher, "cd ~/grading && nbgrader generate_assignment ps1 && "
                     "nbgrader release_assignment ps1")  # fmt: skip

    def answer(text: str) -> str:
        return ("python3 -c \"import json;p='ps1/ps1.ipynb';nb=json.load(open(p));"
                f"nb['cells'][0]['source']='{text}';json.dump(nb,open(p,'w'))\"")  # fmt: skip

    ada_answer = answer("x = 42  # ada-7f3e")
    room.ok(ada, f"nbgrader fetch_assignment ps1 && {ada_answer} && nbgrader submit ps1")
    room.ok(lin, "nbgrader fetch_assignment ps1 && nbgrader submit ps1")
    # lin tries to submit in ada's name: it lands in lin's own folder, under ada's name
    room.ok(lin, f"{answer('x = 42')} && nbgrader submit ps1 --student s-ada")

    # nothing of ada's is in lin's container: not her submission, not its answer
    assert room.ok(lin, f"ls {exchange}").split() == ["feedback", "inbound", "outbound"]
    names = room.ok(lin, f"ls -1 {exchange}/inbound").splitlines()
    assert len(names) == 2 and all(n.startswith(("s-lin+ps1+", "s-ada+ps1+")) for n in names)
    found = room.sh(lin, "grep -rl ada-7f3e /srv /home /tmp 2>/dev/null || true")
    assert found.stdout.strip() == "", found.stdout
    assert room.ok(ada, f"ls {exchange}/inbound").startswith("s-ada+ps1+")
    assert room.sh(lin, f"touch {exchange}/outbound/x").returncode != 0  # released: read-only
    assert room.sh(lin, "ls ~/grading 2>&1").returncode != 0  # no course directory

    collected = room.sh(teacher, "cd ~/grading && nbgrader collect ps1")
    assert collected.returncode == 0, collected.stderr[-3000:]
    assert "submitted by s-lin under the name s-ada" in collected.stderr
    assert room.ok(teacher, "ls ~/grading/submitted").split() == ["s-ada", "s-lin"]
    # ada's own submission was collected, not the one made in her name
    assert "ada-7f3e" in room.ok(teacher, "cat ~/grading/submitted/s-ada/ps1/ps1.ipynb")
    room.ok(teacher, "cd ~/grading && nbgrader autograde ps1 && nbgrader generate_feedback ps1 "
                     "&& nbgrader release_feedback ps1")  # fmt: skip
    scores = room.ok(teacher, "cd ~/grading && python3 -c \"from nbgrader.api import Gradebook\n"
                              "with Gradebook('sqlite:///gradebook.db', 'ds101') as gb:\n"
                              "  for s in ('s-ada', 's-lin'):\n"
                              "    print(s, gb.find_submission('ps1', s).score)\"")  # fmt: skip
    assert scores.split() == ["s-ada", "1.0", "s-lin", "0.0"], scores

    # the formgrader runs in teachers' course servers only
    probe = (
        "python3 -c \"import os, urllib.request as u, urllib.error as e\n"
        "env = os.environ\n"
        "url = 'http://127.0.0.1:8888' + env['JUPYTERHUB_SERVICE_PREFIX'] + 'formgrader'\n"
        "req = u.Request(url, headers={'Authorization': 'token ' + env['JUPYTERHUB_API_TOKEN']})\n"
        "try: print(u.urlopen(req).status)\n"
        "except e.HTTPError as err: print(err.code)\""
    )  # fmt: skip
    assert room.ok(teacher, probe).strip() == "200"
    assert room.ok(ada, probe).strip() == "404"

    for box in (ada, lin):
        assert len(room.ok(box, f"ls -1 {exchange}/feedback").splitlines()) == 1  # their own
        room.ok(box, "nbgrader fetch_feedback ps1")
        assert room.ok(box, "ls ~/ps1/feedback/*/ps1.html").strip()


# -- deep linking ---------------------------------------------------------------------------------
def test_deep_link_request_of_a_learner_is_refused(classroom: Classroom) -> None:
    room = classroom
    attempt = Attempt(room.site.url)
    assert attempt.initiate(room.platform.login_initiation_url("s-dl")).status_code == 302
    form = room.platform.deep_link_token(attempt.auth_request, user_id="s-dl", roles=[LEARNER])
    r = attempt.callback(form)
    page = html.unescape(r.text)
    assert r.status_code == 403 and "only a teacher of the course may add VersaHub links" in page
    assert room.site.api("GET", "/users/s-dl").status_code == 404


def test_deep_linking_from_the_platform_to_a_launch(classroom: Classroom) -> None:
    """The platform asks for a link; a teacher picks the course and a notebook in a real
    browser; the platform verifies the signed answer with VersaHub's published keys; a
    student following the new link lands in the course server on that notebook."""
    from playwright.sync_api import sync_playwright

    room = classroom
    attempt = Attempt(room.site.url)
    assert attempt.initiate(room.platform.login_initiation_url("t-grace")).status_code == 302
    form = room.platform.deep_link_token(attempt.auth_request, user_id="t-grace",
                                         roles=[INSTRUCTOR])  # fmt: skip
    r = attempt.callback(form)
    assert r.status_code == 302, html.unescape(r.text)[:1500]
    picker = r.headers["Location"]
    assert picker.startswith("/hub/lti13/deep-link/"), picker
    # the choice page is the teacher's only: another user's session gets nothing
    other, _ = room.launch("s-nosy", [LEARNER])
    assert other.session.get(room.site.url + picker, timeout=20).status_code == 404

    before = len(room.platform.jwks.returns)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 760})
            context.add_cookies([
                {"name": c.name, "value": c.value or "", "domain": "127.0.0.1",
                 "path": c.path or "/"}
                for c in attempt.session.cookies
            ])  # fmt: skip
            page = context.new_page()
            page.goto(room.site.url + picker)
            assert page.locator("input[value='course:ds101']").count() == 1
            assert page.locator("input[value='course:old-course']").count() == 0  # archived
            page.check("input[value='course:ds101']")
            page.fill("#vh-path", "material/lesson1.ipynb")
            shot(page, "lti-deep-link")
            page.fill("#vh-path", "../../etc/passwd")
            page.click("#vh-deep-link-submit")
            assert "is not a path to open" in page.inner_text("#vh-deep-link-error")
            page.check("input[value='course:ds101']")
            page.fill("#vh-path", "material/lesson1.ipynb")
            page.click("#vh-deep-link-submit")
            page.wait_for_selector("#platform-done", timeout=20_000)
        finally:
            browser.close()
    assert len(room.platform.jwks.returns) == before + 1
    token = room.platform.jwks.returns[-1]["JWT"]
    claims = room.platform.verify_response(token)  # signature: the hub's published keys
    assert claims["iss"] == room.platform.client_id and claims["aud"] == room.platform.issuer
    assert claims[MESSAGE] == "LtiDeepLinkingResponse"
    assert claims[DEPLOYMENT] == room.platform.deployment_id
    assert claims[DL_DATA] == {"platform-state": "abc123"}
    (item,) = claims[DL_ITEMS]
    assert item["type"] == "ltiResourceLink" and item["title"] == "Data Science 101"
    assert item["custom"] == {"course": "ds101", "path": "material/lesson1.ipynb"}
    assert item["url"] == f"{room.site.url}/hub/"

    student, r = room.launch("s-kim", [LEARNER], custom=item["custom"])
    assert r.status_code == 302, html.unescape(r.text)[:1500]
    opened = r.headers["Location"]
    assert opened.startswith("/user/s-kim/ds101/git-pull?"), opened
    assert "urlpath=lab%2Ftree%2Fds101%2Fmaterial%2Flesson1.ipynb" in opened
    room.ready("s-kim", "ds101")
    page_r = student.session.get(room.site.url + opened, timeout=60)
    assert page_r.status_code == 200 and "/git-pull" in page_r.url
    pulled = student.session.get(page_r.url.replace("/git-pull?", "/git-pull/api?", 1), timeout=120)
    assert pulled.status_code == 200 and '"phase": "finished"' in pulled.text, pulled.text[-800:]
    box = room.container("s-kim", "ds101")
    assert room.sh(box, "test -f ~/ds101/material/lesson1.ipynb").returncode == 0
