"""Load and validate ``site.yaml``: defaults from one place, one JSON schema, one error.

Pure apart from reading the file. Invalid input raises :class:`~versahub.errors.InputError`
naming the offending key (``site.yaml: policy.caps.default.memory: …``) before anything
starts; the operator's file is never rewritten.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from versahub.errors import InputError, shorten
from versahub.images.config import ImagesConfig
from versahub.policy.data import render_site_data
from versahub.site.course_store import courses_path, read_courses
from versahub.site.courses import Course, check_against_site, course_volumes, courses_policy_data
from versahub.site.defaults import DEFAULTS, REPLACE_KEYS
from versahub.site.federation import check_federation
from versahub.site.lti import check_lti
from versahub.site.tls import HubTLS, check_hub_tls, hub_tls
from versahub.spec import parse_spec
from versahub.urls import normalise_hub_url
from versahub.util.yamlfile import AliasRefused, DuplicateKey, TooDeep, load_yaml

if TYPE_CHECKING:
    import jsonschema

MAX_SITE_FILE_BYTES = 1_000_000


@cache
def site_schema() -> dict[str, Any]:
    """Return the JSON schema of site.yaml (``versahub/site/schema.json``)."""
    text = resources.files("versahub.site").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


def merge_defaults(
    defaults: Mapping[str, Any], given: Mapping[str, Any], _path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Deep-merge ``given`` over ``defaults`` without mutating either.

    Mappings merge key by key; any other value (and the keys in ``REPLACE_KEYS``)
    replaces the default wholesale.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        path = (*_path, key)
        base = merged.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping) and path not in REPLACE_KEYS:
            merged[key] = merge_defaults(base, value, path)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _error_path(error: jsonschema.ValidationError) -> str:
    parts: list[str] = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _error_reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown key ({error.message.split('(')[-1].rstrip(')')})"
    if error.validator == "pattern":
        return f"{shorten(error.instance)} is not in the accepted form"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{shorten(error.instance)} is not one of: {allowed}"
    if error.validator == "type":
        return f"expected {error.validator_value}, got {type(error.instance).__name__}"
    return error.message if len(error.message) < 200 else error.message[:199] + "…"


@dataclass(frozen=True)
class Site:
    """A validated site: ``data`` is the merged document (defaults filled in).

    ``path`` is where it was read from (``None`` for an in-memory site); relative paths
    in the document (``state_dir``) resolve against the file's folder.
    """

    data: Mapping[str, Any]
    path: Path | None = None
    # the preconfigured servers, each ``{"id", "title", "description", "spec"}`` with
    # ``spec`` the canonical ServerSpec document (parsed once, when the site is loaded)
    catalogue: tuple[Mapping[str, Any], ...] = ()
    # the course records (``versahub course``), already merged into ``data["volumes"]``
    courses: Mapping[str, Course] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.data["site"]["name"])

    @property
    def hub_url(self) -> str:
        return str(self.data["hub"]["url"]).rstrip("/")

    @property
    def hub_tls(self) -> HubTLS | None:
        """``hub.tls`` with its paths resolved, or ``None`` (the proxy serves HTTP)."""
        return hub_tls(self.data, self.path)

    @property
    def hub_internal_url(self) -> str:
        """Where the hub itself listens (``hub.internal_ip``/``internal_port``), not the proxy."""
        ip, port = str(self.data["hub"]["internal_ip"]), int(self.data["hub"]["internal_port"])
        return f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}"

    @property
    def opa_address(self) -> str:
        return str(self.data["opa"]["address"])

    @property
    def opa_url(self) -> str:
        return f"http://{self.opa_address}"

    @property
    def volumes(self) -> Mapping[str, Any]:
        return self.data["volumes"]

    @property
    def policy(self) -> Mapping[str, Any]:
        return self.data["policy"]

    @property
    def registry_enabled(self) -> bool:
        return bool(self.data["registry"]["enabled"])

    @property
    def registry_address(self) -> str:
        return str(self.data["registry"]["address"])

    @property
    def registry_storage(self) -> Path:
        storage = Path(str(self.data["registry"]["storage_dir"])).expanduser()
        return storage if storage.is_absolute() else self.state_dir / storage

    def images_config(self) -> ImagesConfig:
        """The image settings of this site (``images:``, plus ``registry:`` when enabled)."""
        return images_config(self.data)

    @property
    def courses_file(self) -> Path:
        """Where ``versahub course`` keeps the course records of this site."""
        return courses_path(self.state_dir)

    def with_courses(self, courses: Mapping[str, Course]) -> Site:
        """This site with ``courses`` merged: each course's volume joins the catalogue."""
        base = {k: v for k, v in self.data["volumes"].items() if k not in self._course_volumes}
        check_against_site(courses.values(), base)
        data = {**self.data, "volumes": {**base, **course_volumes(courses.values())}}
        return replace(self, data=data, courses=dict(courses))

    @property
    def _course_volumes(self) -> set[str]:
        return {c.volume for c in self.courses.values()}

    def without_courses(self) -> Site:
        """This site as ``site.yaml`` alone says (no course volume)."""
        base = {k: v for k, v in self.data["volumes"].items() if k not in self._course_volumes}
        return replace(self, data={**self.data, "volumes": base}, courses={})

    def policy_data(self) -> dict[str, Any]:
        """OPA's ``data.versahub.site`` for this site: its policy settings, its volumes
        (course volumes included), the repository folder no volume may cover
        (``images.target_repo_dir``) and the courses' trusted servers."""
        repo_dir = self.images_config().target_repo_dir
        doc = render_site_data(self.policy, self.volumes, repo_dir=repo_dir)
        doc["courses"] = courses_policy_data(self.courses.values())
        doc["quotas"] = {
            group: {"action": "warn", **quota}
            for group, quota in self.data["accounting"].get("quotas", {}).items()
        }
        return doc

    @property
    def state_dir(self) -> Path:
        state = Path(str(self.data["state_dir"])).expanduser()
        if not state.is_absolute() and self.path is not None:
            state = self.path.parent / state
        return state.resolve()


