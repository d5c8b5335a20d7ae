"""Courses as data: the record, what a course means (volume, groups, servers, OPA trust),
the store, the site object's reload, the command line and the LTI claim readers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from versahub.cli import main
from versahub.errors import InputError
from versahub.hub.lti import course_claims11, course_claims13
from versahub.site.config import load_site
from versahub.site.course_store import change_courses, read_courses
from versahub.site.courses import (
    Context,
    Course,
    course_spec,
    course_volumes,
    courses_policy_data,
    environment_document,
    find_course,
    lti_groups,
    material_document,
    role_of,
    validate_course_id,
)
from versahub.site.source import SiteFile

REPO = "https://github.com/binder-examples/requirements"
ENV = {"repo": REPO, "ref": "main", "internet": True}
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def course(cid: str = "ds101", **changes: Any) -> Course:
    base = Course(
        id=cid,
        title="Data Science 101",
        environment=environment_document(ENV),
        material=material_document("https://github.com/org/material", "main"),
    )
    return base.with_changes(**changes) if changes else base


# -- the record ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", ["ds101", "ab", "physics-2026-spring", "a" * 32])
def test_course_ids_accepted(cid: str) -> None:
    assert validate_course_id("ID", cid) == cid


@pytest.mark.parametrize(
    "cid",
    ["", "a", "DS101", "1ds", "-ds", "ds-", "ds_101", "ds.101", "../etc", "ds 101", "a" * 33,
     "dś101", "ds\n101", None, 101],
)  # fmt: skip
def test_course_ids_refused(cid: Any) -> None:
    with pytest.raises(InputError) as err:
        validate_course_id("ID", cid)
    assert err.value.field == "ID"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({**ENV, "collaborators": ["bob"]}, "environment"),
        ({**ENV, "credentials": True}, "environment"),
        ({**ENV, "public_readonly": True}, "environment"),
        ({**ENV, "server_name": "x"}, "environment.server_name"),
        ({**ENV, "mounts": [{"volume": "course-x", "path": "/data", "mode": "ro"}]},
         "environment.mounts"),
        ({**ENV, "repo": "file:///etc"}, "environment.repo"),
        ("not a mapping", "environment"),
    ],
)  # fmt: skip
def test_environment_refusals_name_the_field(env: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        environment_document(env)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("repo", "branch", "field"),
    [
        ("file:///srv/git/material", "", "material.repo"),
        ("ssh://git@example.org/m.git", "", "material.repo"),
        ("zenodo:10.5281/zenodo.1", "", "material.repo"),
        ("https://github.com/org/m", "0123456789abcdef0123456789abcdef01234567", "material.branch"),
        ("https://github.com/org/m", "main..evil", "material.ref"),
        ("https://github.com/org/m", "-upload-pack=x", "material.ref"),
    ],
)
def test_material_refusals(repo: str, branch: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        material_document(repo, branch)
    assert err.value.field == field


def test_course_record_round_trips_and_is_validated_again(tmp_path: Path) -> None:
    path = tmp_path / "courses.json"
    c = course(contexts=(Context("https://lms.example.org", "42"),))
    change_courses(path, lambda courses: {**courses, c.id: c})
    assert read_courses(path) == {"ds101": c}
    doc = json.loads(path.read_text())
    doc["courses"]["ds101"]["environment"]["ref"] = "main..x"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        read_courses(path)
    assert err.value.field == "courses.json: courses.ds101.environment.ref"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{", "courses.json"),
        ('{"version": 2, "courses": {}}', "courses.json: version"),
        ('{"version": 1, "courses": []}', "courses.json: courses"),
        ('{"version": 1, "courses": {"x": 1}}', "courses.json: courses.x"),
        ('{"version": 1, "courses": {"x": {"id": "y"}}}', "courses.json: courses.x.id"),
    ],
)
def test_broken_store_is_refused_naming_where(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "courses.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_courses(path)
    assert err.value.field == field


def test_refused_change_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "courses.json"
    change_courses(path, lambda courses: {"ds101": course()})
    before = path.read_bytes()

    def refuse(courses: dict[str, Course]) -> dict[str, Course]:
        raise InputError("ID", "no")

    with pytest.raises(InputError):
        change_courses(path, refuse)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- what a course means ---------------------------------------------------------------------------
def test_course_servers_by_role() -> None:
    c = course()
    teacher, student = course_spec(c, "teacher"), course_spec(c, "student")
    assert teacher.server_name == student.server_name == "ds101"
    assert [m.to_dict() for m in teacher.mounts] == [
        {"volume": "course-ds101", "path": "/home/jovyan/course", "mode": "rw"}
    ]
    assert [m.mode for m in student.mounts] == ["ro"]
    assert teacher.spec_id != student.spec_id
    assert course_spec(c, "student").spec_id == student.spec_id  # stable
    url = urlsplit(student.urlpath)
    assert url.path == "git-pull"
    assert parse_qs(url.query) == {
        "repo": ["https://github.com/org/material"],
        "branch": ["main"],
        "targetpath": ["ds101/material"],
        "urlpath": ["lab/tree/ds101/material"],
    }
    with pytest.raises(InputError):
        course_spec(c, "admin")


def test_course_volume_and_policy_data() -> None:
    live, old = course(), course("old-one", archived=True)
    assert course_volumes([live])["course-ds101"] == {
        "kind": "shared",
        "description": "Course Data Science 101",
        "read": {"users": [], "groups": ["ds101-teachers", "ds101-students"]},
        "write": {"users": [], "groups": ["ds101-teachers"]},
    }
    data = courses_policy_data([live, old])
    assert list(data) == ["ds101"]  # an archived course is trusted no more
    assert data["ds101"]["roles"]["student"] == {
        "spec_id": course_spec(live, "student").spec_id, "group": "ds101-students",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        ([INSTRUCTOR], "teacher"),
        ([LEARNER], "student"),
        ([LEARNER, INSTRUCTOR], "teacher"),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
         "teacher"),
        (["Instructor"], "teacher"),
        (["Learner"], "student"),
        (["urn:lti:role:ims/lis/Learner"], "student"),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"], None),
        ([], None),
    ],
)  # fmt: skip
def test_role_mapping(roles: list[str], role: str | None) -> None:
    assert role_of(roles) == role


def test_finding_the_course_of_a_launch() -> None:
    bound = course("ds102", contexts=(Context("https://lms", "ctx-2"),))
    courses = {"ds101": course(), "ds102": bound, "old": course("old", archived=True)}
    assert find_course(courses, named="ds101", platform=None, context_id=None).id == "ds101"
    assert (
        find_course(courses, named=None, platform="https://lms", context_id="ctx-2").id == "ds102"
    )
    for named, platform, context, reason in [
        ("nope", None, None, "'nope' is not a course of this hub"),
        ("old", None, None, "'old' is archived"),
        (None, "https://lms", "ctx-9", "the launch names no course"),
        (None, "https://other", "ctx-2", "the launch names no course"),
    ]:
        with pytest.raises(InputError) as err:
            find_course(courses, named=named, platform=platform, context_id=context)
        assert err.value.field == "course" and reason in err.value.reason


def test_groups_after_a_launch_keep_other_courses() -> None:
    c = course()
    assert lti_groups(["ds101-teachers", "ds102-students", "staff"], c, "student") == [
        "ds101-students", "ds102-students", "staff",
    ]  # fmt: skip


def test_claims_of_hostile_shapes_name_nothing() -> None:
    claims = course_claims13({
        "iss": 5,
        "https://purl.imsglobal.org/spec/lti/claim/custom": ["course"],
        "https://purl.imsglobal.org/spec/lti/claim/context": "ctx",
        "https://purl.imsglobal.org/spec/lti/claim/roles": "Instructor",
    })  # fmt: skip
    assert (claims.named, claims.platform, claims.context_id, claims.roles) == (
        None, None, None, ()
    )  # fmt: skip
    eleven = course_claims11({"custom_course": "ds101", "roles": "Learner, Instructor ,",
                              "oauth_consumer_key": "k", "context_id": "c"})  # fmt: skip
    assert eleven.roles == ("Learner", "Instructor") and eleven.named == "ds101"


# -- the site object and the command line ----------------------------------------------------------
def site_file(tmp_path: Path, **doc: Any) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"state_dir": "state", "hub": {"url": "https://hub.example.org"},
                                    **doc}))  # fmt: skip
    return path


def env_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({**ENV, **fields}))
    return path


class Run:
    """``versahub …`` as the command line runs it: (exit status, stdout + stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str]:
        code = main(list(args))
        out = self.capsys.readouterr()
        return code, out.out + out.err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def test_course_create_prints_the_lms_settings_and_refreshes_opa_data(
    tmp_path: Path, run: Run
) -> None:
    site = site_file(tmp_path)
    opa_data = tmp_path / "state" / "opa-data"
    opa_data.mkdir(parents=True)
    r = run("course", "create", "ds101", "--title", "Data Science 101", "--environment",
            str(env_file(tmp_path)), "--material", "https://github.com/org/m", "--ref", "main",
            "--site", str(site))  # fmt: skip
    assert r[0] == 0, r[1]
    assert "custom parameters            course=ds101" in r[1]
    assert "https://hub.example.org/hub/lti13/oauth_login" in r[1]
    assert "https://hub.example.org/hub/lti/launch" in r[1]
    data = json.loads((opa_data / "versahub" / "site" / "data.json").read_text())
    assert "course-ds101" in data["volumes"]
    assert set(data["courses"]["ds101"]["roles"]) == {"teacher", "student"}
    shown = json.loads(run("course", "show", "ds101", "--json", "--site", str(site))[1])
    assert shown["spec_ids"]["student"] == data["courses"]["ds101"]["roles"]["student"]["spec_id"]
    assert run("course", "archive", "ds101", "--site", str(site))[0] == 0
    data = json.loads((opa_data / "versahub" / "site" / "data.json").read_text())
    assert data["courses"] == {}  # trust ends with the course
    assert "course-ds101" in data["volumes"]  # its files stay reachable for existing servers
    assert "archived" in run("course", "list", "--all", "--site", str(site))[1]
    assert "ds101" not in run("course", "list", "--site", str(site))[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "DS"], "ID: 'DS' is not a course id"),
        (["create", "ds1", "--ref", "main"], "--ref: is the branch of --material"),
        (["create", "ds1", "--material", "file:///etc"], "--material.repo:"),
        (["create", "home-x", "--title", " "], "--title: must be a non-empty text"),
        (["update", "nope", "--title", "x"], "ID: 'nope' is not a course of this site"),
        (["update", "ds101"], "ID: nothing to change"),
        (["update", "ds101", "--no-material", "--ref", "x"], "--no-material: cannot be combined"),
        (["create", "ds101"], "ID: 'ds101' exists already"),
        (["create", "taken"], "site.yaml already has a volume called 'course-taken'"),
        (["create", "ds9", "--lti-context", "https://lms", " bad"], "has controls or spaces"),
    ],
)
def test_course_command_refusals_write_nothing(
    tmp_path: Path, args: list[str], message: str, run: Run
) -> None:
    site = site_file(tmp_path, volumes={
        "course-taken": {"kind": "shared"}, "home": {"kind": "home"}})  # fmt: skip
    env = str(env_file(tmp_path))
    assert run("course", "create", "ds101", "--title", "T", "--environment", env,
               "--site", str(site))[0] == 0  # fmt: skip
    store = tmp_path / "state" / "courses.json"
    before = store.read_bytes()
    if args[0] == "create" and "--title" not in args:
        args = [*args, "--title", "T"]
    if args[0] == "create":
        args = [*args, "--environment", env]
    code, output = run("course", *args, "--site", str(site))
    assert code == 2, output
    assert message in output, output
    assert store.read_bytes() == before


