"""The catalogue of environments (pure): curated, popular and imported entries, and the
exchange document other hubs and national catalogues read (docs/catalogue.md).

- **Curated** entries are ``site.yaml``'s ``catalogue:``.
- **Popular** entries are the configurations this hub launched, counted per ``spec_id``
  (``versahub.site.catalogue_store``), shown once ``popular.min_users`` distinct users
  launched them. Only the *public part* of a spec is kept and shown
  (:func:`public_spec`: repository, ref, what it opens, internet, resources); mounts,
  collaborators, public access, credentials and the server name are personal and never
  leave the hub — launching a popular entry launches that public part.
- **Imported** entries come from another hub's export, marked with their origin; they are
  offered like any link (the policy judges them; nothing makes them trusted).

The exchange document is described by ``catalogue-exchange.schema.json`` beside this file
(JSON Schema 2020-12): :func:`export_document` writes it, :func:`read_exchange` checks one
(schema, then every spec through the spec parser), naming the field of the first problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from versahub.errors import InputError
from versahub.spec import ServerSpec, parse_spec

EXCHANGE_VERSION = 1
PUBLIC_FIELDS = ("repo", "ref", "urlpath", "internet", "resources")
MAX_IMPORTED = 1000


@cache
def exchange_schema() -> dict[str, Any]:
    text = resources.files("versahub.site").joinpath("catalogue-exchange.schema.json")
    return json.loads(text.read_text("utf-8"))


def public_spec(spec: ServerSpec | Mapping[str, Any]) -> ServerSpec:
    """The part of a spec anyone may see and launch: no mounts, collaborators, public
    access, credentials or server name."""
    doc = spec.config_dict() if isinstance(spec, ServerSpec) else dict(spec)
    return parse_spec({k: doc[k] for k in PUBLIC_FIELDS if k in doc})


def entry_document(
    *, entry_id: str, title: str, description: str, tags: Iterable[str], spec: ServerSpec,
    kind: str, origin: str, users: int = 0, launches: int = 0, last_launch: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One entry as the page and the exchange document show it."""
    public = public_spec(spec)
    return {
        "id": entry_id,
        "title": title,
        "description": description,
        "tags": sorted(set(tags)),
        "kind": kind,
        "origin": origin,
        "provider": public.provider,
        "spec_id": public.spec_id,
        "spec": {k: public.config_dict()[k] for k in PUBLIC_FIELDS},
        "popularity": {"users": users, "launches": launches, "last_launch": last_launch},
    }


def popular_entries(
    ledger: Mapping[str, Mapping[str, Any]], *, min_users: int, max_entries: int, origin: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """The most launched configurations with at least ``min_users`` distinct users.
    Ledger records of different ``spec_id`` with the same public part are one entry."""
    merged: dict[str, dict[str, Any]] = {}
    for record in ledger.values():
        try:
            public = public_spec(record["public"])
        except InputError:
            continue  # a record the parser no longer accepts is not shown
        item = merged.setdefault(public.spec_id, {"spec": public, "users": set(),
                                                  "launches": 0, "last": ""})  # fmt: skip
        item["users"].update(record.get("users") or [])
        item["launches"] += int(record.get("launches") or 0)
        item["last"] = max(item["last"], str(record.get("last") or ""))
    shown = [i for i in merged.values() if len(i["users"]) >= min_users]
    shown.sort(key=lambda i: (-len(i["users"]), -i["launches"], i["spec"].repo))
    out = []
    for item in shown[:max_entries]:
        spec: ServerSpec = item["spec"]
        out.append(entry_document(
            entry_id=f"popular-{spec.spec_id}", title=repo_title(spec.repo),
            description="", tags=[], spec=spec, kind="popular", origin=origin,
            users=len(item["users"]), launches=item["launches"], last_launch=item["last"] or None,
        ))  # fmt: skip
    return out


def repo_title(repo: str) -> str:
    """``org/name`` of a repository URL (its last two path segments)."""
    parts = [p for p in repo.rstrip("/").removesuffix(".git").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else repo


def matches(entry: Mapping[str, Any], *, q: str = "", provider: str = "", tag: str = "") -> bool:
    """The page's filters: text in title, description or repository; provider; tag."""
    if provider and entry["provider"] != provider:
        return False
    if tag and tag not in entry["tags"]:
        return False
    if q:
        text = " ".join([entry["title"], entry["description"], entry["spec"]["repo"]]).lower()
        return all(word in text for word in q.lower().split())
    return True


def export_document(entries: Iterable[Mapping[str, Any]], *, hub_name: str, hub_url: str,
                    exported_at: str) -> dict[str, Any]:  # fmt: skip
    return {
        "version": EXCHANGE_VERSION,
        "hub": {"name": hub_name, "url": hub_url},
        "exported_at": exported_at,
        "entries": [dict(e) for e in entries],
    }


def read_exchange(doc: Any, origin_field: str = "catalogue") -> list[dict[str, Any]]:
    """The entries of an exchange document, checked: the JSON Schema first, then every
    spec through the spec parser. ``InputError`` names the first bad field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(exchange_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        message = first.message if len(first.message) < 200 else first.message[:199] + "…"
        raise InputError(f"{origin_field}: {where}", message)
    entries = []
    for index, entry in enumerate(doc["entries"]):
        try:
            spec = public_spec(entry["spec"])
        except InputError as err:
            where = f"{origin_field}: entries.{index}.spec.{err.field}"
            raise InputError(where, err.reason) from None
        entries.append({**entry, "spec_id": spec.spec_id,
                        "spec": {k: spec.config_dict()[k] for k in PUBLIC_FIELDS}})  # fmt: skip
    if len(entries) > MAX_IMPORTED:
        raise InputError(f"{origin_field}: entries", f"more than {MAX_IMPORTED} entries")
    return entries


def imported_entries(imports: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The stored imports (``{origin url: exchange document}``) as page entries, each
    marked ``kind: imported`` with the hub it came from."""
    out = []
    for origin, doc in sorted(imports.items()):
        for entry in doc.get("entries", []):
            out.append({**entry, "kind": "imported", "origin": origin})
    return out
