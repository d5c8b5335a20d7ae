"""VersaHub's nbgrader exchange for teachers (installed in the base image).

Every notebook container runs as the same uid, so nbgrader's unix-permission exchange
cannot keep students apart. VersaHub keeps them apart by what each container *has*
(``versahub.launch.plan.course_mounts``): a student's server has the released assignments
read-only and *only its own* ``inbound`` (read-write) and ``feedback`` (read-only) folders,
at the paths of nbgrader's stock exchange, which students use unchanged. A teacher's
server has the whole course exchange::

    <Exchange.root>/<course>/outbound/<assignment>/          released assignments
    <Exchange.root>/<course>/students/<user>/inbound/<user>+<assignment>+<time>+<random>/
    <Exchange.root>/<course>/students/<user>/feedback/<checksum>.html

so collecting and releasing feedback are the two steps that differ from the stock ones:

- :class:`ExchangeCollect` collects from every student's folder, and takes a submission
  only from the folder of the student it names: a student who submits under another
  name (``nbgrader submit --student``) is reported and ignored, never collected.
- :class:`ExchangeReleaseFeedback` puts each student's feedback in that student's folder.

``/etc/jupyter/nbgrader_config.py`` selects these classes in teachers' course servers.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

from nbgrader.exchange.default import ExchangeCollect as StockCollect
from nbgrader.exchange.default import ExchangeReleaseFeedback as StockReleaseFeedback
from nbgrader.utils import notebook_hash

STUDENTS = "students"


def students_path(root: str, course_id: str) -> str:
    return os.path.join(root, course_id, STUDENTS)


class ExchangeCollect(StockCollect):
    """Collect from ``students/<user>/inbound``; a submission counts only in its
    student's own folder."""

    def init_src(self) -> None:
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        # the stock copy step joins this with each record's (relative) filename
        self.inbound_path = students_path(self.root, self.coursedir.course_id)
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        student_id = self.coursedir.student_id or "*"
        pattern = os.path.join(
            self.inbound_path, "*", "inbound", f"{student_id}+{self.coursedir.assignment_id}+*"
        )
        records = []
        for path in glob.glob(pattern):
            folder_owner = os.path.basename(os.path.dirname(os.path.dirname(path)))
            record = self._path_to_record(path)
            if record["username"] != folder_owner:
                self.log.warning(
                    "Ignored %s: submitted by %s under the name %s",
                    os.path.basename(path), folder_owner, record["username"],
                )  # fmt: skip
                continue
            record["filename"] = os.path.relpath(path, self.inbound_path)
            records.append(record)
        self._select_records(records)

    def _select_records(self, records: list[dict]) -> None:
        """The stock choice among a student's submissions (latest, or the latest before
        the due date with ``--before-duedate``), from these records."""
        by_student: dict[str, list[dict]] = {}
        for record in records:
            by_student.setdefault(record["username"], []).append(record)
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for items in by_student.values():
            items = self._sort_by_timestamp(items)
            if self.duedate is not None and self.before_duedate:
                early = [r for r in items if r["timestamp"] <= self.duedate]
                items = early or items
            self.src_records.append(items[0])


class ExchangeReleaseFeedback(StockReleaseFeedback):
    """Release each student's feedback into ``students/<user>/feedback``."""

    def init_dest(self) -> None:
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.dest_path = students_path(self.root, self.coursedir.course_id)

    def copy_files(self) -> None:
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = re.escape(os.path.sep).join([
            self.coursedir.format_path(self.coursedir.feedback_directory, "(?P<student_id>[^/]+)",
                                       self.coursedir.assignment_id, escape=True),
            "(?P<notebook_id>.*).html",
        ])  # fmt: skip
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            match = re.match(pattern, html_file)
            if match is None:
                self.log.error("Could not match %r with %r", html_file, pattern)
                continue
            student_id, notebook_id = match.group("student_id"), match.group("notebook_id")
            if student_id in exclude:
                continue
            folder = os.path.dirname(html_file)
            with open(os.path.join(folder, "submission_secret.txt")) as fh:
                secret = fh.read()
            checksum = notebook_hash(secret=secret, notebook_id=notebook_id)
            dest = os.path.join(self.dest_path, student_id, "feedback")
            os.makedirs(dest, exist_ok=True)
            tmp = os.path.join(dest, f"{checksum}-tmp.html")
            shutil.copy(html_file, tmp)
            shutil.move(tmp, os.path.join(dest, f"{checksum}.html"))
            self.log.info("Feedback of %s on %s/%s released", student_id,
                          self.coursedir.assignment_id, notebook_id)  # fmt: skip
