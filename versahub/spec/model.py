"""The ServerSpec value: frozen dataclasses, ``parse_spec`` and the canonical JSON.

``parse_spec`` is the only way a ServerSpec should be made from outside data (YAML, JSON,
a form, a launch URL, a REST body): it checks every field, reports the first bad one as
``InputError(field, reason)`` with paths like ``mounts[1].path``, and fills the defaults.
``to_dict`` gives the canonical document of ``docs/architecture.md`` (every default
filled in, plus the derived ``provider``, ``source`` and ``spec_id``); ``canonical_json``
and ``spec_id`` are stable under key order, explicit defaults and collaborator/mount
order. Rules that combine fields with site knowledge (public_readonly with rw mounts,
host allow-lists, caps) are *policy* and do not belong here. This module does no I/O.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from versahub.errors import InputError, shorten
from versahub.spec.names import (
    random_server_name,
    validate_collaborator,
    validate_server_name,
    validate_volume_name,
)
from versahub.spec.paths import validate_mount_path, validate_ref, validate_urlpath
from versahub.spec.repos import DOI_PROVIDERS, PROVIDERS, Source, parse_repo
from versahub.spec.sizes import (
    format_duration,
    format_memory,
    limits_of,
    parse_cpu,
    parse_duration,
    parse_memory,
)
from versahub.spec.text import require_bool, require_list, require_str, type_name

MAX_MOUNTS = 32
MAX_COLLABORATORS = 256
MOUNT_MODES = ("ro", "rw")
SPEC_KEYS = (
    "repo", "ref", "urlpath", "server_name", "mounts", "collaborators", "public_readonly",
    "credentials", "internet", "resources", "provider",
)  # fmt: skip
DERIVED_KEYS = ("provider", "source", "spec_id")
RESOURCE_KEYS = ("memory", "cpu", "max_duration", "idle_timeout")
MOUNT_KEYS = ("volume", "path", "mode")


@dataclass(frozen=True)
class Mount:
    """One volume mounted into the server: ``mode`` is ``ro`` (default) or ``rw``."""

    volume: str
    path: str
    mode: str = "ro"

    def to_dict(self) -> dict[str, str]:
        return {"volume": self.volume, "path": self.path, "mode": self.mode}


@dataclass(frozen=True)
class Resources:
    """Requested limits in canonical text; ``None`` means "the site's default applies"."""

    memory: str | None = None
    cpu: float | None = None
    max_duration: str | None = None
    idle_timeout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "cpu": self.cpu,
            "max_duration": self.max_duration,
            "idle_timeout": self.idle_timeout,
        }

    def limits(self, fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The numbers (``limits_of``): the policy input's ``spec.limits``; with
        ``fallback`` (the site's default caps as numbers) the limits a server runs with."""
        return limits_of(self.to_dict(), "resources", fallback)