def site_from_mapping(raw: Any, *, path: Path | None = None, origin: str = "site.yaml") -> Site:
    """Validate a parsed site document and return a :class:`Site` with defaults filled in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputError(origin, f"expected a mapping at the top level, got {type(raw).__name__}")
    import jsonschema  # deferred for the CLI's start-up time (~1 s at import), not for a cycle

    try:
        merged = merge_defaults(DEFAULTS, raw)
        validator = jsonschema.Draft202012Validator(site_schema())
        errors = sorted(
            validator.iter_errors(merged), key=lambda e: list(map(str, e.absolute_path))
        )
    except RecursionError:
        raise InputError(origin, "is nested too deeply") from None
    if errors:
        first = errors[0]
        raise InputError(f"{origin}: {_error_path(first)}", _error_reason(first))
    _check_semantics(merged, origin, path)
    return Site(data=merged, path=path, catalogue=_catalogue(merged, origin))


def images_config(doc: Mapping[str, Any]) -> ImagesConfig:
    """Build :class:`ImagesConfig` from a merged site document (pure).

    With ``registry.enabled`` builds are pushed to that registry, so the image prefix
    defaults to ``<registry address>/versahub/r2d-``. The builder refuses repository hosts
    that resolve to internal addresses except those of ``policy.allowed_internal_hosts``.
    """
    values = dict(doc.get("images", {}))
    allowed = doc.get("policy", {}).get("allowed_internal_hosts") or ()
    values["allowed_internal_hosts"] = tuple(allowed)
    registry = doc.get("registry", {})
    if registry.get("enabled"):
        values.setdefault("registry", registry["address"])
        values.setdefault("image_prefix", f"{registry['address']}/versahub/r2d-")
        values["registry_scheme"] = "https" if registry.get("tls") else "http"
        values["registry_pull"] = registry.get("pull_address")
        credentials = registry.get("credentials") or {}
        values["registry_push_credentials"] = credentials.get("push")
        values["registry_pull_credentials"] = credentials.get("pull")
    return ImagesConfig.from_mapping(values)


def _check_semantics(doc: Mapping[str, Any], origin: str, path: Path | None = None) -> None:
    """Checks a JSON schema cannot express: cross-references between keys (``path``: the
    site file, which relative paths such as the LTI 1.1 consumers file start from)."""
    _check_text(doc, origin, ())
    try:
        normalise_hub_url(doc["hub"]["url"])
    except InputError as err:
        raise InputError(f"{origin}: hub.url", err.reason) from None
    auth = doc["hub"]["auth"]
    check_lti(doc, origin, path)
    check_hub_tls(doc, origin, path)
    if auth["kind"] == "demo" and not auth.get("users"):
        raise InputError(f"{origin}: hub.auth.users", "the demo login needs at least one user")
    if auth["kind"] == "demo":
        people = set(auth.get("users") or []) | set(doc["hub"]["admin_users"])
        for group, members in doc["hub"]["groups"].items():
            strangers = sorted(set(members) - people)
            if strangers:
                raise InputError(
                    f"{origin}: hub.groups.{group}",
                    f"{', '.join(strangers)} cannot log in (not in hub.auth.users or "
                    "hub.admin_users)",
                )
    if auth["kind"] == "generic" and not auth.get("class"):
        raise InputError(f"{origin}: hub.auth.class", "a generic authenticator needs its class")
    opa_host = str(doc["opa"]["address"]).rsplit(":", 1)[0]
    if not _LOOPBACK.match(opa_host) and not doc["kubernetes"]["hub_in_cluster"]:
        raise InputError(
            f"{origin}: opa.address",
            "must be on loopback (127.x.x.x, [::1] or localhost): OPA's API has no login, so "
            "only the hub's own machine may reach it (a service name is allowed only with "
            "kubernetes.hub_in_cluster, where network policies let only the hub in)",
        )
    homes = [name for name, vol in doc["volumes"].items() if vol["kind"] == "home"]
    if len(homes) > 1:
        raise InputError(
            f"{origin}: volumes", f"only one volume may be of kind home, found {', '.join(homes)}"
        )
    registry = doc["registry"]
    prefix = doc["images"].get("image_prefix")
    if registry["enabled"] and prefix is not None:
        host = f"{registry['address']}/"
        if not prefix.startswith(host):
            raise InputError(
                f"{origin}: images.image_prefix",
                f"must start with the registry address {host!r} when registry.enabled is true",
            )
    _check_builders(doc, origin)
    try:
        # sizes and durations convert once here, so their ranges (versahub/spec/sizes.py:
        # at least 1M, at most 366d, whole bytes) are refused at load, naming the key
        render_site_data(doc["policy"], doc["volumes"])
        images_config(doc)
    except InputError as err:
        raise InputError(f"{origin}: {err.field}", err.reason) from None
    check_federation(doc, origin)
    groups = doc["policy"]["caps"]["groups"]
    for group, caps in groups.items():
        if not caps:
            raise InputError(f"{origin}: policy.caps.groups.{group}", "caps must not be empty")


def _check_builders(doc: Mapping[str, Any], origin: str) -> None:
    """Remote builders push to the site registry, and a registry off loopback needs TLS."""
    builders = doc["images"].get("builders") or []
    registry = doc["registry"]
    names = [b["name"] for b in builders]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{origin}: images.builders", f"{', '.join(twice)} named twice")
    if builders and not registry["enabled"]:
        raise InputError(
            f"{origin}: images.builders",
            "remote builders need the site registry (registry.enabled: true): they push "
            "there and this host pulls from it",
        )
    if builders and not registry["tls"]:
        for key in ("address", "pull_address"):
            host = str(registry.get(key) or "127.0.0.1:0").rsplit(":", 1)[0]
            if not _LOOPBACK.match(host):
                raise InputError(
                    f"{origin}: registry.tls",
                    f"must be true: builders and spawn hosts reach {registry[key]} over the "
                    "network, and Docker speaks plain HTTP only to a registry on loopback",
                )


_LOOPBACK = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _check_text(value: Any, origin: str, path: tuple[str, ...]) -> None:
    """No control character anywhere in site.yaml (a NUL in a path, an escape sequence in
    a message): each is refused naming its key."""
    if isinstance(value, str):
        if _CONTROL.search(value):
            where = ".".join(path) or "(top level)"
            raise InputError(
                f"{origin}: {where}", f"contains a control character: {shorten(value)}"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_text(item, origin, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(
                item, origin, (*path[:-1], f"{path[-1]}[{index}]") if path else (f"[{index}]",)
            )


def _catalogue(doc: Mapping[str, Any], origin: str) -> tuple[Mapping[str, Any], ...]:
    """Every preconfigured server, parsed as a ServerSpec using the site's volumes."""
    entries: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(doc.get("catalogue", [])):
        where = f"{origin}: catalogue[{index}]"
        if entry["id"] in seen:
            raise InputError(f"{where}.id", f"duplicate id {shorten(entry['id'])}")
        seen.add(entry["id"])
        try:
            spec = parse_spec(entry["spec"], volumes=list(doc["volumes"]))
        except InputError as err:
            raise InputError(f"{where}.spec.{err.field}", err.reason) from None
        entries.append({
            "id": entry["id"],
            "title": entry.get("title") or entry["id"],
            "description": entry.get("description") or "",
            "tags": list(entry.get("tags") or []),
            "spec": spec.to_dict(),
        })  # fmt: skip
    return tuple(entries)


def load_site(path: str | Path) -> Site:
    """Read, merge and validate a site file; raise ``InputError`` naming the bad key."""
    file = Path(path)
    origin = file.name or "site.yaml"
    try:
        size = file.stat().st_size
    except OSError as err:
        raise InputError(origin, f"cannot read {str(file)!r}: {err.strerror}") from None
    if size > MAX_SITE_FILE_BYTES:
        raise InputError(origin, f"file is larger than {MAX_SITE_FILE_BYTES} bytes")
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(origin, f"cannot read {str(file)!r}: {err}") from None
    try:
        raw = load_yaml(text)
    except DuplicateKey as err:
        key = err.key if err.key.isidentifier() else "(a key)"
        raise InputError(f"{origin}: {key}", f"is given twice (line {err.line})") from None
    except TooDeep:
        raise InputError(origin, "is nested too deeply") from None
    except AliasRefused as err:
        raise InputError(origin, str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(origin, f"not valid YAML{where}") from None
    site = site_from_mapping(raw, path=file.resolve(), origin=origin)
    return site.with_courses(read_courses(site.courses_file))
