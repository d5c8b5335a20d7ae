"""Ansible stdout callback of ``versahub deploy``: one line per task and host, and a recap file.

Each result prints ``<status> <host> <task>`` (skipped tasks are counted, not printed);
failures add the module's message. At the end it writes the recap as JSON to the file named
by ``$VERSAHUB_DEPLOY_SUMMARY`` (per-host counts, the tasks that changed something, the
failures, and the ``set_stats`` data of the hub role) for the command to summarise.
It never prints the values of tasks marked ``no_log``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: versahub_progress
    type: stdout
    short_description: one line per task and host, and a JSON recap for versahub deploy
    description:
      - Prints one line per task result and writes a JSON recap to $VERSAHUB_DEPLOY_SUMMARY.
"""

WIDTH = 8
# Includes only say "the next tasks come from this file": their own tasks get lines.
SILENT_ACTIONS = frozenset(
    {
        "include_tasks",
        "ansible.builtin.include_tasks",
        "include_role",
        "ansible.builtin.include_role",
    }
)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "versahub_progress"

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()
        self._changed: list[dict[str, str]] = []
        self._failed: list[dict[str, str]] = []
        self._skipped = 0

    # -- output -----------------------------------------------------------------------
    def _line(self, status: str, host: str, task: str, detail: str = "") -> None:
        text = f"{status:<{WIDTH}} {host:<20} {task}"
        if detail:
            text += f"  — {detail}"
        print(text, flush=True)

    @staticmethod
    def _task_name(result: Any) -> str:
        task = result._task
        role = getattr(task, "_role", None)
        name = task.get_name().strip()
        if role is not None and not name.startswith(f"{role.get_name()} :"):
            name = f"{role.get_name()} : {name}"
        return name

    @staticmethod
    def _message(result: Any) -> str:
        res = result._result
        if res.get("_ansible_no_log") or result._task.no_log:
            return "details hidden (no_log)"
        msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
        if not msg and res.get("results"):
            for item in res["results"]:
                if isinstance(item, dict) and item.get("failed"):
                    msg = item.get("msg") or item.get("stderr") or ""
                    break
        return " ".join(str(msg).split())[:500]

    # -- events -----------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play: Any) -> None:
        name = play.get_name().strip()
        print(f"\n== {name}", flush=True)

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._task.action in SILENT_ACTIONS:
            return
        host = result._host.get_name()
        task = self._task_name(result)
        if result._result.get("changed"):
            self._changed.append({"host": host, "task": task})
            self._line("changed", host, task)
        else:
            self._line("ok", host, task)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        host = result._host.get_name()
        task = self._task_name(result)
        message = self._message(result)
        if ignore_errors:
            self._line("ignored", host, task, message)
            return
        self._failed.append({"host": host, "task": task, "message": message})
        self._line("FAILED", host, task, message)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        host = result._host.get_name()
        task = self._task_name(result)
        message = self._message(result)
        self._failed.append({"host": host, "task": task, "message": f"unreachable: {message}"})
        self._line("UNREACH", host, task, message)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._skipped += 1

    def v2_playbook_on_no_hosts_matched(self) -> None:
        print("   (no hosts in this group)", flush=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = sorted(stats.processed.keys())
        recap = {
            "hosts": {h: stats.summarize(h) for h in hosts},
            "changed": self._changed,
            "failed": self._failed,
            "skipped": self._skipped,
            "custom": dict(stats.custom.get("_run", {})) if stats.custom else {},
            "seconds": round(time.monotonic() - self._started, 1),
        }
        print("", flush=True)
        for host in hosts:
            s = recap["hosts"][host]
            print(
                f"recap    {host:<20} ok={s['ok']} changed={s['changed']} "
                f"failed={s['failures']} unreachable={s['unreachable']} skipped={s['skipped']}",
                flush=True,
            )
        path = os.environ.get("VERSAHUB_DEPLOY_SUMMARY")
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(recap, out, indent=2, sort_keys=True, default=str)

    def v2_playbook_on_warning(self, msg: str) -> None:  # pragma: no cover - ansible-core >= 2.19
        print(f"warning  {msg}", file=sys.stderr, flush=True)
