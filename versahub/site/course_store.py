"""The course records of a site: ``<state_dir>/courses.json`` (thin I/O around
:mod:`versahub.site.courses`).

One JSON document ``{"version": 1, "courses": {id: record}}``, replaced atomically under
a lock (``versahub.util.files``) so a hub reading it never sees half a file and two
``versahub course`` commands never lose each other's change. The hub never writes it; it
reads it through the one site object (``versahub.site.source``), keyed on the file's
mtime, so a change is live at the next launch without a restart. Records are validated
again on every read: a hand-edited file with a bad record is refused, naming the record
and the field, and nothing is written over it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from versahub.errors import InputError
from versahub.site.courses import Course, course_from_dict
from versahub.util.files import atomic_write, locked

FILE_NAME = "courses.json"
VERSION = 1
MAX_BYTES = 5_000_000


def courses_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / FILE_NAME


def file_key(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is replaced (``None``: no file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_courses(path: Path) -> dict[str, Course]:
    """The records of ``path`` (none when it does not exist); ``InputError`` when invalid."""
    origin = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(origin, f"is larger than {MAX_BYTES} bytes")
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(origin, f"cannot read {str(path)!r}: {err}") from None
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise InputError(origin, f"is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise InputError(f"{origin}: version", f"must be {VERSION}")
    records = doc.get("courses")
    if not isinstance(records, dict):
        raise InputError(f"{origin}: courses", "must be a mapping of course id to record")
    courses: dict[str, Course] = {}
    for key, raw in records.items():
        try:
            course = course_from_dict(raw, f"courses.{key}")
        except InputError as err:
            raise InputError(f"{origin}: {err.field}", err.reason) from None
        if course.id != key:
            raise InputError(f"{origin}: courses.{key}.id", f"differs from its key ({course.id})")
        courses[key] = course
    return courses


def _dump(courses: dict[str, Course]) -> str:
    doc = {"version": VERSION, "courses": {k: c.to_dict() for k, c in sorted(courses.items())}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def change_courses(
    path: Path, change: Callable[[dict[str, Course]], dict[str, Course]]
) -> dict[str, Course]:
    """Read, apply ``change`` (which raises ``InputError`` to refuse) and write back, under
    the file's lock; nothing is written when ``change`` refuses. Returns the new records."""
    with locked(path):
        courses = read_courses(path)
        new = change(dict(courses))
        if new != courses:
            atomic_write(path, _dump(new), mode=0o644, dir_mode=0o755)
        return new
