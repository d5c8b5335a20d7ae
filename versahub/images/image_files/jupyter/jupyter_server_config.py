# Jupyter Server settings of VersaHub's base image (generated into the image; docs/lti.md).
# nbgrader's formgrader (and its course list) works only in a teacher's course server,
# where the hub sets VERSAHUB_COURSE_ROLE=teacher and mounts the course directory; every
# other server (students', and servers that are not a course's) runs without them.
import os

c = get_config()  # noqa: F821 (defined by traitlets when it runs this file)

if os.environ.get("VERSAHUB_COURSE_ROLE") != "teacher":
    c.ServerApp.jpserver_extensions.update(
        {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
        }
    )