@dataclass(frozen=True)
class ServerSpec:
    """A validated description of one persistent server. Make it with :func:`parse_spec`."""

    repo: str
    ref: str = "HEAD"
    urlpath: str = ""
    server_name: str = ""
    mounts: tuple[Mount, ...] = ()
    collaborators: tuple[str, ...] = ()
    public_readonly: bool = False
    credentials: bool = False
    internet: bool = True
    resources: Resources = field(default_factory=Resources)
    provider: str = "git"

    @property
    def source(self) -> Source:
        """Scheme, host and port a clone or download of ``repo`` would connect to."""
        return parse_repo("repo", self.repo, self.provider).source

    def config_dict(self) -> dict[str, Any]:
        """The hashed configuration: every field except the derived ones."""
        return {
            "repo": self.repo,
            "ref": self.ref,
            "urlpath": self.urlpath,
            "server_name": self.server_name,
            "mounts": [m.to_dict() for m in self.mounts],
            "collaborators": list(self.collaborators),
            "public_readonly": self.public_readonly,
            "credentials": self.credentials,
            "internet": self.internet,
            "resources": self.resources.to_dict(),
        }

    def canonical_json(self) -> str:
        """Compact, key-sorted JSON of :meth:`config_dict` (derived keys excluded)."""
        return _dumps(self.config_dict())

    @property
    def spec_id(self) -> str:
        """First 16 hex digits of sha256 over the canonical JSON without ``server_name``."""
        config = self.config_dict()
        del config["server_name"]
        return hashlib.sha256(_dumps(config).encode("ascii")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The canonical document: every default filled in, plus provider/source/spec_id."""
        doc = self.config_dict()
        doc["provider"] = self.provider
        doc["source"] = self.source.to_dict()
        doc["spec_id"] = self.spec_id
        return doc

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        owner: str | None = None,
        volumes: Collection[str] | None = None,
    ) -> ServerSpec:
        """Parse a :meth:`to_dict` document; ``source`` and ``spec_id`` are ignored."""
        if not isinstance(data, Mapping):
            raise InputError("spec", f"must be a mapping, not {type_name(data)}")
        trimmed = {k: v for k, v in data.items() if k not in ("source", "spec_id")}
        return parse_spec(trimmed, owner=owner, volumes=volumes)

    def with_server_name(self, name: str) -> ServerSpec:
        """This spec for the server ``name`` (validated; same spec_id)."""
        return replace(self, server_name=validate_server_name("server_name", name))

    def named(self, rng: random.Random | None = None) -> ServerSpec:
        """This spec with a readable random ``server_name`` if it has none (same spec_id)."""
        if self.server_name:
            return self
        return replace(self, server_name=random_server_name(rng))


def _dumps(doc: object) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def parse_spec(
    data: Mapping[str, Any],
    *,
    owner: str | None = None,
    volumes: Collection[str] | None = None,
) -> ServerSpec:
    """Validate ``data`` into a :class:`ServerSpec`, or raise ``InputError(field, reason)``.

    ``owner`` (the launching user) may not be a collaborator; ``volumes``, when given, is
    the site's volume catalogue every mount must come from. ``provider`` is optional input
    (needed only for a bare DOI or a CKAN URL); the derived ``source``/``spec_id`` are not
    accepted here (see :meth:`ServerSpec.from_dict`).
    """
    if not isinstance(data, Mapping):
        raise InputError("spec", f"must be a mapping, not {type_name(data)}")
    _reject_unknown("", data, SPEC_KEYS)
    if "repo" not in data:
        raise InputError("repo", "is required")
    provider = data.get("provider")
    if provider is not None:
        provider = require_str("provider", provider, max_len=16)
        if provider not in PROVIDERS:
            raise InputError(
                "provider", f"must be one of {', '.join(PROVIDERS)}: {shorten(provider)}"
            )
    repo = parse_repo("repo", data["repo"], provider)
    ref = validate_ref("ref", data.get("ref", "HEAD"))
    if repo.provider in (*DOI_PROVIDERS, "hydroshare", "ckan") and ref != "HEAD":
        raise InputError("ref", f"must be HEAD for {repo.provider} (data providers have no refs)")
    return ServerSpec(
        repo=repo.repo,
        ref=ref,
        urlpath=validate_urlpath("urlpath", data.get("urlpath", "")),
        server_name=validate_server_name("server_name", data.get("server_name", "")),
        mounts=_parse_mounts(data.get("mounts", []), volumes),
        collaborators=_parse_collaborators(data.get("collaborators", []), owner),
        public_readonly=require_bool("public_readonly", data.get("public_readonly", False)),
        credentials=require_bool("credentials", data.get("credentials", False)),
        internet=require_bool("internet", data.get("internet", True)),
        resources=_parse_resources(data.get("resources")),
        provider=repo.provider,
    )


# a repository every check of another field can be run against (never launched)
_PROBE_REPO = "https://example.org/versahub/probe.git"


def spec_errors(
    data: Mapping[str, Any],
    *,
    owner: str | None = None,
    volumes: Collection[str] | None = None,
) -> list[InputError]:
    """Every field error of ``data``, at most one per field of a form (a top-level field,
    or one resource limit), in field order.

    The same validation as :func:`parse_spec` (it is what runs), field by field, so a form
    can show all its errors at once; ``[]`` when ``data`` parses.
    """
    try:
        parse_spec(data, owner=owner, volumes=volumes)
        return []
    except InputError as first:
        if not isinstance(data, Mapping):
            return [first]
        errors = [first]
    unknown = [k for k in data if not isinstance(k, str) or k not in SPEC_KEYS]
    known = {k: v for k, v in data.items() if k not in unknown}
    try:
        repo_ok = "repo" in data and bool(
            parse_spec({k: known[k] for k in ("repo", "provider") if k in known})
        )
    except InputError:
        repo_ok = False
    base = {k: known[k] for k in ("repo", "provider") if k in known} if repo_ok else {
        "repo": _PROBE_REPO}  # fmt: skip
    probes: list[dict[str, Any]] = []
    for key in SPEC_KEYS:
        if key in ("repo", "provider") or key not in known:
            continue
        value = known[key]
        if key == "resources" and isinstance(value, Mapping):
            # each limit is its own field on a form
            probes.extend({**base, key: {k: v}} for k, v in value.items())
        else:
            probes.append({**base, key: value})
    for probe in probes:
        try:
            parse_spec(probe, owner=owner, volumes=volumes)
        except InputError as err:
            errors.append(err)
    out: list[InputError] = []
    seen: set[str] = set()
    for err in errors:
        top = err.field if err.field.startswith("resources.") else err.field.split(".")[0]
        top = top.split("[")[0]
        if top not in seen:
            seen.add(top)
            out.append(err)
    return out


def _reject_unknown(prefix: str, data: Mapping[Any, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if not isinstance(key, str):
            raise InputError(prefix.rstrip(".") or "spec", f"has a non-text key {shorten(key)}")
        if key not in known:
            printable = (
                0 < len(key) <= 40 and key.isprintable() and not any(c.isspace() for c in key)
            )
            where = f"{prefix}{key}" if printable else (prefix.rstrip(".") or "spec")
            raise InputError(where, f"unknown key {shorten(key)}; known: {', '.join(known)}")


def _parse_mounts(value: object, volumes: Collection[str] | None) -> tuple[Mount, ...]:
    items = require_list("mounts", value, max_items=MAX_MOUNTS)
    mounts: list[Mount] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"mounts[{i}]"
        if not isinstance(item, Mapping):
            raise InputError(
                where, f"must be a mapping {{volume, path, mode}}, not {type_name(item)}"
            )
        _reject_unknown(where + ".", item, MOUNT_KEYS)
        for key in ("volume", "path"):
            if key not in item:
                raise InputError(f"{where}.{key}", "is required")
        volume = validate_volume_name(f"{where}.volume", item["volume"])
        if volumes is not None and volume not in volumes:
            raise InputError(f"{where}.volume", f"no such volume on this site: {shorten(volume)}")
        path = validate_mount_path(f"{where}.path", item["path"])
        mode = require_str(f"{where}.mode", item.get("mode", "ro"), max_len=8)
        if mode not in MOUNT_MODES:
            raise InputError(f"{where}.mode", f"must be ro or rw, not {shorten(mode)}")
        if path in seen:
            raise InputError(f"{where}.path", f"is already used by mounts[{seen[path]}]: {path}")
        seen[path] = i
        mounts.append(Mount(volume, path, mode))
    return tuple(sorted(mounts, key=lambda m: m.path))


def _parse_collaborators(value: object, owner: str | None) -> tuple[str, ...]:
    items = require_list("collaborators", value, max_items=MAX_COLLABORATORS)
    names: set[str] = set()
    for i, item in enumerate(items):
        where = f"collaborators[{i}]"
        name = validate_collaborator(where, item)
        if name in names:
            raise InputError(where, f"is listed twice: {shorten(name)}")
        if owner is not None and name == owner:
            raise InputError(where, "is the owner; the owner always has access")
        names.add(name)
    return tuple(sorted(names))


def _parse_resources(value: object) -> Resources:
    if value is None:
        return Resources()
    if not isinstance(value, Mapping):
        raise InputError("resources", f"must be a mapping, not {type_name(value)}")
    _reject_unknown("resources.", value, RESOURCE_KEYS)
    memory = value.get("memory")
    cpu = value.get("cpu")
    max_duration = value.get("max_duration")
    idle_timeout = value.get("idle_timeout")
    return Resources(
        memory=None if memory is None else format_memory(parse_memory("resources.memory", memory)),
        cpu=None if cpu is None else parse_cpu("resources.cpu", cpu),
        max_duration=None
        if max_duration is None
        else format_duration(parse_duration("resources.max_duration", max_duration)),
        idle_timeout=None
        if idle_timeout is None
        else format_duration(parse_duration("resources.idle_timeout", idle_timeout)),
    )
