"""The pure parts of the OPA process wiring and the client's URL handling."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from versahub.errors import InputError
from versahub.policy.client import PolicyClient, split_opa_url
from versahub.policy.server import (
    OpaNotFound,
    check_loopback,
    decision_log_entries,
    find_opa,
    opa_command,
)


def test_opa_command() -> None:
    assert opa_command("pol", "data", "127.0.0.1:8181", opa="/x/opa") == [
        "/x/opa", "run", "--server", "--addr", "127.0.0.1:8181", "--watch",
        "--log-format", "json", "--skip-version-check",
        "--ignore", ".*", "--ignore", "*_test.rego",
        "--set", "decision_logs.console=true", "pol", "data",
    ]  # fmt: skip


def test_opa_command_without_decision_log_or_data() -> None:
    cmd = opa_command(Path("pol"), None, "[::1]:9000", decision_log_console=False)
    assert cmd[0] == "opa" and cmd[-1] == "pol"
    assert "decision_logs.console=true" not in cmd


@pytest.mark.parametrize("addr", ["127.0.0.1:8181", "127.0.0.2:1", "localhost:8181", "[::1]:8181"])
def test_loopback_ok(addr: str) -> None:
    assert check_loopback(addr)[1] > 0


@pytest.mark.parametrize(
    "addr", ["0.0.0.0:8181", ":8181", "10.0.0.1:8181", "opa.example.org:8181", "127.0.0.1",
             "127.0.0.1:0", "127.0.0.1:99999", "[::]:8181"],
)  # fmt: skip
def test_loopback_refused(addr: str) -> None:
    with pytest.raises(InputError):
        opa_command("p", "d", addr)


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_opa_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_opa = _exe(tmp_path / "env" / "opa")
    repo_opa = _exe(tmp_path / "repo" / ".tools" / "opa")
    monkeypatch.setenv("VERSAHUB_OPA", str(env_opa))
    assert find_opa(tmp_path / "repo") == str(env_opa)
    monkeypatch.delenv("VERSAHUB_OPA")
    assert find_opa(tmp_path / "repo") == str(repo_opa)


def test_find_opa_bad_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERSAHUB_OPA", str(tmp_path / "missing"))
    with pytest.raises(OpaNotFound, match="VERSAHUB_OPA"):
        find_opa(tmp_path)


def test_decision_log_entries(tmp_path: Path) -> None:
    log = tmp_path / "opa.log"
    lines = [
        {"msg": "Initializing server."},
        {"msg": "Decision Log", "decision_id": "d1", "input": {}, "result": {"allowed": True},
         "timestamp": "2026-01-01T00:00:00Z"},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    assert [e["decision_id"] for e in decision_log_entries(log)] == ["d1"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8181", ("127.0.0.1", 8181, False)),
        ("http://localhost", ("localhost", 8181, False)),
        ("https://opa.internal:9443/", ("opa.internal", 9443, True)),
        ("http://[::1]:8181", ("[::1]", 8181, False)),
    ],
)
def test_split_opa_url(url: str, expected: tuple) -> None:
    assert split_opa_url(url) == expected


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8181", "ftp://x", "http://x/v1/data", "http://x:port", "http://"]
)
def test_split_opa_url_bad(url: str) -> None:
    with pytest.raises(InputError):
        split_opa_url(url)


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"retries": -1}])
def test_client_arguments(kw: dict) -> None:
    with pytest.raises(InputError):
        PolicyClient("http://127.0.0.1:8181", **kw)
