"""Build the policy input document that OPA judges (``docs/architecture.md``).

Pure: it takes a ServerSpec (anything with ``to_dict()`` and ``resources``) or an already
normalised spec dict, the user, the origin of the request and the hub's directory, and returns
plain JSON-ready data. It never asks OPA, never reads files and never drops a field of the
spec: the policy sees exactly what would be started.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from versahub.errors import InputError, shorten
from versahub.spec.names import GROUP_PREFIX
from versahub.spec.sizes import limits_of


def spec_document(spec: Any) -> dict[str, Any]:
    """Return the spec's document (``to_dict()`` of a ServerSpec, or a normalised spec
    mapping) plus ``limits``: its ``resources`` as numbers (``limits_of``), unless given."""
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        raise InputError("spec", f"expected a ServerSpec or a mapping, got {type(spec).__name__}")
    doc = copy.deepcopy(dict(spec))
    if "limits" not in doc:
        resources = doc.get("resources") or {}
        if not isinstance(resources, Mapping):
            raise InputError("spec.resources", "expected a mapping")
        doc["limits"] = limits_of(resources, "spec.resources")
    return doc


def _names(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError(field, f"expected a list of names, got {type(value).__name__}")
    names = []
    for item in value:
        name = getattr(item, "name", item)  # JupyterHub Group objects have .name
        if not isinstance(name, str) or not name:
            raise InputError(field, f"expected names, got {shorten(name)}")
        names.append(name)
    return sorted(set(names))


def user_document(user: Any) -> dict[str, Any]:
    """Return ``{"name", "groups", "admin"}`` from a mapping or a JupyterHub-like user."""
    if isinstance(user, Mapping):
        name, groups, admin = user.get("name"), user.get("groups"), user.get("admin", False)
    else:
        name = getattr(user, "name", None)
        groups, admin = getattr(user, "groups", None), getattr(user, "admin", False)
    if not isinstance(name, str) or not name:
        raise InputError("user.name", f"expected a user name, got {shorten(name)}")
    return {"name": name, "groups": _names(groups, "user.groups"), "admin": bool(admin)}


def origin_document(origin: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``{"external": bool, "referrer": str|None}``; no origin means inside the hub."""
    origin = origin or {}
    referrer = origin.get("referrer")
    if referrer is not None and not isinstance(referrer, str):
        raise InputError("origin.referrer", f"expected a URL, got {shorten(referrer)}")
    return {"external": bool(origin.get("external", False)), "referrer": referrer or None}


def split_collaborators(collaborators: Iterable[str]) -> dict[str, list[str]]:
    """``{"users", "groups"}`` of a spec's collaborators (``group:<name>`` names a group),
    sorted and deduplicated; also the directory a CLI assumes when it knows nothing."""
    users, groups = set(), set()
    for entry in collaborators:
        if entry.startswith(GROUP_PREFIX):
            groups.add(entry[len(GROUP_PREFIX) :])
        else:
            users.add(entry)
    return {"users": sorted(users), "groups": sorted(groups)}


def build_input(
    spec: Any,
    user: Any,
    origin: Mapping[str, Any] | None = None,
    directory: Mapping[str, Iterable[str]] | None = None,
    site: Mapping[str, Any] | None = None,
    mounts: Iterable[Mapping[str, Any]] | None = None,
    usage: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Return the OPA input ``{"spec", "user", "origin", "directory", "site", "usage"}``.

    ``usage`` is what the user's groups with a quota used this month
    (``{group: {"cpu_hours", "memory_gib_hours", "server_hours"}}``, docs/accounting.md).

    ``mounts``, when given, are the mounts the server will really get (the launch service
    passes the runtime plan's, default home volume included) and replace ``spec.mounts``:
    the policy judges what would be started, not only what was typed.

    ``directory`` lists which collaborators exist on the hub (``{"users", "groups"}``);
    when ``None`` it is derived from the spec's collaborators. ``site`` is the small
    ``{"name", "hub_url"}`` block (the policy's site *data* lives in ``data.versahub.site``).
    """
    spec_doc = spec_document(spec)
    if mounts is not None:
        spec_doc["mounts"] = [dict(m) for m in mounts]
    if directory is None:
        collaborators = spec_doc.get("collaborators") or []
        directory_doc = split_collaborators(collaborators)
    else:
        directory_doc = {
            "users": _names(directory.get("users"), "directory.users"),
            "groups": _names(directory.get("groups"), "directory.groups"),
        }
    doc = {
        "spec": spec_doc,
        "user": user_document(user),
        "origin": origin_document(origin),
        "directory": directory_doc,
        "site": dict(site or {}),
    }
    if usage:  # only when the user is in a group with a quota
        doc["usage"] = {"groups": {g: dict(v) for g, v in usage.items()}}
    return doc
