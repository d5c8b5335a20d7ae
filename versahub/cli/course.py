"""``versahub course create|update|list|show|archive``: the site's courses, as data.

A course is a record in ``<state_dir>/courses.json`` (``versahub.site.course_store``); the
running hub reads it through its site object at the next launch, so nothing here restarts
anything. When OPA's data folder of a site started on this machine exists
(``<state_dir>/opa-data``), the policy data is written again at once (OPA's ``--watch``
loads it), so the course's servers are trusted for its members from the next launch.

Every change is validated in full — the record, the environment (the spec parser and the
site's volumes), the material repository, the site's volume names — before anything is
written; a refused change writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click

from versahub.app.hubconfig import HubPaths
from versahub.cli.site import site_option
from versahub.cli.spec import load_spec
from versahub.errors import InputError
from versahub.policy.data import write_site_data
from versahub.site.config import Site, load_site
from versahub.site.course_store import change_courses
from versahub.site.courses import (
    COURSE_MOUNT,
    MATERIAL_FOLDER,
    Course,
    context_of,
    course_spec,
    environment_document,
    lms_settings,
    material_document,
    validate_course_id,
    validate_title,
)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _environment(source: str, site: Site) -> dict[str, Any]:
    try:
        spec = load_spec(source, volumes=list(site.without_courses().volumes))
    except InputError as err:
        raise InputError(f"--environment: {err.field}", err.reason) from None
    try:
        return environment_document(spec)
    except InputError as err:
        raise InputError(f"--environment: {err.field}", err.reason) from None


def _check(course: Course, site: Site) -> None:
    """What a record alone cannot say: material needs internet in the environment."""
    if course.material and not course.environment.get("internet", True):
        raise InputError(
            "--material",
            "the environment has internet off, but nbgitpuller pulls the material from "
            "inside the server; turn internet on in the environment or drop --material",
        )
    for role in ("teacher", "student"):
        course_spec(course, role)  # the servers must parse (urlpath length, mounts)


def _save(site: Site, change: Any) -> dict[str, Course]:
    """Apply ``change`` to the records, validate the site with them, write, then refresh
    OPA's data when the site runs on this machine."""

    def checked(courses: dict[str, Course]) -> dict[str, Course]:
        new = change(courses)
        for course in new.values():
            _check(course, site)
        site.without_courses().with_courses(new)  # volume names against site.yaml's
        return new

    courses = change_courses(site.courses_file, checked)
    opa_data = HubPaths(site.state_dir).opa_data
    if opa_data.is_dir():
        write_site_data(site.without_courses().with_courses(courses).policy_data(), opa_data)
    return courses


def _describe(course: Course, site: Site) -> dict[str, Any]:
    return {
        **course.to_dict(),
        "volume": course.volume,
        "groups": course.groups,
        "server_name": course.id,
        "mounts": {
            "course volume": f"~/{COURSE_MOUNT}",
            "material": f"~/{course.id}/{MATERIAL_FOLDER}",
        },
        "nbgrader_course_id": course.nbgrader_course_id,
        "spec_ids": {r: course_spec(course, r).spec_id for r in ("teacher", "student")},
        "lms": lms_settings(course, site.hub_url),
    }


