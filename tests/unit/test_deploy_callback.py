"""The ``versahub_progress`` callback: one line per task and host, a JSON recap, no secrets."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("ansible")

from versahub.deploy.callback_plugins.versahub_progress import CallbackModule


class Task(SimpleNamespace):
    def get_name(self) -> str:
        return self.name


def result(name: str, res: dict, *, no_log: bool = False, action: str = "ansible.builtin.copy"):
    role = SimpleNamespace(get_name=lambda: "hub")
    return SimpleNamespace(
        _task=Task(name=name, _role=role, no_log=no_log, action=action),
        _host=SimpleNamespace(get_name=lambda: "hub1"),
        _result=res,
    )


class Stats:
    def __init__(self) -> None:
        self.processed = {"hub1": 1}
        self.custom = {"_run": {"versahub_hub": {"url": "http://hub1:8000/hub/"}}}

    def summarize(self, host: str) -> dict:
        return {"ok": 3, "changed": 1, "failures": 1, "unreachable": 0, "skipped": 1}


def test_lines_and_recap(tmp_path: Path, monkeypatch, capsys) -> None:
    recap_file = tmp_path / "recap.json"
    monkeypatch.setenv("VERSAHUB_DEPLOY_SUMMARY", str(recap_file))
    cb = CallbackModule()
    cb.v2_runner_on_ok(result("Write site.yaml", {"changed": True}))
    cb.v2_runner_on_ok(result("Read it", {"changed": False}))
    cb.v2_runner_on_ok(result("Include", {}, action="ansible.builtin.include_tasks"))
    cb.v2_runner_on_skipped(result("Skip me", {}))
    cb.v2_runner_on_failed(result("Read the password", {"msg": "s3cret"}, no_log=True))
    cb.v2_playbook_on_stats(Stats())
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["changed", "hub1", "hub", ":", "Write", "site.yaml"]
    assert out[1].startswith("ok ")
    assert "Include" not in "\n".join(out)
    assert "s3cret" not in "\n".join(out)
    assert "details hidden (no_log)" in out[2]
    recap = json.loads(recap_file.read_text())
    assert recap["changed"] == [{"host": "hub1", "task": "hub : Write site.yaml"}]
    assert recap["failed"][0]["message"] == "details hidden (no_log)"
    assert recap["skipped"] == 1
    assert recap["custom"]["versahub_hub"]["url"] == "http://hub1:8000/hub/"
    assert recap_file.stat().st_mode & 0o777 == 0o600
