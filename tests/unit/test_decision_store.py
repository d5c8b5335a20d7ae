"""The decision store on a real SQLite file: idempotent adds, keep_days, filters, counts per
rule and day, filter menus, ordering, file modes, and filter values that look like SQL."""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from versahub.policy.decision_store import (
    Filters,
    add,
    connect,
    count,
    records,
    rule_counts,
    store_path,
    users_and_groups,
)
from versahub.policy.records import DecisionRecord, iso, record_from_event

NOW = _dt.datetime(2026, 11, 29, 12, 0, tzinfo=_dt.UTC)
REPO_A = "https://github.com/binder-examples/requirements"
REPO_B = "https://gitlab.com/Lab/Private-Analysis"


def at(hours_ago: float) -> str:
    return iso(NOW - _dt.timedelta(hours=hours_ago))


def rec(
    ident: str,
    hours_ago: float,
    *,
    user: str = "alice",
    groups: tuple[str, ...] = ("ds101",),
    repo: str = REPO_A,
    deny: tuple[str, ...] = (),
    warn: tuple[str, ...] = (),
) -> DecisionRecord:
    outcome = "denied" if deny else "warned" if warn else "allowed"
    result = {"allowed": not deny, "deny": [{"id": d} for d in deny],
              "warn": [{"id": w} for w in warn]}  # fmt: skip
    return DecisionRecord(
        decision_id=ident, time=at(hours_ago), user=user, groups=groups, repo=repo,
        outcome=outcome, deny=deny, warn=warn,
        input={"spec": {"repo": repo, "mounts": [{"volume": "home", "path": "/p", "mode": "rw"}]},
               "user": {"name": user, "groups": list(groups)}},
        result=result,
    )  # fmt: skip


# Two days of decisions (NOW is 12:00 on 2026-11-29).
SAMPLE = [
    rec("a1", 1, deny=("resources-over-cap",), warn=("internet-egress",)),
    rec("a2", 2, warn=("internet-egress", "large-request")),
    rec("a3", 3),
    rec("b1", 4, user="bob", groups=("staff", "ds101-teachers"), repo=REPO_B,
        deny=("mount-denied", "resources-over-cap")),
    rec("b2", 14, user="bob", groups=("staff", "ds101-teachers"), repo=REPO_B),  # 11-28
    rec("c1", 20, user="carol", groups=(), warn=("internet-egress",)),  # 2026-11-28
    rec("c2", 30, user="carol", groups=(), deny=("repo-banned",)),  # 2026-11-28
]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path, create=True)
    assert add(conn, SAMPLE, keep_days=30, now=NOW) == len(SAMPLE)
    yield conn
    conn.close()


def ids(found: Any) -> list[str]:
    return [r.decision_id for r in found]


def test_a_record_round_trips_with_its_documents(db: sqlite3.Connection) -> None:
    stored = {r.decision_id: r for r in records(db)}
    for original in SAMPLE:
        got = stored[original.decision_id]
        assert got == original
        assert got.input == original.input and got.result == original.result
        assert isinstance(got.groups, tuple) and isinstance(got.deny, tuple)


