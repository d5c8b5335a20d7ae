"""The runtime plan: an approved ServerSpec turned into what one server needs to run.

Pure. ``make_plan(spec, site, decision, owner, image, layout)`` returns a frozen
:class:`RuntimePlan` — image, mounts (host folder → container path, read-only or not),
network (internet on/off), environment, credentials wiring, limits, collaborators, culling
limits and the folder layout — that the Docker renderer (``docker.py``) and later the
Kubernetes renderer only translate. It never reads the disk, talks to Docker or OPA, and it
refuses to plan a spec the policy did not allow: ``PlanError`` is raised instead.

The default layout (``docs/spawning.md``) answers the seed's open question "where should the
files provided by the binder environment be copied?":

- the image keeps the repository's files at ``repo_dir`` (repo2docker ``--target-repo-dir``,
  ``/srv/repo``), outside any mount, so no volume can hide them;
- the owner's persistent home volume is mounted at ``/home/<user>`` (unless the spec mounts
  it elsewhere), and Jupyter's root is ``/home/<user>``;
- at the first start of a server its files are copied once into ``~/<server_name>`` (the
  *project folder*), never overwritten later; the server opens there and the spec's
  ``urlpath`` is resolved inside it, so a mybinder.org link opens the same notebook.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from versahub.site.courses import ROLES, Course, course_spec
from versahub.spec.names import GROUP_PREFIX
from versahub.spec.sizes import limits_of

LABEL_PREFIX = "org.versahub"
# urlpaths whose next segment is a file path relative to Jupyter's root
_FILE_ROUTES = re.compile(r"^(lab/tree|doc/tree|tree|notebooks|edit|files|voila/render)(/|$)")


class PlanError(ValueError):
    """The inputs cannot give a plan (a denied decision, an unknown volume)."""


DEFAULT_HOME = "/home/jovyan"


@dataclass(frozen=True)
class Layout:
    """Site-wide facts the plan needs besides the spec (all strings, nothing probed).

    ``state_dir`` is where host folders of volumes live; ``credentials_dir`` where the
    per-server credential files are written; ``hub_connect_url`` how servers reach the hub.
    """

    state_dir: str
    user_name: str = "jovyan"
    user_id: int = 1000
    repo_dir: str = "/srv/repo"
    internet_network: str = "versahub-internet"
    offline_network: str = "versahub-offline"
    hub_connect_url: str = "http://172.17.0.1:8081"
    credentials_mount: str = "/run/secrets/versahub"

    @property
    def home(self) -> str:
        return f"/home/{self.user_name}"

    @property
    def volumes_dir(self) -> str:
        return posixpath.join(self.state_dir, "volumes")

    @property
    def credentials_dir(self) -> str:
        return posixpath.join(self.state_dir, "credentials")


@dataclass(frozen=True)
class PlanMount:
    """One bind mount: ``source`` is a host folder, ``target`` a container path."""

    volume: str
    source: str
    target: str
    read_only: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Limits:
    """Effective limits: the spec's, else the site's default caps."""

    memory_bytes: int | None
    cpu: float | None
    max_duration_seconds: int | None
    idle_timeout_seconds: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Credentials:
    """Where the credentials file goes; the token itself is never part of a plan."""

    host_dir: str
    mount: str
    file_name: str = "credentials.json"

    @property
    def container_file(self) -> str:
        return posixpath.join(self.mount, self.file_name)

    def to_dict(self) -> dict[str, Any]:
        return {"host_dir": self.host_dir, "container_file": self.container_file}


@dataclass(frozen=True)
class RuntimePlan:
    """Everything one server start needs, backend-neutral. ``to_dict`` is golden-tested."""

    owner: str
    server_name: str
    spec_id: str
    image: str
    mounts: tuple[PlanMount, ...]
    internet: bool
    network: str
    environment: Mapping[str, str]
    limits: Limits
    collaborators: tuple[str, ...]
    group_collaborators: tuple[str, ...]
    credentials: Credentials | None
    ephemeral: bool
    root_dir: str
    project_dir: str | None
    default_url: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "server_name": self.server_name,
            "spec_id": self.spec_id,
            "image": self.image,
            "mounts": [m.to_dict() for m in self.mounts],
            "internet": self.internet,
            "network": self.network,
            "environment": dict(self.environment),
            "limits": self.limits.to_dict(),
            "collaborators": list(self.collaborators),
            "group_collaborators": list(self.group_collaborators),
            "credentials": None if self.credentials is None else self.credentials.to_dict(),
            "ephemeral": self.ephemeral,
            "root_dir": self.root_dir,
            "project_dir": self.project_dir,
            "default_url": self.default_url,
            "labels": dict(self.labels),
        }


def _site_data(site: Any) -> Mapping[str, Any]:
    return site.data if hasattr(site, "data") else site


def _default_limits(site: Mapping[str, Any]) -> dict[str, Any]:
    caps = site.get("policy", {}).get("caps", {}).get("default", {})
    return limits_of(caps, "policy.caps.default")


def default_limits(site: Any) -> Limits:
    """The site's ``policy.caps.default``: the limits of a server whose spec is unknown."""
    return Limits(**_default_limits(_site_data(site)))


