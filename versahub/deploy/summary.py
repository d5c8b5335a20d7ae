"""Turn the recap written by the ``versahub_progress`` callback into the deploy summary (pure).

The summary says what changed (per host, then the first tasks that changed), where the hub
is and how the admin logs in, or — when a step failed — which host, which task, what it said
and what to do next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

MAX_CHANGED_LINES = 15


def changed_count(recap: Mapping[str, Any]) -> int:
    """Total number of changed task results over all hosts."""
    return sum(int(s.get("changed", 0)) for s in recap.get("hosts", {}).values())


def summary_lines(recap: Mapping[str, Any], *, check: bool = False) -> list[str]:
    """The lines printed after ``ansible-playbook`` ends."""
    hosts: Mapping[str, Mapping[str, int]] = recap.get("hosts", {})
    failed = list(recap.get("failed", []))
    seconds = recap.get("seconds", 0)
    total = changed_count(recap)
    lines: list[str] = []
    if failed:
        first = failed[0]
        lines.append(
            f"Deploy failed on {first['host']} at task {first['task']!r}: "
            f"{first.get('message') or 'no message'}"
        )
        for other in failed[1:5]:
            lines.append(f"  also failed: {other['host']} at {other['task']!r}")
        lines.append(
            "Fix the cause named above and run the same command again: steps that already "
            "succeeded report ok and are not repeated."
        )
        return lines
    verb = "would change" if check else "changed"
    per_host = ", ".join(f"{h}: {s.get('changed', 0)}" for h, s in sorted(hosts.items()))
    mode = "Check finished" if check else "Deploy finished"
    lines.append(
        f"{mode} in {seconds:.0f} s on {len(hosts)} host(s): {total} task(s) {verb} ({per_host})."
    )
    if total == 0 and not check:
        lines.append("Nothing changed: the site already matches the inventory.")
    changed = list(recap.get("changed", []))
    if changed:
        by_task = Counter(f"{c['task']}" for c in changed)
        for task, count in list(by_task.items())[:MAX_CHANGED_LINES]:
            suffix = f" (×{count})" if count > 1 else ""
            lines.append(f"  {verb}: {task}{suffix}")
        if len(by_task) > MAX_CHANGED_LINES:
            lines.append(f"  … and {len(by_task) - MAX_CHANGED_LINES} more")
    hub = recap.get("custom", {}).get("versahub_hub")
    if hub:
        lines.append(f"Hub: {hub['url']} (on {hub['host']})")
        admins = ", ".join(hub.get("admin_users") or []) or "none configured"
        lines.append(f"  admin users: {admins}")
        if hub.get("auth") == "demo":
            users = hub.get("demo_users") or []
            login = (hub.get("admin_users") or users or ["?"])[0]
            lines.append(f"  demo login:  user {login!r} (or any of {', '.join(users)})")
            if hub.get("demo_password"):
                lines.append(f"  password:    {hub['demo_password']}")
        else:
            lines.append(f"  login:       through the site's {hub.get('auth')} authenticator")
    elif not check:
        lines.append(
            "No hub host in this run (is the hub group empty, or excluded by --limit/--tags?)."
        )
    if not check:
        lines.append("Re-run the same command to upgrade the site.")
    return lines
