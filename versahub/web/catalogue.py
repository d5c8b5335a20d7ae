"""Read site.yaml's ``catalogue`` of preconfigured servers (pure, defensive).

Proposed schema (the lead owns ``versahub/site/schema.json``)::

    catalogue:
      - id: ds101               # [a-z0-9][a-z0-9-]{0,62}, unique
        title: DS101 labs
        description: The course environment with the shared course volume.
        spec: {repo: …, ref: …, mounts: […], …}   # a ServerSpec mapping

Entries that do not parse are left out and reported in ``problems`` — the page must keep
working with a half-wrong catalogue, and the default is no catalogue at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from versahub.errors import InputError, shorten
from versahub.spec import parse_spec

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_ENTRIES = 200


def read_catalogue(
    data: Mapping[str, Any], volumes: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return ``(entries, problems)`` from a site document (``site.data``).

    Each entry is ``{"id", "title", "description", "spec"}`` with ``spec`` the canonical
    ``to_dict()`` of its ServerSpec.
    """
    raw = data.get("catalogue") if isinstance(data, Mapping) else None
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["catalogue: expected a list"]
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(raw[:MAX_ENTRIES]):
        where = f"catalogue[{i}]"
        try:
            if not isinstance(item, Mapping):
                raise InputError(where, "expected a mapping {id, title, description, spec}")
            ident = item.get("id")
            if not isinstance(ident, str) or not ID_RE.match(ident):
                raise InputError(f"{where}.id", f"must match {ID_RE.pattern}: {shorten(ident)}")
            if ident in seen:
                raise InputError(f"{where}.id", f"is used twice: {ident}")
            title = item.get("title") or ident
            description = item.get("description") or ""
            if not isinstance(title, str) or not isinstance(description, str):
                raise InputError(where, "title and description must be text")
            spec = parse_spec(item.get("spec") or {}, volumes=volumes)
        except InputError as err:
            problems.append(str(err) if str(err).startswith("catalogue") else f"{where}: {err}")
            continue
        seen.add(ident)
        entries.append(
            {"id": ident, "title": title, "description": description, "spec": spec.to_dict()}
        )
    return entries, problems


# JSON-schema snippet proposed for versahub/site/schema.json (properties.catalogue).
CATALOGUE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_ENTRIES,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "spec"],
        "properties": {
            "id": {"type": "string", "pattern": ID_RE.pattern},
            "title": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "spec": {"type": "object"},
        },
    },
}
