"""``versahub deploy -i INVENTORY [--check] [--tags …]``: run the site playbook with progress.

Order: find ``ansible-playbook`` → read and check the inventory on the controller (a bad
value is one line, exit 2, nothing runs) → run ``playbooks/site.yml`` with the
``versahub_progress`` callback (one line per task and host) → print the summary: what
changed, where the hub is, the admin login. A failed step names the host, the task and what
to do, exit 1. Re-running the command is the upgrade; a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from versahub.deploy.inventory import check_inventory, load_inventory
from versahub.deploy.summary import summary_lines
from versahub.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
EXIT_FAILED = 1


def find_tool(name: str) -> str:
    """``ansible-playbook`` / ``ansible-inventory`` next to this Python, else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise click.ClickException(
            f"{name} is not installed: pip install ansible (into VersaHub's virtualenv)"
        )
    return found


def ansible_env(playbook: Path, summary_file: str | None) -> dict[str, str]:
    """Environment of the Ansible commands: the playbook's config and our stdout callback."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(playbook.parent / "ansible.cfg")
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
    env["ANSIBLE_STDOUT_CALLBACK"] = "versahub_progress"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    # The controller-side filters import versahub: make this checkout importable.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    if summary_file:
        env["VERSAHUB_DEPLOY_SUMMARY"] = summary_file
    return env


def playbook_argv(
    playbook: Path,
    inventory: Path,
    *,
    check: bool,
    diff: bool,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    verbose: int,
    ansible_playbook: str = "ansible-playbook",
) -> list[str]:
    """The ``ansible-playbook`` command line (pure)."""
    argv = [ansible_playbook, "-i", str(inventory), str(playbook)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if tags:
        argv += ["--tags", ",".join(tags)]
    if skip_tags:
        argv += ["--skip-tags", ",".join(skip_tags)]
    if limit:
        argv += ["--limit", limit]
    for extra in extra_vars:
        argv += ["--extra-vars", extra]
    if verbose:
        argv.append("-" + "v" * min(verbose, 4))
    return argv


@click.command("deploy")
@click.option(
    "-i",
    "--inventory",
    "inventory",
    required=True,
    type=click.Path(path_type=Path),
    help="Inventory file or folder (e.g. inventories/local).",
)
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.option("--diff", is_flag=True, help="Show the differences of changed files.")
@click.option(
    "--tags", multiple=True, help="Only these parts: docker, opa, registry, builder, storage, hub."
)
@click.option("--skip-tags", multiple=True, help="Skip these parts.")
@click.option("--limit", default=None, help="Only these hosts or groups (Ansible pattern).")
@click.option("-e", "--extra-vars", multiple=True, help="Extra variables, key=value or @file.")
@click.option(
    "--playbook",
    type=click.Path(path_type=Path, dir_okay=False),
    default=PLAYBOOK,
    show_default=True,
    help="The site playbook.",
)
@click.option("-v", "--verbose", count=True, help="More Ansible output (repeat for more).")
def deploy_command(
    inventory: Path,
    check: bool,
    diff: bool,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    playbook: Path,
    verbose: int,
) -> int:
    """Stand up (or upgrade) a whole site on your hosts with Ansible."""
    if not playbook.is_file():
        raise InputError("--playbook", f"no playbook at {str(playbook)!r}")
    ansible_playbook = find_tool("ansible-playbook")
    ansible_inventory = find_tool("ansible-inventory")
    inv = load_inventory(inventory, ansible_inventory, ansible_env(playbook, None))
    check_inventory(inv)
    with tempfile.TemporaryDirectory(prefix="versahub-deploy-") as tmp:
        summary_file = str(Path(tmp) / "recap.json")
        argv = playbook_argv(
            playbook,
            inventory,
            check=check,
            diff=diff,
            tags=tags,
            skip_tags=skip_tags,
            limit=limit,
            extra_vars=extra_vars,
            verbose=verbose,
            ansible_playbook=ansible_playbook,
        )
        hosts = sorted({h for hs in inv.groups.values() for h in hs})
        click.echo(
            f"versahub deploy: {playbook.name} on {', '.join(hosts)}"
            + (" (check mode)" if check else "")
        )
        proc = subprocess.run(argv, env=ansible_env(playbook, summary_file), check=False)
        recap = _read_recap(summary_file)
    if recap is None:
        raise click.ClickException(
            f"ansible-playbook stopped before running any task (exit {proc.returncode}); see above"
        )
    click.echo("")
    for line in summary_lines(recap, check=check):
        click.echo(line)
    if proc.returncode != 0 or recap.get("failed"):
        return EXIT_FAILED
    return 0


def _read_recap(path: str) -> dict | None:
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