def effective_limits(spec: Any, site: Any) -> Limits:
    """The spec's limits where given, the site's ``policy.caps.default`` elsewhere."""
    return Limits(**spec.resources.limits(_default_limits(_site_data(site))))


def volume_source(volume: str, kind: str, owner: str, layout: Layout, spec: Any = None) -> str:
    """Host folder of a volume: ``volumes/home/<owner>`` for the home, else
    ``volumes/<kind>/<volume>`` (shared and project volumes are one folder for everyone)."""
    if kind == "home":
        return posixpath.join(layout.volumes_dir, "home", owner)
    return posixpath.join(layout.volumes_dir, kind, volume)


def effective_mounts(
    spec: Any, site: Any, *, home: str = DEFAULT_HOME, public: bool = False
) -> list[dict[str, str]]:
    """The mounts a server of ``spec`` really gets, as ``{volume, path, mode}`` (pure).

    The spec's mounts, plus — the persistent Binder's default layout — the owner's home
    volume at ``home``, read-write, when the site has a home volume and the spec does not
    mount it elsewhere. A public copy gets every spec mount read-only and no home. This is
    what the policy judges and the dialog shows: nothing is mounted that they did not see.
    """
    volumes: Mapping[str, Any] = _site_data(site).get("volumes", {})
    out: list[dict[str, str]] = []
    home_mounted = False
    for mount in spec.mounts:
        kind = str((volumes.get(mount.volume) or {}).get("kind", "shared"))
        if kind == "home":
            if public:
                continue  # nobody's home goes into an anonymous visitor's copy
            home_mounted = True
        out.append({"volume": mount.volume, "path": mount.path,
                    "mode": "ro" if public else mount.mode})  # fmt: skip
    home_volume = _home_volume(volumes)
    if home_volume is not None and not home_mounted and not public:
        out.append({"volume": home_volume, "path": home, "mode": "rw"})
    return sorted(out, key=lambda m: m["path"])


def _home_volume(volumes: Mapping[str, Any]) -> str | None:
    for name, info in volumes.items():
        if info.get("kind") == "home":
            return name
    return None


NBGRADER_EXCHANGE = "/srv/nbgrader/exchange"  # nbgrader's Exchange.root in every server
GRADING_FOLDER = "grading"  # ~/grading: the teachers' nbgrader course directory


def course_role(spec: Any, site: Any) -> tuple[Course, str] | None:
    """``(course, role)`` when ``spec`` is exactly the server a live course gives a role
    (same ``spec_id``), else ``None``. The policy has already checked that the owner may
    mount the course volume this way, so a course server of the teacher role is only
    ever started for a member of the teachers' group."""
    for course in getattr(site, "courses", {}).values():
        if course.archived or course.id != spec.server_name:
            continue
        for role in ROLES:
            if course_spec(course, role).spec_id == spec.spec_id:
                return course, role
    return None


def course_mounts(course: Course, role: str, owner: str, layout: Layout) -> list[PlanMount]:
    """The nbgrader exchange of a course server (docs/lti.md, "nbgrader across containers").

    Every notebook container runs as the same uid, so unix permissions cannot keep
    students apart: the exchange is kept apart by what each container *has*. On the host,
    ``volumes/exchange/<course>/`` holds ``exchange/outbound`` (released assignments),
    ``exchange/students/<user>/{inbound,feedback}`` and ``course`` (the teachers' nbgrader
    course directory: sources, gradebook, collected submissions). A teacher's server gets
    ``exchange`` and ``course`` read-write; a student's server gets ``outbound`` read-only,
    *their own* ``inbound`` read-write and *their own* ``feedback`` read-only, at the paths
    of nbgrader's stock exchange — no other student's files are in the container at all.
    """
    base = posixpath.join(layout.volumes_dir, "exchange", course.id)
    exchange = posixpath.join(NBGRADER_EXCHANGE, course.id)
    volume = f"nbgrader-{course.id}"
    if role == "teacher":
        return [
            PlanMount(volume, posixpath.join(base, "exchange"), exchange, read_only=False),
            PlanMount(volume, posixpath.join(base, "course"),
                      posixpath.join(layout.home, GRADING_FOLDER), read_only=False),
        ]  # fmt: skip
    mine = posixpath.join(base, "exchange", "students", owner)
    return [
        PlanMount(volume, posixpath.join(base, "exchange", "outbound"),
                  posixpath.join(exchange, "outbound"), read_only=True),
        PlanMount(volume, posixpath.join(mine, "inbound"), posixpath.join(exchange, "inbound"),
                  read_only=False),
        PlanMount(volume, posixpath.join(mine, "feedback"),
                  posixpath.join(exchange, "feedback"), read_only=True),
    ]  # fmt: skip