def test_adding_is_idempotent_per_decision_id(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    assert add(conn, SAMPLE[:3], keep_days=30, now=NOW) == 3
    assert add(conn, SAMPLE[:3], keep_days=30, now=NOW) == 0  # OPA uploaded the batch again
    assert add(conn, SAMPLE[:5], keep_days=30, now=NOW) == 2
    # the same id twice in one batch is one record; a later copy never replaces the first
    changed = rec("a1", 1, user="mallory")
    assert add(conn, [rec("n1", 1), rec("n1", 1), changed], keep_days=30, now=NOW) == 1
    assert count(conn) == 6
    assert next(records(conn, Filters(user="alice"), limit=1)).decision_id == "a1"
    assert count(conn, Filters(user="mallory")) == 0
    assert add(conn, [], keep_days=30, now=NOW) == 0
    conn.close()


def test_records_older_than_keep_days_are_not_kept(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    old, edge, young = rec("old", 24 * 31), rec("edge", 24 * 30), rec("young", 24 * 29)
    assert add(conn, [old, edge, young], keep_days=30, now=NOW) == 2
    assert ids(records(conn)) == ["young", "edge"]  # exactly keep_days old: still kept
    # existing records are dropped by the next add, even one that adds nothing
    assert add(conn, [], keep_days=30, now=NOW + _dt.timedelta(seconds=1)) == 0
    assert ids(records(conn)) == ["young"]
    assert add(conn, [rec("new", 0)], keep_days=30, now=NOW + _dt.timedelta(days=2)) == 1
    assert ids(records(conn)) == ["new"]
    # a shorter keep_days applies to what is already there
    assert add(conn, [], keep_days=0, now=NOW + _dt.timedelta(days=3)) == 0
    assert count(conn) == 0
    conn.close()


def test_the_default_now_is_the_current_time(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    fresh = DecisionRecord("fresh", iso(_dt.datetime.now(_dt.UTC)), "u", (), "r", "allowed",
                           (), (), {}, {})  # fmt: skip
    stale = DecisionRecord("stale", "2000-01-01T00:00:00.000000Z", "u", (), "r", "allowed",
                           (), (), {}, {})  # fmt: skip
    assert add(conn, [fresh, stale], keep_days=1) == 1
    assert ids(records(conn)) == ["fresh"]
    conn.close()


def test_newest_first_and_limit(db: sqlite3.Connection) -> None:
    assert ids(records(db)) == ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]
    assert ids(records(db, limit=2)) == ["a1", "a2"]
    assert ids(records(db, limit=0)) == []
    assert ids(records(db, Filters(user="carol"), limit=1)) == ["c1"]
    assert ids(records(db, limit=100)) == ids(records(db))


def test_same_time_is_ordered_by_decision_id(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    add(conn, [rec("z", 1), rec("m", 1), rec("a", 1)], keep_days=30, now=NOW)
    assert ids(records(conn)) == ["a", "m", "z"]
    conn.close()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]),
        (Filters(since=at(3)), ["a1", "a2", "a3"]),  # inclusive
        (Filters(until=at(3)), ["b1", "b2", "c1", "c2"]),  # exclusive
        (Filters(since=at(20), until=at(2)), ["a3", "b1", "b2", "c1"]),
        (Filters(since="2026-11-29T00:00:00.000000Z"), ["a1", "a2", "a3", "b1"]),
        (Filters(rule="resources-over-cap"), ["a1", "b1"]),
        (Filters(rule="internet-egress"), ["a1", "a2", "c1"]),  # denied and warned
        (Filters(rule="large-request"), ["a2"]),
        (Filters(rule="resources"), []),  # ids match whole, not as a prefix
        (Filters(rule="(allowed)"), []),
        (Filters(outcome="allowed"), ["a3", "b2"]),
        (Filters(outcome="warned"), ["a2", "c1"]),
        (Filters(outcome="denied"), ["a1", "b1", "c2"]),
        (Filters(user="bob"), ["b1", "b2"]),
        (Filters(user="bo"), []),  # exact user
        (Filters(user="Bob"), []),
        (Filters(group="ds101"), ["a1", "a2", "a3"]),  # not ds101-teachers
        (Filters(group="ds101-teachers"), ["b1", "b2"]),
        (Filters(group="ds"), []),
        (Filters(repo="gitlab.com"), ["b1", "b2"]),  # substring
        (Filters(repo="binder-examples/req"), ["a1", "a2", "a3", "c1", "c2"]),
        (Filters(repo="Private"), ["b1", "b2"]),
        (Filters(repo="https://"), ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]),
        (Filters(repo="%"), []),  # not a LIKE pattern
        (Filters(repo="_"), []),
        (Filters(rule="resources-over-cap", user="bob"), ["b1"]),
        (Filters(outcome="denied", group="staff", repo="gitlab"), ["b1"]),
        (Filters(rule="internet-egress", outcome="warned", since=at(10)), ["a2"]),
        (Filters(user="carol", rule="repo-banned", since=at(24)), []),
        (Filters(since="", until="", rule="", user="", group="", repo=""),
         ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]),  # empty: any
    ],
)  # fmt: skip
def test_filters(db: sqlite3.Connection, filters: Filters, expected: list[str]) -> None:
    assert ids(records(db, filters)) == expected
    assert count(db, filters) == len(expected)


@pytest.mark.parametrize(
    "value",
    [
        "' OR '1'='1",
        "alice' --",
        "x'); DROP TABLE decisions; --",
        '" OR 1=1 --',
        "%' OR 1=1 OR repo LIKE '%",
        "1) OR (1=1",
        "\x00",
    ],
)
def test_filter_values_that_look_like_sql_are_only_values(
    db: sqlite3.Connection, value: str
) -> None:
    for field in ("since", "until", "rule", "outcome", "user", "group", "repo"):
        filters = Filters(**{field: value})
        got = ids(records(db, filters))
        assert count(db, filters) == len(got)
        rule_counts(db, filters)
        users_and_groups(db, filters)
        if field not in ("since", "until"):  # a time string compares, the others match
            assert got == [], (field, value)
    assert count(db) == len(SAMPLE)  # nothing dropped
    assert db.execute("SELECT count(*) FROM decisions").fetchone() == (len(SAMPLE),)


