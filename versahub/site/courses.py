"""Courses as data (pure): what ``versahub course`` records and what a course launch gets.

A course is a record — id, title, its environment (a ServerSpec), its material repository
(pulled with nbgitpuller), the LTI contexts bound to it, archived or not — kept by
:mod:`versahub.site.course_store` beside the site's state. Nothing of a course is
configuration of the hub: the one site object merges the records (:func:`with_courses`),
so adding, changing or archiving a course needs no restart.

What a course *means* is derived here, in one place:

- its shared volume ``course-<id>`` (teachers read-write, students read-only), one more
  entry of the site's volume catalogue, so OPA's storage rules and both backends treat it
  like any other volume;
- its groups ``<id>-teachers`` and ``<id>-students`` (LTI roles map to them at each launch);
- the server each role launches (:func:`course_spec`): the environment as the named server
  ``<id>``, the course volume at ``~/course`` (rw for teachers, ro for students), the
  material pulled by nbgitpuller into ``~/<id>/material``;
- what OPA needs to trust the course's own servers (:func:`courses_policy_data`): the
  ``spec_id`` of each role's server and the group allowed to launch it. A student who
  edits the spec gets another ``spec_id``, judged like any other launch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from versahub.errors import InputError, shorten
from versahub.site.lti import lti_endpoints
from versahub.spec import ServerSpec, parse_spec
from versahub.spec.paths import validate_ref, validate_urlpath

COURSE_ID = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]\Z")
TITLE_MAX = 200
ROLES = ("teacher", "student")
VOLUME_PREFIX = "course-"
COURSE_MOUNT = "course"  # ~/course in every course server
MATERIAL_FOLDER = "material"  # ~/<course id>/material
CONTEXT_MAX = 255
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*\Z")

# LTI roles (1.3 URIs and 1.1 short names) that make someone a teacher of the course.
TEACHER_ROLES = frozenset({
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator",
    "Instructor", "TeachingAssistant", "ContentDeveloper",
    "urn:lti:role:ims/lis/Instructor", "urn:lti:role:ims/lis/TeachingAssistant",
    "urn:lti:role:ims/lis/ContentDeveloper",
})  # fmt: skip
STUDENT_ROLES = frozenset({
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#Learner",
    "Learner", "Student", "urn:lti:role:ims/lis/Learner",
})  # fmt: skip


@dataclass(frozen=True)
class Context:
    """An LMS course bound to a VersaHub course: ``platform`` is the LTI 1.3 issuer or the
    LTI 1.1 consumer key, ``context_id`` the LMS's id of the course."""

    platform: str
    context_id: str

    def to_dict(self) -> dict[str, str]:
        return {"platform": self.platform, "context_id": self.context_id}


@dataclass(frozen=True)
class Course:
    """One course record (validated). ``environment`` is the canonical ServerSpec
    document (``config_dict()`` without ``server_name``)."""

    id: str
    title: str
    environment: Mapping[str, Any]
    material: Mapping[str, str] | None = None  # {"repo": clone URL, "branch": str}
    contexts: tuple[Context, ...] = ()
    archived: bool = False
    created_at: str = ""
    updated_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def volume(self) -> str:
        return volume_name(self.id)

    @property
    def groups(self) -> dict[str, str]:
        return {role: group_name(self.id, role) for role in ROLES}

    @property
    def nbgrader_course_id(self) -> str:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "environment": dict(self.environment),
            "material": dict(self.material) if self.material else None,
            "contexts": [c.to_dict() for c in self.contexts],
            "archived": self.archived,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def with_changes(self, **changes: Any) -> Course:
        return replace(self, **changes)


def volume_name(course_id: str) -> str:
    return f"{VOLUME_PREFIX}{course_id}"


def group_name(course_id: str, role: str) -> str:
    return f"{course_id}-{'teachers' if role == 'teacher' else 'students'}"


