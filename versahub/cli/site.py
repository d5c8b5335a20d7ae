"""``versahub up``, ``versahub down`` and ``versahub status``: thin click wrappers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from versahub.app.hubconfig import REPO_ROOT
from versahub.app.up import down, status, up
from versahub.site.config import load_site

DEFAULT_SITE = REPO_ROOT / "site.yaml"

site_option = click.option(
    "--site",
    "site_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SITE,
    envvar="VERSAHUB_SITE",
    show_default=True,
    help="The site file (validated before anything starts).",
)


@click.command("up")
@site_option
def up_command(site_file: Path) -> int:
    """Start the whole site on this machine and stay in the foreground until stopped."""

    site = load_site(site_file)
    return up(site, click.echo)


@click.command("down")
@site_option
def down_command(site_file: Path) -> int:
    """Stop the site started by `versahub up` and everything it started."""

    return down(load_site(site_file), click.echo)


@click.command("status")
@site_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status_command(site_file: Path, as_json: bool) -> int:
    """Report each component's state (exit 0 when the site is running, 1 when not)."""

    report = status(load_site(site_file))
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        click.echo(f"site {report['site']}: {'running' if report['running'] else 'stopped'}")
        for name, info in report["components"].items():
            detail = info.get("url") or info.get("detail") or info.get("pid") or ""
            click.echo(f"  {name:<8} {info['state']:<8} {detail}")
            if info.get("url") and info.get("detail"):
                click.echo(f"           ! {info['detail']}")
            for problem in info.get("policy_drift", []):
                click.echo(f"           ! {problem}")
            records = info.get("decision_records")
            if records:
                newest = records["newest"] or "none yet"
                click.echo(f"           decision records: {records['records']}, newest {newest}")
    return 0 if report["running"] else 1
