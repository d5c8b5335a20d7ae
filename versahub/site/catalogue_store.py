"""The catalogue's state (thin I/O around :mod:`versahub.site.catalogue`).

- ``<state_dir>/catalogue/launches.json``: per ``spec_id`` the public part of the spec, the
  number of launches, the first and last launch and the distinct users who launched it —
  as short hashes, never names. Bounded: at most :data:`MAX_RECORDS` configurations (the
  least recently launched go first) and :data:`MAX_USERS` user hashes each. Written by the
  hub after each successful start (:func:`record_launch`), under a lock, atomically.
- ``<state_dir>/catalogue/imported.json``: the exchange documents imported from other hubs
  (``versahub catalogue import``), by the hub URL they came from.

Both are read at each catalogue page or export; a missing file is an empty catalogue and
a broken one is reported by the error (the page shows the curated entries still).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from versahub.errors import InputError
from versahub.site.catalogue import (
    entry_document,
    imported_entries,
    popular_entries,
    public_spec,
    read_exchange,
)
from versahub.spec import ServerSpec
from versahub.util.files import atomic_write, locked

MAX_RECORDS = 5000
MAX_USERS = 1000
MAX_BYTES = 20_000_000


def catalogue_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "catalogue"


def user_hash(name: str) -> str:
    return hashlib.sha256(f"versahub-user:{name}".encode()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: Path, key: str) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(path.name, f"is larger than {MAX_BYTES} bytes")
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise InputError(path.name, f"cannot be read: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise InputError(path.name, f"has no {key} mapping")
    return doc[key]


def read_ledger(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return _read(catalogue_dir(state_dir) / "launches.json", "records")


def read_imports(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return _read(catalogue_dir(state_dir) / "imported.json", "imports")


def record_launch(state_dir: str | os.PathLike[str], spec: ServerSpec, user: str) -> None:
    """Count one successful launch of ``spec`` by ``user`` (blocking; call in a thread)."""
    path = catalogue_dir(state_dir) / "launches.json"
    public = public_spec(spec).config_dict()
    with locked(path):
        records = read_ledger(state_dir)
        now = _now()
        record = records.setdefault(spec.spec_id, {"public": public, "users": [],
                                                   "launches": 0, "first": now})  # fmt: skip
        record["public"] = public
        record["launches"] = int(record.get("launches", 0)) + 1
        record["last"] = now
        users = set(record.get("users") or [])
        if len(users) < MAX_USERS:
            users.add(user_hash(user))
        record["users"] = sorted(users)
        if len(records) > MAX_RECORDS:
            oldest = sorted(records, key=lambda k: str(records[k].get("last", "")))
            for key in oldest[: len(records) - MAX_RECORDS]:
                del records[key]
        text = json.dumps({"version": 1, "records": records}, sort_keys=True) + "\n"
        atomic_write(path, text)


def import_document(state_dir: str | os.PathLike[str], doc: Any, field: str) -> int:
    """Store an exchange document (checked by :func:`read_exchange`) under its hub's URL,
    replacing an earlier import from that hub; return the number of entries."""
    entries = read_exchange(doc, field)
    path = catalogue_dir(state_dir) / "imported.json"
    with locked(path):
        imports = read_imports(state_dir)
        imports[doc["hub"]["url"]] = {**doc, "entries": entries}
        atomic_write(path, json.dumps({"version": 1, "imports": imports}, sort_keys=True) + "\n")
    return len(entries)


def catalogue_entries(site: Any) -> list[dict[str, Any]]:
    """Everything the catalogue page shows: curated, popular, imported (in that order)."""
    origin = site.hub_url
    out = [
        entry_document(
            entry_id=e["id"], title=e["title"], description=e["description"],
            tags=e.get("tags", []), spec=ServerSpec.from_dict(e["spec"]), kind="curated",
            origin=origin,
        )
        for e in site.catalogue
    ]  # fmt: skip
    settings = site.data["popular"]
    out += popular_entries(read_ledger(site.state_dir), min_users=int(settings["min_users"]),
                           max_entries=int(settings["max_entries"]), origin=origin)  # fmt: skip
    out += imported_entries(read_imports(site.state_dir))
    return out