def project_urlpath(urlpath: str, project: str) -> str:
    """Resolve a Binder ``urlpath`` inside the project folder ``project`` (relative to root).

    ``lab/tree/index.ipynb`` → ``lab/tree/<project>/index.ipynb``; an empty urlpath opens
    the project folder in JupyterLab; other routes (``voila/…`` apps, ``proxy/…``) are kept.
    """
    if not urlpath:
        return f"lab/tree/{project}"
    match = _FILE_ROUTES.match(urlpath)
    if not match:
        return urlpath
    route = match.group(1)
    rest = urlpath[len(route) :].lstrip("/")
    return f"{route}/{project}/{rest}" if rest else f"{route}/{project}"


def make_plan(
    spec: Any,
    site: Any,
    decision: Any,
    *,
    owner: str,
    image: str,
    layout: Layout,
    public: bool = False,
) -> RuntimePlan:
    """Return the runtime plan of an allowed ``spec`` for ``owner``.

    ``public`` plans the throwaway read-only copy of the server for an anonymous visitor:
    same image, every spec mount read-only except home volumes (left out), no
    credentials, no collaborators.
    """
    if decision is None or not getattr(decision, "allowed", False):
        raise PlanError("the policy did not allow this spec; no plan is made for it")
    data = _site_data(site)
    volumes: Mapping[str, Any] = data.get("volumes", {})
    server_name = spec.server_name
    mounts: list[PlanMount] = []
    for mount in effective_mounts(spec, data, home=layout.home, public=public):
        info = volumes.get(mount["volume"])
        if info is None:
            raise PlanError(f"mount {mount['path']}: no volume {mount['volume']!r} on this site")
        kind = str(info.get("kind", "shared"))
        mounts.append(
            PlanMount(
                volume=mount["volume"],
                source=volume_source(mount["volume"], kind, owner, layout),
                target=mount["path"],
                read_only=mount["mode"] != "rw",
            )
        )
    course = None if public else course_role(spec, site)
    if course is not None:
        mounts.extend(course_mounts(*course, owner, layout))
    mounts.sort(key=lambda m: m.target)

    project_dir: str | None = posixpath.join(layout.home, server_name) if server_name else None
    default_url = (
        project_urlpath(spec.urlpath, server_name) if server_name else spec.urlpath or "lab"
    )

    credentials = None
    if spec.credentials and not public:
        credentials = Credentials(
            host_dir=posixpath.join(layout.credentials_dir, owner, server_name or "default"),
            mount=layout.credentials_mount,
        )

    users = tuple(sorted(c for c in spec.collaborators if not c.startswith(GROUP_PREFIX)))
    groups = tuple(
        sorted(c[len(GROUP_PREFIX) :] for c in spec.collaborators if c.startswith(GROUP_PREFIX))
    )
    if public:
        users, groups = (), ()

    environment: dict[str, str] = {
        "VERSAHUB_SPEC_ID": spec.spec_id,
        "VERSAHUB_REPO": spec.repo,
        "VERSAHUB_REPO_DIR": layout.repo_dir,
        "VERSAHUB_INTERNET": "1" if spec.internet else "0",
    }
    if project_dir:
        environment["VERSAHUB_PROJECT_DIR"] = project_dir
    if credentials is not None:
        environment["VERSAHUB_CREDENTIALS_FILE"] = credentials.container_file
    if course is not None:
        # read by the base image's nbgrader_config.py (course id, exchange, role)
        environment["VERSAHUB_COURSE"] = course[0].id
        environment["VERSAHUB_COURSE_ROLE"] = course[1]

    labels = {
        f"{LABEL_PREFIX}.owner": owner,
        f"{LABEL_PREFIX}.server": server_name,
        f"{LABEL_PREFIX}.spec-id": spec.spec_id,
        f"{LABEL_PREFIX}.internet": "true" if spec.internet else "false",
        f"{LABEL_PREFIX}.public": "true" if public else "false",
    }
    return RuntimePlan(
        owner=owner,
        server_name=server_name,
        spec_id=spec.spec_id,
        image=image,
        mounts=tuple(mounts),
        internet=bool(spec.internet),
        network=layout.internet_network if spec.internet else layout.offline_network,
        environment=environment,
        limits=effective_limits(spec, site),
        collaborators=users,
        group_collaborators=groups,
        credentials=credentials,
        ephemeral=public,
        root_dir=layout.home,
        project_dir=project_dir,
        default_url=default_url,
        labels=labels,
    )
