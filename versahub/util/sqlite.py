"""One private SQLite store under a site's state folder (the usage and decision records).

``open_store`` is the one place that opens them: WAL mode (one writer, readers anytime), the
schema applied (``CREATE … IF NOT EXISTS``: a no-op on an existing store), and with
``create`` a 0700 folder and a 0600 file; without it a missing store is ``FileNotFoundError``
(a reader never creates one).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def open_store(path: Path, schema: str, *, create: bool = False) -> sqlite3.Connection:
    if create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif not path.exists():
        raise FileNotFoundError(path)
    db = sqlite3.connect(path, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    if create:
        os.chmod(path, 0o600)
    return db