def test_a_stored_value_that_looks_like_sql_is_found_as_it_is(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    name = "x'); DROP TABLE decisions; --"
    add(conn, [rec("q1", 1, user=name, groups=(name,), repo=f"https://h/{name}")],
        keep_days=30, now=NOW)  # fmt: skip
    assert ids(records(conn, Filters(user=name, group=name, repo=name))) == ["q1"]
    assert users_and_groups(conn) == {"users": [name], "groups": [name], "rules": []}
    conn.close()


def test_rule_counts_per_day(db: sqlite3.Connection) -> None:
    assert rule_counts(db) == {
        "resources-over-cap": {"2026-11-29": 2},
        "mount-denied": {"2026-11-29": 1},
        "internet-egress": {"2026-11-29": 2, "2026-11-28": 1},
        "large-request": {"2026-11-29": 1},
        "repo-banned": {"2026-11-28": 1},
        "(allowed)": {"2026-11-29": 1, "2026-11-28": 1},
    }
    assert rule_counts(db, Filters(user="bob")) == {
        "resources-over-cap": {"2026-11-29": 1},
        "mount-denied": {"2026-11-29": 1},
        "(allowed)": {"2026-11-28": 1},
    }
    # the filters apply to each part of the union (their arguments are repeated)
    assert rule_counts(db, Filters(since=at(3), outcome="allowed")) == {
        "(allowed)": {"2026-11-29": 1}
    }
    assert rule_counts(db, Filters(rule="internet-egress")) == {
        "resources-over-cap": {"2026-11-29": 1},
        "internet-egress": {"2026-11-29": 2, "2026-11-28": 1},
        "large-request": {"2026-11-29": 1},
    }
    assert rule_counts(db, Filters(user="nobody")) == {}


def test_a_rule_both_denied_and_warned_the_same_day_is_summed(tmp_path: Path) -> None:
    conn = connect(tmp_path, create=True)
    add(conn, [rec("d", 1, deny=("x.rule",)), rec("w", 2, warn=("x.rule",))],
        keep_days=30, now=NOW)  # fmt: skip
    assert rule_counts(conn) == {"x.rule": {"2026-11-29": 2}}
    conn.close()


def test_users_groups_and_rules_for_filter_menus(db: sqlite3.Connection) -> None:
    assert users_and_groups(db) == {
        "users": ["alice", "bob", "carol"],
        "groups": ["ds101", "ds101-teachers", "staff"],
        "rules": ["internet-egress", "large-request", "mount-denied", "repo-banned",
                  "resources-over-cap"],
    }  # fmt: skip
    assert users_and_groups(db, Filters(outcome="warned")) == {
        "users": ["alice", "carol"], "groups": ["ds101"],
        "rules": ["internet-egress", "large-request"],
    }  # fmt: skip
    assert users_and_groups(db, Filters(user="nobody")) == {"users": [], "groups": [], "rules": []}


def test_the_file_is_private(tmp_path: Path) -> None:
    conn = connect(tmp_path / "state", create=True)
    add(conn, SAMPLE, keep_days=30, now=NOW)
    path = store_path(tmp_path / "state")
    assert path == tmp_path / "state" / "policy" / "decisions.sqlite"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    conn.close()
    # opening it again (create or not) keeps it so
    connect(tmp_path / "state", create=True).close()
    connect(tmp_path / "state").close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_reader_sees_what_the_writer_added(tmp_path: Path) -> None:
    writer = connect(tmp_path, create=True)
    add(writer, SAMPLE[:2], keep_days=30, now=NOW)
    reader = connect(tmp_path)
    assert count(reader) == 2
    add(writer, SAMPLE[2:], keep_days=30, now=NOW)
    assert count(reader) == len(SAMPLE)
    assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reader.close()
    writer.close()


def test_a_missing_store_is_not_created_by_a_reader(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        connect(tmp_path)
    with pytest.raises(FileNotFoundError):
        connect(tmp_path / "no-such-state")
    assert not (tmp_path / "policy").exists()
    assert not (tmp_path / "no-such-state").exists()


def test_records_made_from_events_are_stored(tmp_path: Path) -> None:
    event = {
        "decision_id": "4ca636c1-55e4-417a-b1d8-4aceb67960d1",
        "path": "versahub/spawn/decision",
        "timestamp": "2026-11-29T11:00:00.123456789+01:00",
        "input": {"spec": {"repo": REPO_A}, "user": {"name": "alice", "groups": ["g"]}},
        "result": {"allowed": True, "deny": [], "warn": [{"id": "internet-egress"}]},
    }
    record = record_from_event(event)
    assert record is not None
    conn = connect(tmp_path, create=True)
    assert add(conn, [record], keep_days=30, now=NOW) == 1
    [stored] = records(conn, Filters(since="2026-11-29T10:00:00.123456Z"))
    assert stored == record and stored.input == event["input"]
    assert count(conn, Filters(since="2026-11-29T10:00:00.123457Z")) == 0
    conn.close()


def test_summary_for_versahub_status(tmp_path: Path) -> None:
    from versahub.policy.decision_store import summary

    assert summary(tmp_path) == {
        "store": str(tmp_path / "policy" / "decisions.sqlite"), "records": 0, "newest": None,
    }  # fmt: skip
    db = connect(tmp_path, create=True)
    db.close()
    assert summary(tmp_path)["records"] == 0
