"""Decision records on disk: ``<state_dir>/policy/decisions.sqlite`` (docs/policies.md).

The hub adds the records OPA uploads (``versahub.web.decisions``) and drops those older than
``policy.decision_log.keep_days`` in the same transaction, so the store never holds more than
the site keeps. Readers (``versahub policy decisions|impact``, the audit page) only read
(opening runs nothing but ``CREATE … IF NOT EXISTS``, a no-op on an existing store).
SQLite in WAL mode: one writer, readers anytime. A decision id is recorded once (OPA may
upload a batch again after a failed upload).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.policy.records import DecisionRecord, iso
from versahub.util.sqlite import open_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
  decision_id TEXT PRIMARY KEY, time TEXT NOT NULL, user TEXT NOT NULL,
  groups TEXT NOT NULL, repo TEXT NOT NULL, outcome TEXT NOT NULL,
  deny TEXT NOT NULL, warn TEXT NOT NULL, input TEXT NOT NULL, result TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
"""
_COLUMNS = "decision_id, time, user, groups, repo, outcome, deny, warn, input, result"


@dataclass(frozen=True)
class Filters:
    """What a reader asks for; every field is optional (``None``: any)."""

    since: str | None = None  # ISO time, inclusive
    until: str | None = None  # ISO time, exclusive
    rule: str | None = None  # a finding id, denied or warned about
    outcome: str | None = None  # allowed | warned | denied
    user: str | None = None
    group: str | None = None
    repo: str | None = None  # a substring of the repository URL

    def where(self) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if self.since:
            clauses.append("time >= ?")
            args.append(self.since)
        if self.until:
            clauses.append("time < ?")
            args.append(self.until)
        if self.rule:
            clauses.append(
                "(EXISTS (SELECT 1 FROM json_each(deny) WHERE value = ?)"
                " OR EXISTS (SELECT 1 FROM json_each(warn) WHERE value = ?))"
            )
            args += [self.rule, self.rule]
        if self.outcome:
            clauses.append("outcome = ?")
            args.append(self.outcome)
        if self.user:
            clauses.append("user = ?")
            args.append(self.user)
        if self.group:
            clauses.append("EXISTS (SELECT 1 FROM json_each(groups) WHERE value = ?)")
            args.append(self.group)
        if self.repo:
            clauses.append("instr(repo, ?) > 0")
            args.append(self.repo)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def store_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "policy" / "decisions.sqlite"


def connect(state_dir: str | os.PathLike[str], *, create: bool = False) -> sqlite3.Connection:
    """Open the store; ``create`` makes it (mode 0600 in a 0700 folder), else a missing store
    raises ``FileNotFoundError``."""
    return open_store(store_path(state_dir), SCHEMA, create=create)


def add(
    db: sqlite3.Connection,
    records: Iterable[DecisionRecord],
    *,
    keep_days: int,
    now: _dt.datetime | None = None,
) -> int:
    """Record ``records`` (a decision id already recorded is skipped) and drop records older
    than ``keep_days``, in one transaction; return how many were new."""
    cutoff = iso((now or _dt.datetime.now(_dt.UTC)) - _dt.timedelta(days=keep_days))
    rows = [_row(r) for r in records if r.time >= cutoff]
    with db:
        before = db.total_changes
        db.executemany(f"INSERT OR IGNORE INTO decisions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       rows)  # fmt: skip
        added = db.total_changes - before
        db.execute("DELETE FROM decisions WHERE time < ?", (cutoff,))
    return added


def _row(r: DecisionRecord) -> tuple[str, ...]:
    return (
        r.decision_id, r.time, r.user, json.dumps(list(r.groups)), r.repo, r.outcome,
        json.dumps(list(r.deny)), json.dumps(list(r.warn)),
        json.dumps(r.input, sort_keys=True), json.dumps(r.result, sort_keys=True),
    )  # fmt: skip


def _record(row: tuple[Any, ...]) -> DecisionRecord:
    decision_id, time, user, groups, repo, outcome, deny, warn, doc, result = row
    return DecisionRecord(
        decision_id=decision_id, time=time, user=user, groups=tuple(json.loads(groups)),
        repo=repo, outcome=outcome, deny=tuple(json.loads(deny)), warn=tuple(json.loads(warn)),
        input=json.loads(doc), result=json.loads(result),
    )  # fmt: skip


def records(
    db: sqlite3.Connection, filters: Filters = Filters(), *, limit: int | None = None
) -> Iterator[DecisionRecord]:
    """The records that match ``filters``, newest first."""
    where, args = filters.where()
    sql = f"SELECT {_COLUMNS} FROM decisions{where} ORDER BY time DESC, decision_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    for row in db.execute(sql, args):
        yield _record(row)


def count(db: sqlite3.Connection, filters: Filters = Filters()) -> int:
    where, args = filters.where()
    return int(db.execute(f"SELECT count(*) FROM decisions{where}", args).fetchone()[0])


def rule_counts(db: sqlite3.Connection, filters: Filters = Filters()) -> dict[str, dict[str, int]]:
    """``{rule: {day: n}}``: per finding id and UTC day, the matching decisions that denied
    or warned with it (``"(allowed)"`` counts the decisions with no finding)."""
    where, args = filters.where()
    sql = f"""
      SELECT substr(time, 1, 10) AS day, j.value AS rule, count(*)
        FROM (SELECT * FROM decisions{where}) AS d, json_each(d.deny) AS j
       GROUP BY day, rule
      UNION ALL
      SELECT substr(time, 1, 10), j.value, count(*)
        FROM (SELECT * FROM decisions{where}) AS d, json_each(d.warn) AS j
       GROUP BY 1, 2
      UNION ALL
      SELECT substr(time, 1, 10), '(allowed)', count(*)
        FROM (SELECT * FROM decisions{where}) AS d WHERE d.outcome = 'allowed'
       GROUP BY 1"""
    out: dict[str, dict[str, int]] = {}
    for day, rule, n in db.execute(sql, args * 3):
        out.setdefault(rule, {})[day] = out.get(rule, {}).get(day, 0) + int(n)
    return out


def users_and_groups(db: sqlite3.Connection, filters: Filters = Filters()) -> dict[str, list[str]]:
    """The distinct users, groups and rule ids of the matching records (for filter menus)."""
    where, args = filters.where()
    users = [u for (u,) in db.execute(f"SELECT DISTINCT user FROM decisions{where} ORDER BY 1",
                                      args)]  # fmt: skip
    matching = f"(SELECT * FROM decisions{where}) AS d"
    groups = [
        g
        for (g,) in db.execute(
            f"SELECT DISTINCT j.value FROM {matching}, json_each(d.groups) AS j ORDER BY 1", args
        )
    ]
    rules = [r for (r,) in db.execute(
        f"SELECT DISTINCT j.value FROM {matching}, json_each(d.deny) AS j UNION"
        f" SELECT DISTINCT j.value FROM {matching}, json_each(d.warn) AS j ORDER BY 1",
        args * 2)]  # fmt: skip
    return {"users": users, "groups": groups, "rules": rules}


def summary(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"store", "records", "newest"}`` for ``versahub status`` (``records`` 0 and
    ``newest`` ``None`` when nothing was recorded yet)."""
    path = store_path(state_dir)
    out: dict[str, Any] = {"store": str(path), "records": 0, "newest": None}
    try:
        db = connect(state_dir)
    except FileNotFoundError:
        return out
    try:
        n, newest = db.execute("SELECT count(*), max(time) FROM decisions").fetchone()
    finally:
        db.close()
    out.update(records=int(n), newest=newest)
    return out
