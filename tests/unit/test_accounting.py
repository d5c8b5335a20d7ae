"""Accounting: samples from Docker stats, hourly rows, rollups, the usage command."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.cli import main
from versahub.hub.accounting import memory_bytes, samples_from
from versahub.site.usage_store import GIB, Sample, add_samples, connect, rollup, usage

T0 = _dt.datetime(2026, 11, 29, 10, 15, tzinfo=_dt.UTC)


def stats(cpu_ns: int, mem: int = GIB, cache: int = 0) -> dict[str, Any]:
    return {"cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
            "memory_stats": {"usage": mem, "stats": {"inactive_file": cache}}}  # fmt: skip


def test_samples_are_differences_since_the_baseline() -> None:
    previous: dict[str, tuple[float, int]] = {}
    assert samples_from({"c1": ("alice", stats(5_000_000_000))}, previous, 100.0) == []
    got = samples_from(
        {"c1": ("alice", stats(8_000_000_000, 2 * GIB, GIB // 2)), "c2": ("bob", stats(1))},
        previous, 160.0,
    )  # fmt: skip
    assert got == [Sample("alice", 3.0, 1.5 * GIB, 60.0)]  # bob's c2: baseline only
    # a restarted container (its counter went back): a new baseline, no negative usage
    assert samples_from({"c1": ("alice", stats(1_000))}, previous, 220.0) == []
    assert set(previous) == {"c1"}  # c2 is gone: forgotten
    assert memory_bytes({}) == 0.0


def test_rows_per_hour_rollups_and_totals(tmp_path: Path) -> None:
    db = connect(tmp_path, create=True)
    groups = {"alice": ["ds101-students"], "bob": ["staff"]}
    add_samples(db, [Sample("alice", 30.0, GIB, 1800.0)], T0, groups)
    add_samples(db, [Sample("alice", 30.0, GIB, 1800.0), Sample("bob", 5.0, 0, 60.0)],
                T0 + _dt.timedelta(minutes=20), groups)  # fmt: skip
    assert usage(db) == [
        {"user": "alice", "cpu_seconds": 60.0, "memory_gib_hours": 1.0, "server_hours": 1.0},
        {"user": "bob", "cpu_seconds": 5.0, "memory_gib_hours": 0.0,
         "server_hours": round(60 / 3600, 6)},
    ]  # fmt: skip
    assert [r["user"] for r in usage(db, group="staff")] == ["bob"]
    assert [r["user"] for r in usage(db, user="alice")] == ["alice"]
    # 40 days later the hourly rows are daily ones, with the same totals
    before = usage(db)
    rollup(db, T0 + _dt.timedelta(days=40), keep_hourly_days=35, keep_daily_days=730)
    assert db.execute("SELECT count(*) FROM hourly").fetchone() == (0,)
    assert usage(db) == before
    rollup(db, T0 + _dt.timedelta(days=800), keep_hourly_days=35, keep_daily_days=730)
    assert usage(db) == []
    assert (tmp_path / "accounting" / "usage.sqlite").stat().st_mode & 0o777 == 0o600


def test_usage_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"state_dir": "state"}))
    db = connect(tmp_path / "state", create=True)
    now = _dt.datetime.now(_dt.UTC)
    add_samples(db, [Sample("alice", 90.0, 2 * GIB, 3600.0)], now, {"alice": ["lab"]})
    db.close()
    assert main(["usage", "--json", "--group", "lab", "--site", str(site)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["users"][0]["cpu_seconds"] == 90.0 and doc["total"]["memory_gib_hours"] == 2.0
    assert main(["usage", "--csv", "--site", str(site)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "user,cpu_seconds,memory_gib_hours,server_hours"
    )
    for bad, message in ((["--since", "last week"], "--since: 'last week' is not a date"),
                         (["--since", "2026-13-01"], "--since"),
                         (["--csv", "--json"], "--csv: cannot be combined")):  # fmt: skip
        assert main(["usage", *bad, "--site", str(site)]) == 2
        assert message in capsys.readouterr().err


def test_month_usage_is_what_the_policy_sees(tmp_path: Path) -> None:
    from versahub.policy.input import build_input
    from versahub.site.usage_store import month_usage

    now = _dt.datetime(2026, 11, 29, 12, tzinfo=_dt.UTC)
    assert month_usage(tmp_path, ["lab"], now) == {
        "lab": {"cpu_hours": 0.0, "memory_gib_hours": 0.0, "server_hours": 0.0}
    }
    db = connect(tmp_path, create=True)
    add_samples(db, [Sample("alice", 7200.0, GIB, 3600.0)], now, {"alice": ["lab"]})
    add_samples(db, [Sample("alice", 3600.0, 0, 60.0)], now.replace(month=10), {})
    db.close()
    assert month_usage(tmp_path, ["lab"], now) == {
        "lab": {"cpu_hours": 2.0, "memory_gib_hours": 1.0, "server_hours": 1.0}
    }
    spec = {"repo": "https://github.com/a/b", "ref": "main"}
    user = {"name": "alice", "groups": ["lab"], "admin": False}
    assert "usage" not in build_input(spec, user)  # no quota: the input is as before
    doc = build_input(spec, user, usage=month_usage(tmp_path, ["lab"], now))
    assert doc["usage"] == {"groups": {"lab": {"cpu_hours": 2.0, "memory_gib_hours": 1.0,
                                               "server_hours": 1.0}}}  # fmt: skip


def test_cgroup_counters_when_the_engine_reports_none(tmp_path: Path) -> None:
    from versahub.hub.accounting import cgroup_stats, cpu_nanoseconds

    cid = "ab" * 32
    v1 = tmp_path / "v1"
    (v1 / "cpuacct" / "docker" / cid).mkdir(parents=True)
    (v1 / "memory" / "docker" / cid).mkdir(parents=True)
    (v1 / "cpuacct" / "docker" / cid / "cpuacct.usage").write_text("3004756672\n")
    (v1 / "memory" / "docker" / cid / "memory.usage_in_bytes").write_text("2097152\n")
    (v1 / "memory" / "docker" / cid / "memory.stat").write_text("total_inactive_file 1048576\n")
    doc = cgroup_stats(cid, v1)
    assert cpu_nanoseconds(doc) == 3004756672 and memory_bytes(doc) == 1048576.0
    v2 = tmp_path / "v2" / "system.slice" / f"docker-{cid}.scope"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (v2 / "memory.current").write_text("4096\n")
    assert cpu_nanoseconds(cgroup_stats(cid, tmp_path / "v2")) == 1_500_000_000
    assert cgroup_stats("cd" * 32, tmp_path / "v2") is None