def test_material_needs_internet_in_the_environment(tmp_path: Path, run: Run) -> None:
    site = site_file(tmp_path)
    code, output = run("course", "create", "ds101", "--title", "T", "--environment",
                       str(env_file(tmp_path, internet=False)), "--material",
                       "https://github.com/org/m", "--site", str(site))  # fmt: skip
    assert code == 2 and "--material: the environment has internet off" in output
    assert not (tmp_path / "state" / "courses.json").exists()


def test_running_site_sees_course_changes_without_a_restart(tmp_path: Path) -> None:
    path = site_file(tmp_path)
    source = SiteFile(path.resolve())
    assert source.current().courses == {}
    store = tmp_path / "state" / "courses.json"
    change_courses(store, lambda c: {"ds101": course()})
    site = source.current()
    assert list(site.courses) == ["ds101"]
    assert "course-ds101" in site.volumes
    assert site.policy_data()["courses"]["ds101"]
    # a broken edit keeps the last valid courses, and says why
    store.write_text("{broken")
    os.utime(store, ns=(1, 1))
    assert list(source.current().courses) == ["ds101"]
    assert source.error is not None and "courses.json" in source.error
    change_courses(store.with_name("unused.json"), lambda c: c)
    store.write_text(json.dumps({"version": 1, "courses": {}}))
    assert source.current().courses == {}
    assert load_site(path).without_courses().volumes == load_site(path).volumes


