"""Resource accounting storage: ``<state_dir>/accounting/usage.sqlite`` (docs/accounting.md).

Per user and hour: CPU-seconds, memory GiB-hours and server-hours, added up from the hub's
samples of its servers (``versahub.hub.accounting``), and the user's groups as last seen.
Bounded: hourly rows older than ``keep_hourly_days`` are rolled up into daily rows
(:func:`rollup`), daily rows older than ``keep_daily_days`` are dropped. SQLite in WAL mode,
one writer (the hub's service), readers anytime (``versahub usage``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.util.sqlite import open_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS hourly (
  user TEXT NOT NULL, hour TEXT NOT NULL,
  cpu_seconds REAL NOT NULL DEFAULT 0, memory_gib_hours REAL NOT NULL DEFAULT 0,
  server_hours REAL NOT NULL DEFAULT 0, PRIMARY KEY (user, hour));
CREATE TABLE IF NOT EXISTS daily (
  user TEXT NOT NULL, day TEXT NOT NULL,
  cpu_seconds REAL NOT NULL DEFAULT 0, memory_gib_hours REAL NOT NULL DEFAULT 0,
  server_hours REAL NOT NULL DEFAULT 0, PRIMARY KEY (user, day));
CREATE TABLE IF NOT EXISTS user_groups (user TEXT PRIMARY KEY, groups TEXT NOT NULL);
"""
GIB = 1024**3


@dataclass(frozen=True)
class Sample:
    """What one server used since the previous sample."""

    user: str
    cpu_seconds: float
    memory_bytes: float
    seconds: float


def usage_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "accounting" / "usage.sqlite"


def connect(state_dir: str | os.PathLike[str], *, create: bool = False) -> sqlite3.Connection:
    return open_store(usage_path(state_dir), SCHEMA, create=create)


def hour_of(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:00Z")


def add_samples(
    db: sqlite3.Connection, samples: Iterable[Sample], when: _dt.datetime,
    groups: Mapping[str, Iterable[str]],
) -> None:  # fmt: skip
    hour = hour_of(when)
    with db:
        for s in samples:
            db.execute(
                "INSERT INTO hourly VALUES (?, ?, ?, ?, ?) ON CONFLICT(user, hour) DO UPDATE SET"
                " cpu_seconds = cpu_seconds + excluded.cpu_seconds,"
                " memory_gib_hours = memory_gib_hours + excluded.memory_gib_hours,"
                " server_hours = server_hours + excluded.server_hours",
                (s.user, hour, s.cpu_seconds, s.memory_bytes / GIB * s.seconds / 3600,
                 s.seconds / 3600),
            )  # fmt: skip
        for user, names in groups.items():
            db.execute("INSERT OR REPLACE INTO user_groups VALUES (?, ?)",
                       (user, json.dumps(sorted(names))))  # fmt: skip


def rollup(db: sqlite3.Connection, now: _dt.datetime, *, keep_hourly_days: int,
           keep_daily_days: int) -> None:  # fmt: skip
    """Fold old hourly rows into daily ones; drop daily rows past their keep."""
    cutoff = hour_of(now - _dt.timedelta(days=keep_hourly_days))
    day_cutoff = (now - _dt.timedelta(days=keep_daily_days)).strftime("%Y-%m-%d")
    with db:
        db.execute(
            "INSERT INTO daily SELECT user, substr(hour, 1, 10), sum(cpu_seconds),"
            " sum(memory_gib_hours), sum(server_hours) FROM hourly WHERE hour < ?"
            " GROUP BY user, substr(hour, 1, 10) ON CONFLICT(user, day) DO UPDATE SET"
            " cpu_seconds = cpu_seconds + excluded.cpu_seconds,"
            " memory_gib_hours = memory_gib_hours + excluded.memory_gib_hours,"
            " server_hours = server_hours + excluded.server_hours",
            (cutoff,),
        )
        db.execute("DELETE FROM hourly WHERE hour < ?", (cutoff,))
        db.execute("DELETE FROM daily WHERE day < ?", (day_cutoff,))


def usage(db: sqlite3.Connection, *, since: str = "", user: str | None = None,
          group: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Totals per user since ``since`` (``YYYY-MM-DD``), for one user or a group's members."""
    members: set[str] | None = None
    if group is not None:
        members = {
            u for u, g in db.execute("SELECT user, groups FROM user_groups")
            if group in json.loads(g)
        }  # fmt: skip
    rows = db.execute(
        "SELECT user, sum(cpu_seconds), sum(memory_gib_hours), sum(server_hours) FROM ("
        " SELECT user, cpu_seconds, memory_gib_hours, server_hours FROM hourly"
        "  WHERE substr(hour, 1, 10) >= ?"
        " UNION ALL SELECT user, cpu_seconds, memory_gib_hours, server_hours FROM daily"
        "  WHERE day >= ?) GROUP BY user ORDER BY user",
        (since, since),
    ).fetchall()
    out = []
    for name, cpu, mem, hours in rows:
        if user is not None and name != user:
            continue
        if members is not None and name not in members:
            continue
        out.append({
            "user": name, "cpu_seconds": round(cpu, 3), "memory_gib_hours": round(mem, 6),
            "server_hours": round(hours, 6),
        })  # fmt: skip
    return out


METRICS = ("cpu_seconds", "memory_gib_hours", "server_hours")


def daily_by_group(
    db: sqlite3.Connection, *, since: str, metric: str
) -> dict[str, dict[str, float]]:
    """``{group: {day: total}}`` of ``metric`` since ``since`` (a user in no group counts
    under ``(no group)``; a user in several groups counts in each)."""
    if metric not in METRICS:
        raise ValueError(metric)
    groups = {u: json.loads(g) for u, g in db.execute("SELECT user, groups FROM user_groups")}
    day = "substr(hour, 1, 10)"
    rows = db.execute(
        f"SELECT user, {day}, sum({metric}) FROM hourly WHERE {day} >= ? GROUP BY user, {day}"
        f" UNION ALL SELECT user, day, {metric} FROM daily WHERE day >= ?",
        (since, since),
    ).fetchall()
    out: dict[str, dict[str, float]] = {}
    for user, day, value in rows:
        for group in groups.get(user) or ["(no group)"]:
            series = out.setdefault(group, {})
            series[day] = series.get(day, 0.0) + float(value)
    return out


def month_usage(state_dir: str | os.PathLike[str], groups: Iterable[str],
                now: _dt.datetime | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """What each of ``groups``' members used together this calendar month (UTC), in hours:
    ``{group: {"cpu_hours", "memory_gib_hours", "server_hours"}}`` (the policy's input)."""
    wanted = list(groups)
    try:
        db = connect(state_dir)
    except FileNotFoundError:
        return {g: {"cpu_hours": 0.0, "memory_gib_hours": 0.0, "server_hours": 0.0}
                for g in wanted}  # fmt: skip
    try:
        return month_usage_of(db, wanted, now)
    finally:
        db.close()


def month_usage_of(
    db: sqlite3.Connection, groups: Iterable[str], now: _dt.datetime | None = None
) -> dict[str, dict[str, float]]:
    """:func:`month_usage` on an open store."""
    since = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-01")
    out = {}
    for group in groups:
        rows = usage(db, since=since, group=group)
        out[group] = {
            "cpu_hours": round(sum(r["cpu_seconds"] for r in rows) / 3600, 6),
            "memory_gib_hours": round(sum(r["memory_gib_hours"] for r in rows), 6),
            "server_hours": round(sum(r["server_hours"] for r in rows), 6),
        }
    return out
