"""``versahub usage``: what each user (or a group's members) consumed (docs/accounting.md).

Reads ``<state_dir>/accounting/usage.sqlite`` (written by the hub's accounting service);
no running hub is needed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from pathlib import Path

import click

from versahub.cli.site import site_option
from versahub.errors import InputError
from versahub.site.config import load_site
from versahub.site.usage_store import connect, usage

_DAYS = re.compile(r"^(\d{1,4})d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIELDS = ("user", "cpu_seconds", "memory_gib_hours", "server_hours")


def since_date(value: str, today: _dt.date) -> str:
    """``YYYY-MM-DD`` or ``<n>d`` (n days ago) as ``YYYY-MM-DD``."""
    days = _DAYS.match(value)
    if days:
        return (today - _dt.timedelta(days=int(days.group(1)))).isoformat()
    if _DATE.match(value):
        try:
            return _dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InputError("--since", f"{value!r} is not a date (YYYY-MM-DD) or a number of days (30d)")


@click.command("usage")
@click.option("--user", default=None, help="Only this user.")
@click.option("--group", default=None, help="Only this group's members (and their total).")
@click.option("--since", default="30d", show_default=True, help="YYYY-MM-DD or <n>d.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@site_option
def usage_command(user: str | None, group: str | None, since: str, as_csv: bool,
                  as_json: bool, site_file: Path) -> int:  # fmt: skip
    """Resources used per user: CPU-seconds, memory GiB-hours, server-hours."""
    if as_csv and as_json:
        raise InputError("--csv", "cannot be combined with --json")
    start = since_date(since, _dt.datetime.now(_dt.UTC).date())
    site = load_site(site_file)
    try:
        db = connect(site.state_dir)
    except FileNotFoundError:
        rows = []
    else:
        try:
            rows = usage(db, since=start, user=user, group=group)
        finally:
            db.close()
    total = {k: round(sum(r[k] for r in rows), 6) for k in FIELDS[1:]}
    if as_json:
        click.echo(json.dumps({"since": start, "group": group, "users": rows, "total": total},
                              indent=2))  # fmt: skip
    elif as_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        click.echo(f"since {start}" + (f", group {group}" if group else ""))
        click.echo(f"{'user':<24} {'CPU s':>12} {'memory GiB·h':>14} {'server h':>10}")
        for r in rows:
            click.echo(f"{r['user']:<24} {r['cpu_seconds']:>12.1f} "
                       f"{r['memory_gib_hours']:>14.3f} {r['server_hours']:>10.2f}")  # fmt: skip
        t = total
        click.echo(f"{'total':<24} {t['cpu_seconds']:>12.1f} "
                   f"{t['memory_gib_hours']:>14.3f} {t['server_hours']:>10.2f}")  # fmt: skip
    return 0