def validate_course_id(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not COURSE_ID.match(value):
        raise InputError(
            field_name,
            f"{shorten(value)} is not a course id (2-32 characters: lowercase letters, digits "
            "and '-', starting with a letter, not ending with '-')",
        )
    return value


def validate_title(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(field_name, "must be a non-empty text")
    if len(value) > TITLE_MAX or not _PRINTABLE.match(value):
        raise InputError(field_name, f"must be at most {TITLE_MAX} printable characters")
    return value.strip()


def environment_document(raw: Any, field_name: str = "environment") -> dict[str, Any]:
    """The environment of a course: a ServerSpec mapping (or parsed launch URL) checked by
    the spec parser, without a server name (the course id is the server's name)."""
    if isinstance(raw, ServerSpec):
        spec = raw
    else:
        if not isinstance(raw, Mapping):
            raise InputError(field_name, "must be a ServerSpec mapping")
        try:
            spec = parse_spec(dict(raw))
        except InputError as err:
            raise InputError(f"{field_name}.{err.field}", err.reason) from None
    doc = spec.config_dict()
    if doc.get("server_name"):
        raise InputError(f"{field_name}.server_name", "is the course id; leave it out")
    if doc["collaborators"] or doc["public_readonly"] or doc["credentials"]:
        raise InputError(
            field_name,
            "a course environment cannot have collaborators, public read-only access or "
            "credentials (each student's server is their own)",
        )
    if any(m["volume"].startswith(VOLUME_PREFIX) for m in doc["mounts"]):
        raise InputError(f"{field_name}.mounts", "the course volume is mounted by the course")
    doc.pop("server_name", None)
    return doc


def material_document(repo: Any, branch: Any, field_name: str = "material") -> dict[str, str]:
    """The material repository: a git clone URL (checked like a spec's repo) and a branch
    (nbgitpuller follows a branch; empty means the repository's default branch)."""
    try:
        spec = parse_spec({"repo": repo, "ref": branch or "HEAD"})
    except InputError as err:
        raise InputError(f"{field_name}.{err.field}", err.reason) from None
    if spec.provider not in ("git", "gh", "gl"):
        raise InputError(f"{field_name}.repo", "must be a git repository (nbgitpuller clones it)")
    if branch:
        validate_ref(f"{field_name}.branch", branch)
        if re.fullmatch(r"[0-9a-f]{7,40}", branch):
            raise InputError(
                f"{field_name}.branch", "must be a branch (nbgitpuller follows a branch)"
            )
    return {"repo": spec.repo, "branch": branch or ""}


def context_of(platform: Any, context_id: Any, field_name: str = "contexts") -> Context:
    for name, value in (("platform", platform), ("context_id", context_id)):
        if not isinstance(value, str) or not value or len(value) > CONTEXT_MAX:
            raise InputError(f"{field_name}.{name}", f"must be 1-{CONTEXT_MAX} characters")
        if not _PRINTABLE.match(value) or value != value.strip():
            raise InputError(f"{field_name}.{name}", f"{shorten(value)} has controls or spaces")
    return Context(platform, context_id)


def course_from_dict(raw: Any, field_name: str = "course") -> Course:
    """A stored record back into a :class:`Course` (every field validated again)."""
    if not isinstance(raw, Mapping):
        raise InputError(field_name, "must be a mapping")
    cid = validate_course_id(f"{field_name}.id", raw.get("id"))
    where = f"courses.{cid}"
    material = raw.get("material")
    contexts = raw.get("contexts") or []
    if not isinstance(contexts, list):
        raise InputError(f"{where}.contexts", "must be a list")
    return Course(
        id=cid,
        title=validate_title(f"{where}.title", raw.get("title")),
        environment=environment_document(raw.get("environment"), f"{where}.environment"),
        material=(
            material_document(material.get("repo"), material.get("branch"), f"{where}.material")
            if isinstance(material, Mapping) else None
        ),
        contexts=tuple(
            context_of(c.get("platform"), c.get("context_id"), f"{where}.contexts[{i}]")
            if isinstance(c, Mapping) else context_of(None, None, f"{where}.contexts[{i}]")
            for i, c in enumerate(contexts)
        ),
        archived=bool(raw.get("archived", False)),
        created_at=str(raw.get("created_at") or ""),
        updated_at=str(raw.get("updated_at") or ""),
    )  # fmt: skip


# -- what a course means for the site --------------------------------------------------------
def course_volumes(courses: Iterable[Course]) -> dict[str, dict[str, Any]]:
    """One shared volume per course: teachers write, teachers and students read."""
    return {
        c.volume: {
            "kind": "shared",
            "description": f"Course {c.title}",
            "read": {"users": [], "groups": [c.groups["teacher"], c.groups["student"]]},
            "write": {"users": [], "groups": [c.groups["teacher"]]},
        }
        for c in courses
    }


def check_against_site(courses: Iterable[Course], volumes: Mapping[str, Any]) -> None:
    """A course may not take the name of a volume site.yaml declares."""
    for course in courses:
        if course.volume in volumes:
            raise InputError(
                f"courses.{course.id}",
                f"site.yaml already has a volume called {course.volume!r}",
            )


def material_urlpath(course: Course, open_path: str = "") -> str:
    """What a course server opens (relative to the server): with material, the nbgitpuller
    link that pulls it into ``<id>/material`` and then opens ``open_path`` (a path inside
    ``~/<id>``; default the material folder); without, ``open_path`` or the environment's
    urlpath."""
    target = f"{course.id}/{MATERIAL_FOLDER}"
    opened = f"lab/tree/{course.id}/{open_path}" if open_path else f"lab/tree/{target}"
    if not course.material:
        return opened if open_path else str(course.environment.get("urlpath") or "")
    query = {"repo": course.material["repo"]}
    if course.material.get("branch"):
        query["branch"] = course.material["branch"]
    query["targetpath"] = target
    query["urlpath"] = opened
    return "git-pull?" + urlencode(query)


def validate_open_path(field_name: str, value: Any) -> str:
    """A notebook or folder to open, relative to the server's project folder (a deep
    link's ``path``): no ``..``, no query, no absolute path."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise InputError(field_name, "must be a relative path of at most 500 characters")
    if value.startswith("/") or "?" in value or "#" in value:
        raise InputError(field_name, f"{shorten(value)} must be a path inside the project folder")
    try:
        return validate_urlpath(field_name, f"lab/tree/x/{value}")[len("lab/tree/x/") :]
    except InputError as err:
        why = err.reason.split(":")[0]
        raise InputError(field_name, f"{shorten(value)} is not a path to open ({why})") from None


def course_spec(course: Course, role: str, home: str = "/home/jovyan") -> ServerSpec:
    """The server ``role`` launches for ``course`` (the same spec every time, so the same
    ``spec_id`` OPA trusts)."""
    if role not in ROLES:
        raise InputError("role", f"must be one of {', '.join(ROLES)}")
    doc = dict(course.environment)
    doc["server_name"] = course.id
    doc["mounts"] = [
        *doc.get("mounts", []),
        {"volume": course.volume, "path": f"{home}/{COURSE_MOUNT}",
         "mode": "rw" if role == "teacher" else "ro"},
    ]  # fmt: skip
    doc["urlpath"] = material_urlpath(course)
    return parse_spec(doc)


def courses_policy_data(courses: Iterable[Course]) -> dict[str, Any]:
    """``data.versahub.site.courses``: per live course, each role's trusted ``spec_id`` and
    the group whose members it is trusted for. Archived courses are left out (trust ends)."""
    out: dict[str, Any] = {}
    for course in courses:
        if course.archived:
            continue
        out[course.id] = {
            "roles": {
                role: {"spec_id": course_spec(course, role).spec_id, "group": course.groups[role]}
                for role in ROLES
            }
        }
    return out


# -- LTI launches -----------------------------------------------------------------------------
def role_of(roles: Iterable[str]) -> str | None:
    """``teacher`` when any LTI role is a teaching one, ``student`` for a learner, else None."""
    names = {str(r).strip() for r in roles}
    if names & TEACHER_ROLES:
        return "teacher"
    if names & STUDENT_ROLES:
        return "student"
    return None


def find_course(
    courses: Mapping[str, Course], *, named: str | None, platform: str | None,
    context_id: str | None,
) -> Course:  # fmt: skip
    """The course an LTI launch names: its custom parameter ``course`` first, else a
    context bound to a course. Raises ``InputError`` (field ``course``) when none, unknown
    or archived."""
    if named:
        course = courses.get(named)
        if course is None:
            raise InputError("course", f"{shorten(named)} is not a course of this hub")
    else:
        bound = [
            c for c in courses.values()
            if any(x.platform == platform and x.context_id == context_id for x in c.contexts)
        ]  # fmt: skip
        if not bound:
            raise InputError(
                "course",
                "the launch names no course (set the custom parameter course=<id> on the "
                "link, or bind the LMS course with `versahub course update --lti-context`)",
            )
        course = bound[0]
    if course.archived:
        raise InputError("course", f"{course.id!r} is archived")
    return course


def lti_groups(current: Iterable[str], course: Course, role: str) -> list[str]:
    """The user's groups after a launch of ``course`` as ``role``: this course's role group
    replaces the other one, every other group is kept."""
    mine = set(course.groups.values())
    return sorted({g for g in current if g not in mine} | {course.groups[role]})


def lms_settings(course: Course, hub_url: str) -> dict[str, dict[str, str]]:
    """What a teacher or LMS administrator pastes into the LMS for this course, for both
    LTI versions: the site's tool endpoints plus the custom parameter naming the course."""
    out: dict[str, dict[str, str]] = {}
    for kind, label in (("lti13", "LTI 1.3"), ("lti11", "LTI 1.1")):
        out[label] = {**lti_endpoints(hub_url, kind), "custom parameters": f"course={course.id}"}
    return out
