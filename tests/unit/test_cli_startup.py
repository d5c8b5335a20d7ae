"""The ``versahub`` command line starts without importing what a command does not use.

Behaviour, not timing: ``python -X importtime`` lists every module a run imports; the
commands that never talk to a service must not pull in the network, container or schema
stacks (each costs 0.1–2 s at import). ``bench/cli/bench_cli.py`` measures the time.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from versahub.cli import COMMANDS, EXIT_BAD_INPUT, LazyGroup, cli, main

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "examples" / "specs" / "requirements.yaml"
HEAVY = ("aiohttp", "docker", "jupyterhub", "jsonschema", "opa_client", "tornado")
SUBCOMMAND_MODULES = sorted({module for module, _, _ in COMMANDS.values()})


# ``versahub.cli.main`` as ``python -m versahub`` runs it, then the names in sys.modules:
# modules imported through ``importlib.import_module`` (the lazy group's loader) are not
# reported by -X importtime, which only times ``import`` statements.
RUN = """\
import sys
from versahub.cli import main
rc = main(sys.argv[1:])
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(rc)
"""


def imported_modules(*args: str) -> set[str]:
    """Run ``python -X importtime`` on the CLI with ARGS; return every module it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERSAHUB_")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUN, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()
    timed: set[str] = set()
    loaded: set[str] = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            timed.add(line.rsplit("|", 1)[1].strip())
        elif line.startswith("MODULES "):
            loaded.update(line.split()[1:])
    assert "versahub.cli" in timed and "versahub.cli" in loaded  # both lists were parsed
    return timed | loaded


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("--help",),
        ("spec", "parse", str(SPEC_FILE)),
        ("spec", "parse", "--json", str(SPEC_FILE)),
        ("spec", "url", str(SPEC_FILE)),
        ("spec", "parse", "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD"),
    ],
    ids=lambda a: " ".join(a).replace(str(REPO) + "/", ""),
)
def test_light_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    assert heavy(imported_modules(*args)) == []


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_help_import_no_subcommand_module(args: tuple[str, ...]) -> None:
    names = imported_modules(*args)
    assert sorted(set(SUBCOMMAND_MODULES) & names) == []


def test_spec_imports_only_its_own_command_module() -> None:
    names = imported_modules("spec", "url", str(SPEC_FILE))
    assert "versahub.cli.spec" in names
    assert sorted(set(SUBCOMMAND_MODULES) & names) == ["versahub.cli.spec"]


def _real(name: str) -> click.Command:
    module, attribute, _ = COMMANDS[name]
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_table_matches_the_real_command(name: str) -> None:
    cmd = _real(name)
    assert isinstance(cmd, click.Command)
    assert cmd.name == name
    assert not cmd.hidden and not cmd.deprecated
    assert COMMANDS[name][2] == cmd.get_short_help_str(limit=10_000)


@pytest.mark.parametrize("width", [50, 80, 120])
def test_lazy_help_equals_the_help_of_the_real_commands(width: int) -> None:
    lazy = LazyGroup("versahub", lazy_commands=COMMANDS, help=cli.help)
    eager = click.Group("versahub", commands=[_real(n) for n in COMMANDS], help=cli.help)

    def help_of(group: click.Group) -> str:
        ctx = click.Context(group, info_name="versahub", terminal_width=width)
        return group.get_help(ctx)

    assert help_of(lazy) == help_of(eager)
    assert lazy.commands == {}  # listing imported nothing


def test_every_table_command_runs_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in COMMANDS:
        assert main([name, "--help"]) == 0
        assert COMMANDS[name][2].split()[0] in " ".join(capsys.readouterr().out.split())


def test_added_command_wins_over_the_table() -> None:
    @click.command("spec")
    def fake() -> None:
        """Fake."""

    group = LazyGroup("versahub", lazy_commands=COMMANDS)
    group.add_command(fake)
    ctx = click.Context(group)
    assert group.get_command(ctx, "spec") is fake
    assert group.list_commands(ctx) == sorted(COMMANDS)
    assert group.get_command(ctx, "nope") is None


def test_loaded_command_is_kept() -> None:
    group = LazyGroup("versahub", lazy_commands=COMMANDS)
    ctx = click.Context(group)
    first = group.get_command(ctx, "spec")
    assert group.commands == {"spec": first}
    assert group.get_command(ctx, "spec") is first


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == EXIT_BAD_INPUT
    assert "No such command 'nope'" in capsys.readouterr().err
