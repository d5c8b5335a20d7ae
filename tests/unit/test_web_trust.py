"""The "Don't ask again" store (versahub.web.trust)."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from versahub.web.trust import TrustStore

SPEC = "0123456789abcdef"
OTHER = "fedcba9876543210"


def test_add_covers_list_remove(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "web" / "trust.json")
    assert store.list("alice") == {}
    assert not store.covers("alice", SPEC, [])
    store.add("alice", SPEC, ["internet-egress", "storage-read-write"], repo="https://x/y")
    assert store.covers("alice", SPEC, ["internet-egress"])
    assert store.covers("alice", SPEC, ["storage-read-write", "internet-egress"])
    assert store.covers("alice", SPEC, [])
    # a new warning (e.g. a link from outside the hub) is not covered
    assert not store.covers("alice", SPEC, ["internet-egress", "origin-external-link"])
    # per user and per spec_id
    assert not store.covers("bob", SPEC, [])
    assert not store.covers("alice", OTHER, [])
    record = store.get("alice", SPEC)
    assert record is not None and record["repo"] == "https://x/y"
    assert record["warn_ids"] == ["internet-egress", "storage-read-write"]
    assert store.remove("alice", OTHER) == 0
    assert store.remove("alice", SPEC) == 1
    assert store.list("alice") == {}


def test_remove_all_and_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    store = TrustStore(path)
    store.add("alice", SPEC, [])
    store.add("alice", OTHER, [])
    store.add("bob", SPEC, [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.remove("alice") == 2
    assert set(json.loads(path.read_text())["users"]) == {"bob"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".trust-")]


def test_a_second_store_on_the_same_file_sees_the_change(tmp_path: Path) -> None:
    first, second = TrustStore(tmp_path / "t.json"), TrustStore(tmp_path / "t.json")
    first.add("alice", SPEC, ["x"])
    assert second.covers("alice", SPEC, ["x"])


def test_a_broken_file_means_ask_again(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{not json")
    store = TrustStore(path)
    assert store.list("alice") == {}
    store.add("alice", SPEC, [])  # and it is repaired on the next write
    assert store.covers("alice", SPEC, [])


def test_rejects_non_spec_ids(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TrustStore(tmp_path / "t.json").add("alice", "../../etc", [])


ADDS_PER_PROCESS = 50


def _add_many(path: str, user: str, start: multiprocessing.synchronize.Barrier) -> None:
    """One hub process: wait for the other, then add records as fast as it can."""
    store = TrustStore(path)
    start.wait(timeout=30)
    for i in range(ADDS_PER_PROCESS):
        store.add(user, f"{i:016x}", ["internet-egress"], repo=f"https://x/{user}/{i}")


def test_two_processes_adding_at_once_lose_no_record(tmp_path: Path) -> None:
    """Each add is a read-modify-write of one file: only a lock across processes (flock,
    not a thread lock) keeps one process's replace from dropping the other's records."""
    path = str(tmp_path / "trust.json")
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_add_many, args=(path, user, start)) for user in ("alice", "bob")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    store = TrustStore(path)
    for user in ("alice", "bob"):
        assert sorted(store.list(user)) == [f"{i:016x}" for i in range(ADDS_PER_PROCESS)]