def _print(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    state = "archived" if doc["archived"] else "live"
    env = doc["environment"]
    click.echo(f"course {doc['id']}: {doc['title']} ({state})")
    click.echo(f"  environment  {env['repo']} @ {env['ref']}")
    material = doc["material"]
    if material:
        branch = f" @ {material['branch']}" if material["branch"] else ""
        click.echo(f"  material     {material['repo']}{branch} → {doc['mounts']['material']}")
    click.echo(f"  volume       {doc['volume']} at {doc['mounts']['course volume']} "
               "(teachers read-write, students read-only)")  # fmt: skip
    click.echo(f"  groups       {doc['groups']['teacher']}, {doc['groups']['student']}")
    click.echo(f"  server       {doc['server_name']} (nbgrader course {doc['nbgrader_course_id']})")
    for context in doc["contexts"]:
        click.echo(f"  LMS course   {context['platform']} {context['context_id']}")
    for version, fields in doc["lms"].items():
        click.echo(f"  {version}:")
        for name, value in fields.items():
            click.echo(f"    {name:<28} {value}")


@click.group("course")
def course_group() -> None:
    """Courses for LTI launches: environment, shared volume, material."""


_env_option = click.option(
    "--environment", metavar="URL|FILE", help="The course environment: a launch URL or a spec file."
)
_material_option = click.option("--material", metavar="GIT_URL", help="Material repository.")
_ref_option = click.option(
    "--ref", metavar="BRANCH", default=None, help="Branch of the material (default: its default)."
)
_context_option = click.option(
    "--lti-context",
    "contexts",
    nargs=2,
    multiple=True,
    metavar="PLATFORM CONTEXT_ID",
    help="Bind an LMS course: the LTI 1.3 issuer (or LTI 1.1 consumer key) and its context id.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@course_group.command("create")
@click.argument("course_id", metavar="ID")
@click.option("--title", required=True, help="The course's title.")
@click.option("--environment", required=True, metavar="URL|FILE",
              help="The course environment: a launch URL or a spec file.")  # fmt: skip
@_material_option
@_ref_option
@_context_option
@site_option
@_json_option
def create_command(
    course_id: str, title: str, environment: str, material: str | None, ref: str | None,
    contexts: tuple[tuple[str, str], ...], site_file: Path, as_json: bool,
) -> int:  # fmt: skip
    """Record a new course and print what to paste into the LMS."""
    site = load_site(site_file)
    cid = validate_course_id("ID", course_id)
    if ref is not None and material is None:
        raise InputError("--ref", "is the branch of --material, which is missing")
    now = _now()
    course = Course(
        id=cid,
        title=validate_title("--title", title),
        environment=_environment(environment, site),
        material=material_document(material, ref, "--material") if material else None,
        contexts=tuple(context_of(p, c, "--lti-context") for p, c in contexts),
        created_at=now,
        updated_at=now,
    )

    def add(courses: dict[str, Course]) -> dict[str, Course]:
        if cid in courses:
            raise InputError("ID", f"{cid!r} exists already (use `versahub course update`)")
        return {**courses, cid: course}

    _save(site, add)
    _print(_describe(course, site), as_json)
    return 0


@course_group.command("update")
@click.argument("course_id", metavar="ID")
@click.option("--title", default=None, help="A new title.")
@_env_option
@_material_option
@_ref_option
@click.option("--no-material", is_flag=True, help="Drop the material repository.")
@_context_option
@click.option("--no-contexts", is_flag=True, help="Unbind every LMS course first.")
@click.option("--unarchive", is_flag=True, help="Make an archived course live again.")
@site_option
@_json_option
def update_command(
    course_id: str, title: str | None, environment: str | None, material: str | None,
    ref: str | None, no_material: bool, contexts: tuple[tuple[str, str], ...],
    no_contexts: bool, unarchive: bool, site_file: Path, as_json: bool,
) -> int:  # fmt: skip
    """Change a course; running servers keep their configuration until they start again."""
    site = load_site(site_file)
    cid = validate_course_id("ID", course_id)
    if no_material and (material or ref):
        raise InputError("--no-material", "cannot be combined with --material or --ref")
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = validate_title("--title", title)
    if environment is not None:
        changes["environment"] = _environment(environment, site)
    new_contexts = tuple(context_of(p, c, "--lti-context") for p, c in contexts)
    done: list[Course] = []

    def update(courses: dict[str, Course]) -> dict[str, Course]:
        old = courses.get(cid)
        if old is None:
            raise InputError("ID", f"{cid!r} is not a course of this site")
        values = dict(changes)
        if no_material:
            values["material"] = None
        elif material is not None:
            values["material"] = material_document(material, ref, "--material")
        elif ref is not None:
            if not old.material:
                raise InputError("--ref", "the course has no material (give --material)")
            values["material"] = material_document(old.material["repo"], ref, "--ref")
        kept = () if no_contexts else old.contexts
        if new_contexts or no_contexts:
            values["contexts"] = tuple(dict.fromkeys((*kept, *new_contexts)))
        if unarchive:
            values["archived"] = False
        if not values:
            raise InputError("ID", "nothing to change (see `versahub course update --help`)")
        course = old.with_changes(**values, updated_at=_now())
        done.append(course)
        return {**courses, cid: course}

    _save(site, update)
    _print(_describe(done[-1], site), as_json)
    return 0


@course_group.command("archive")
@click.argument("course_id", metavar="ID")
@site_option
def archive_command(course_id: str, site_file: Path) -> int:
    """Archive a course: its launches are refused; its volume and servers are kept."""
    site = load_site(site_file)
    cid = validate_course_id("ID", course_id)

    def archive(courses: dict[str, Course]) -> dict[str, Course]:
        old = courses.get(cid)
        if old is None:
            raise InputError("ID", f"{cid!r} is not a course of this site")
        return {**courses, cid: old.with_changes(archived=True, updated_at=_now())}

    _save(site, archive)
    click.echo(f"course {cid} archived: LTI launches of it are refused from now on")
    return 0


@course_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include archived courses.")
@site_option
@_json_option
def list_command(show_all: bool, site_file: Path, as_json: bool) -> int:
    """List the site's courses."""
    site = load_site(site_file)
    courses = [c for c in site.courses.values() if show_all or not c.archived]
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in courses], indent=2, sort_keys=True))
        return 0
    if not courses:
        click.echo("no courses (create one with `versahub course create`)")
    for course in sorted(courses, key=lambda c: c.id):
        flag = " (archived)" if course.archived else ""
        click.echo(f"{course.id:<24} {course.title}{flag}")
    return 0


@course_group.command("show")
@click.argument("course_id", metavar="ID")
@site_option
@_json_option
def show_command(course_id: str, site_file: Path, as_json: bool) -> int:
    """Show a course and what to paste into the LMS."""
    site = load_site(site_file)
    cid = validate_course_id("ID", course_id)
    course = site.courses.get(cid)
    if course is None:
        raise InputError("ID", f"{cid!r} is not a course of this site")
    _print(_describe(course, site), as_json)
    return 0
