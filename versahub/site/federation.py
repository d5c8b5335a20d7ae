"""Other hubs (pure): "Launch on…" links and an entry point's routing (docs/federation.md).

``site.yaml`` ``federation.hubs`` lists known hubs: ``name``, ``url``, ``kind``
(``versahub`` or ``binderhub``), ``description``, ``providers`` (the BinderHub providers
they accept; empty: all).

- :func:`launch_on` — for a spec, a link per known hub that accepts its provider: a VersaHub
  gets the whole configuration (its launch URL: the same path and VersaHub's own query
  parameters, so its risk dialog shows exactly this configuration); a BinderHub gets only
  what BinderHub understands (repository, ref, ``urlpath``), with the list of what was
  dropped, in plain words.
- :func:`route` — an entry point (``federation.entry_point.enabled``) sends each ``/v2/…``
  link to a member chosen by the first rule that matches its provider and repository (glob
  patterns) — else the default members — in order; the caller skips members that do not
  answer (:func:`member_url` builds the link for the chosen one).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from versahub.errors import InputError
from versahub.spec import ServerSpec, parse_spec
from versahub.urls import launch_url, normalise_hub_url

KINDS = ("versahub", "binderhub")
BINDER_QUERY = ("urlpath", "labpath", "filepath")
DROPPED_WORDS = {
    "mounts": "mounted folders",
    "collaborators": "collaborators",
    "public_readonly": "public read-only access",
    "credentials": "your credentials",
    "internet": "internet off",
    "resources": "resource requests",
    "server_name": "the server name",
}


@dataclass(frozen=True)
class Hub:
    name: str
    url: str
    kind: str
    description: str = ""
    providers: tuple[str, ...] = ()

    def accepts(self, provider: str) -> bool:
        return not self.providers or provider in self.providers


def hubs_of(site_data: Mapping[str, Any]) -> list[Hub]:
    return [
        Hub(h["name"], normalise_hub_url(h["url"]), h["kind"], h.get("description") or "",
            tuple(h.get("providers") or ()))
        for h in (site_data.get("federation") or {}).get("hubs") or []
    ]  # fmt: skip


def check_federation(doc: Mapping[str, Any], origin: str) -> None:
    """What the schema cannot say: unique names, hub URLs, rules naming known hubs."""
    fed = doc.get("federation") or {}
    names: set[str] = set()
    for index, hub in enumerate(fed.get("hubs") or []):
        where = f"{origin}: federation.hubs[{index}]"
        if hub["name"] in names:
            raise InputError(f"{where}.name", f"{hub['name']!r} is listed twice")
        names.add(hub["name"])
        try:
            normalise_hub_url(hub["url"])
        except InputError as err:
            raise InputError(f"{where}.url", err.reason) from None
    entry = fed.get("entry_point") or {}
    lists = [("default", entry.get("default") or [])]
    lists += [(f"rules[{i}].hubs", r["hubs"]) for i, r in enumerate(entry.get("rules") or [])]
    for where, members in lists:
        for name in members:
            if name not in names:
                raise InputError(f"{origin}: federation.entry_point.{where}",
                                 f"{name!r} is not in federation.hubs")  # fmt: skip
    if entry.get("enabled") and not (entry.get("default") or entry.get("rules")):
        raise InputError(f"{origin}: federation.entry_point.default",
                         "an entry point needs members (default or rules)")  # fmt: skip


def _reduced(spec: ServerSpec) -> tuple[ServerSpec, list[str]]:
    """What a BinderHub understands of ``spec``, and what was dropped (in words)."""
    doc = spec.config_dict()
    base = parse_spec({"repo": doc["repo"], "ref": doc["ref"], "urlpath": doc["urlpath"]})
    kept = base.config_dict()
    dropped = [DROPPED_WORDS[k] for k in DROPPED_WORDS if doc.get(k) != kept.get(k)]
    return base, dropped


def launch_on(spec: ServerSpec, hubs: Iterable[Hub]) -> list[dict[str, Any]]:
    """The "Launch on…" links of ``spec`` (hubs that accept its provider)."""
    out = []
    for hub in hubs:
        if not hub.accepts(spec.provider):
            continue
        if hub.kind == "versahub":
            url, dropped = launch_url(spec, hub.url), []
        else:
            reduced, dropped = _reduced(spec)
            url = launch_url(reduced, hub.url)
        note = ""
        if dropped:
            note = f"{hub.name} is a BinderHub: it gets the repository, ref and what to open; " \
                   f"not {', '.join(dropped)}."  # fmt: skip
        out.append({"name": hub.name, "kind": hub.kind, "url": url,
                    "description": hub.description, "dropped": dropped, "note": note})  # fmt: skip
    return out


def route(
    entry: Mapping[str, Any], hubs: Sequence[Hub], *, provider: str, repo: str,
    groups: Iterable[str] = (),
) -> list[Hub]:  # fmt: skip
    """The members to try for a link, in order (first matching rule, else the default).
    ``groups`` are the visitor's groups on the entry point (empty when not logged in)."""
    by_name = {h.name: h for h in hubs}
    visitor = set(groups)
    for rule in entry.get("rules") or []:
        if rule.get("providers") and provider not in rule["providers"]:
            continue
        if rule.get("institutions") and not visitor & set(rule["institutions"]):
            continue
        if rule.get("repos") and not any(fnmatch.fnmatchcase(repo, p) for p in rule["repos"]):
            continue
        return [by_name[n] for n in rule["hubs"] if by_name[n].accepts(provider)]
    return [by_name[n] for n in entry.get("default") or [] if by_name[n].accepts(provider)]


def member_url(hub: Hub, path: str, query: str) -> str:
    """The link on ``hub`` for an incoming ``/v2/…`` path and query: a VersaHub gets it
    whole; a BinderHub only the query parameters it knows."""
    if hub.kind == "binderhub":
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in BINDER_QUERY]
        query = urlencode(kept)
    target = f"{hub.url}{path}"
    return f"{target}?{query}" if query else target


def health_url(hub: Hub) -> str:
    """What to ask whether ``hub`` answers: JupyterHub's API root, or BinderHub's health."""
    return f"{hub.url}/hub/api" if hub.kind == "versahub" else f"{hub.url}/health"
