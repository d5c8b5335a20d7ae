"""The "Don't ask again for this configuration" store: per user and ``spec_id``.

One JSON file under the site's state folder, read on every call (several hub processes
or a restart never see a stale copy) and replaced atomically (temporary file in the same
folder, ``fsync``, ``os.replace``), mode 0600. A record remembers which warning ids the
user accepted; it covers a later decision only when that decision warns about nothing
more, so a new risk — or a link from outside the hub, which adds its own warning — asks
again. This is a convenience of the page: the hub still checks a confirmation hash.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from versahub.util.files import atomic_write, locked

SPEC_ID_RE = re.compile(r"^[0-9a-f]{16}\Z")
MAX_PER_USER = 500
VERSION = 1


class TrustStore:
    """Trusted configurations, ``{user: {spec_id: {"warn_ids", "repo", "trusted_at"}}}``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {"version": VERSION, "users": {}}
        except (OSError, ValueError):
            # A broken file must not make the page fail; start from nothing (ask again).
            return {"version": VERSION, "users": {}}
        if not isinstance(doc, dict) or not isinstance(doc.get("users"), dict):
            return {"version": VERSION, "users": {}}
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        atomic_write(self.path, json.dumps(doc, indent=1, sort_keys=True))

    def list(self, user: str) -> dict[str, dict[str, Any]]:
        """The user's trusted configurations by ``spec_id``."""
        records = self._read()["users"].get(user) or {}
        return {k: v for k, v in records.items() if isinstance(v, dict)}

    def get(self, user: str, spec_id: str) -> dict[str, Any] | None:
        return self.list(user).get(spec_id)

    def covers(self, user: str, spec_id: str, warn_ids: Iterable[str]) -> bool:
        """Did ``user`` accept every one of ``warn_ids`` for ``spec_id`` before?"""
        record = self.get(user, spec_id)
        if record is None:
            return False
        return set(warn_ids) <= set(record.get("warn_ids") or [])

    def add(self, user: str, spec_id: str, warn_ids: Iterable[str], repo: str = "") -> dict:
        """Remember that ``user`` trusts ``spec_id`` with these warnings."""
        if not SPEC_ID_RE.match(spec_id):
            raise ValueError(f"not a spec_id: {spec_id[:40]!r}")
        with locked(self.path):
            doc = self._read()
            records = doc["users"].setdefault(user, {})
            if spec_id not in records and len(records) >= MAX_PER_USER:
                oldest = min(records, key=lambda k: records[k].get("trusted_at", 0))
                del records[oldest]
            record = {
                "warn_ids": sorted(set(warn_ids)),
                "repo": repo,
                "trusted_at": time.time(),
            }
            records[spec_id] = record
            self._write(doc)
        return record

    def remove(self, user: str, spec_id: str | None = None) -> int:
        """Forget one configuration (or all of the user's); return how many were removed."""
        with locked(self.path):
            doc = self._read()
            records = doc["users"].get(user) or {}
            if spec_id is None:
                removed = len(records)
                doc["users"].pop(user, None)
            else:
                removed = 1 if records.pop(spec_id, None) is not None else 0
            if removed:
                self._write(doc)
        return removed