# -- the course server's plan: the nbgrader exchange ----------------------------------------------
def course_site(tmp_path: Path) -> Any:
    path = site_file(tmp_path)
    change_courses(tmp_path / "state" / "courses.json", lambda c: {"ds101": course()})
    return load_site(path)


def plan_of(spec: Any, site: Any, owner: str, **kw: Any) -> Any:
    from versahub.launch.plan import Layout, make_plan

    class Allowed:
        allowed = True

    return make_plan(spec, site, Allowed(), owner=owner, image="img", layout=Layout("/s"), **kw)


def test_course_servers_get_the_exchange_of_their_role_only(tmp_path: Path) -> None:
    site = course_site(tmp_path)
    c = site.courses["ds101"]
    teacher = plan_of(course_spec(c, "teacher"), site, "grace")
    student = plan_of(course_spec(c, "student"), site, "ada")
    ex = "/s/volumes/exchange/ds101"

    def rows(plan: Any) -> list[tuple[str, str, bool]]:
        return [(m.source, m.target, m.read_only) for m in plan.mounts if "exchange" in m.source]

    assert rows(teacher) == [
        (f"{ex}/course", "/home/jovyan/grading", False),
        (f"{ex}/exchange", "/srv/nbgrader/exchange/ds101", False),
    ]
    assert rows(student) == [
        (f"{ex}/exchange/students/ada/feedback", "/srv/nbgrader/exchange/ds101/feedback", True),
        (f"{ex}/exchange/students/ada/inbound", "/srv/nbgrader/exchange/ds101/inbound", False),
        (f"{ex}/exchange/outbound", "/srv/nbgrader/exchange/ds101/outbound", True),
    ]
    assert student.environment["VERSAHUB_COURSE"] == "ds101"
    assert student.environment["VERSAHUB_COURSE_ROLE"] == "student"
    assert teacher.environment["VERSAHUB_COURSE_ROLE"] == "teacher"
    # a changed spec, a public copy, an archived course: no exchange, no course settings
    changed = course_spec(c, "student").with_server_name("ds101")
    changed = type(changed).from_dict({**changed.config_dict(), "internet": False})
    for plan in (
        plan_of(changed, site, "ada"),
        plan_of(course_spec(c, "student"), site, "ada", public=True),
        plan_of(course_spec(c, "student"), site.with_courses({"ds101": c.with_changes(
            archived=True)}), "ada"),
    ):  # fmt: skip
        assert rows(plan) == [] and "VERSAHUB_COURSE" not in plan.environment
