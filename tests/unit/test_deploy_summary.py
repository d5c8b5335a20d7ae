"""The deploy summary (pure): what changed, where the hub is, the login, or what failed."""

from __future__ import annotations

import pytest

from versahub.deploy.summary import changed_count, summary_lines

HUB = {
    "host": "hub1",
    "url": "http://hub1:8000/hub/",
    "admin_users": ["admin"],
    "auth": "demo",
    "demo_users": ["alice", "admin"],
    "demo_password": "s3cret",
}


def recap(changed: int = 2, failed: list | None = None, hub: dict | None = HUB) -> dict:
    return {
        "hosts": {"hub1": {"ok": 10, "changed": changed, "failures": 0, "unreachable": 0}},
        "changed": [{"host": "hub1", "task": f"hub : Task {i}"} for i in range(changed)],
        "failed": failed or [],
        "custom": {"versahub_hub": hub} if hub else {},
        "seconds": 12.3,
    }


def test_success_names_changes_hub_and_login() -> None:
    text = "\n".join(summary_lines(recap()))
    assert "2 task(s) changed (hub1: 2)" in text
    assert "changed: hub : Task 0" in text
    assert "Hub: http://hub1:8000/hub/ (on hub1)" in text
    assert "admin users: admin" in text
    assert "user 'admin'" in text
    assert "password:    s3cret" in text


def test_second_run_says_nothing_changed() -> None:
    text = "\n".join(summary_lines(recap(changed=0)))
    assert "Nothing changed" in text
    assert changed_count(recap(changed=0)) == 0


def test_failure_names_host_task_and_next_step() -> None:
    lines = summary_lines(
        recap(failed=[{"host": "hub1", "task": "opa : Copy", "message": "No OPA binary"}])
    )
    assert lines[0] == "Deploy failed on hub1 at task 'opa : Copy': No OPA binary"
    assert "run the same command again" in lines[-1]


def test_check_mode_says_would_change() -> None:
    text = "\n".join(summary_lines(recap(), check=True))
    assert "would change" in text and "Check finished" in text


def test_sso_site_has_no_password_line() -> None:
    hub = dict(HUB, auth="generic", demo_password="")
    text = "\n".join(summary_lines(recap(hub=hub)))
    assert "password" not in text
    assert "generic authenticator" in text


@pytest.mark.parametrize("n", [16, 40])
def test_long_change_lists_are_cut(n: int) -> None:
    text = "\n".join(summary_lines(recap(changed=n)))
    assert f"… and {n - 15} more" in text
