# nbgrader in a VersaHub course server (generated into the base image; see docs/lti.md).
# The hub starts a course's own servers with VERSAHUB_COURSE and VERSAHUB_COURSE_ROLE and
# mounts the course's nbgrader exchange at /srv/nbgrader/exchange/<course>; elsewhere this
# file configures nothing.
import os
import sys

c = get_config()  # noqa: F821 (defined by traitlets when it runs this file)

course = os.environ.get("VERSAHUB_COURSE", "")
if course:
    c.CourseDirectory.course_id = course
    c.Exchange.root = "/srv/nbgrader/exchange"
    if os.environ.get("VERSAHUB_COURSE_ROLE") == "teacher":
        # the teachers' course directory (sources, gradebook, collected submissions)
        c.CourseDirectory.root = os.path.join(os.path.expanduser("~"), "grading")
        sys.path.insert(0, "/srv/nbgrader/lib")
        import versahub_nbgrader

        c.ExchangeFactory.collect = versahub_nbgrader.ExchangeCollect
        c.ExchangeFactory.release_feedback = versahub_nbgrader.ExchangeReleaseFeedback
        # every file is uid 1000's: the folder a submission sits in names its student
        c.CollectApp.check_owner = False
