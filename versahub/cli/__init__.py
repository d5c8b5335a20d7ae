"""The ``versahub`` command line: one group, sub-commands contributed by each part.

Bad input anywhere is one line on stderr naming the field and the reason, exit status 2,
no traceback (``InputError`` and click's own usage errors alike). A policy denial is exit 3.
This module only wires groups together; each part owns its commands
(``versahub/cli/spec.py``, ``policy.py``, ``images.py``, ``site.py`` beside this file, and
``versahub/deploy/cli.py``). The group is lazy (click's ``LazyGroup`` pattern): a command's
module is imported only when that command runs, so ``versahub --version`` imports none of
them and ``versahub spec …`` imports only ``versahub/cli/spec.py`` (no aiohttp, jsonschema,
docker). ``COMMANDS`` names each command's module and attribute and carries its short help,
so ``versahub --help`` lists every command without importing any of them
(``tests/unit/test_cli_startup.py`` checks the table against the real commands).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

import click

from versahub import __version__
from versahub.errors import EXIT_BAD_INPUT, EXIT_DENIED, InputError

__all__ = ["EXIT_BAD_INPUT", "EXIT_DENIED", "cli", "main", "run"]


# name → (module, attribute, short help). The short help is the first sentence of the
# command's docstring, as ``--help`` shows it; a unit test keeps it equal to the real one.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": (
        "versahub.cli.images",
        "build_command",
        "Resolve REPO at REF, reuse its image or build it; print image, commit, cache hit.",
    ),
    "catalogue": (
        "versahub.cli.catalogue",
        "catalogue_group",
        "Exchange environments with other hubs (JSON documents).",
    ),
    "course": (
        "versahub.cli.course",
        "course_group",
        "Courses for LTI launches: environment, shared volume, material.",
    ),
    "deploy": (
        "versahub.deploy.cli",
        "deploy_command",
        "Stand up (or upgrade) a whole site on your hosts with Ansible.",
    ),
    "down": (
        "versahub.cli.site",
        "down_command",
        "Stop the site started by `versahub up` and everything it started.",
    ),
    "images": (
        "versahub.cli.images",
        "images_group",
        "The site's images: base image, registry, disk budget.",
    ),
    "k8s": (
        "versahub.cli.k8s",
        "k8s_group",
        "Kubernetes: print what a launch creates in the cluster.",
    ),
    "lti": (
        "versahub.cli.lti",
        "lti_group",
        "LTI 1.3 tool keys: list, rotate, retire.",
    ),
    "policy": (
        "versahub.cli.policy",
        "policy_group",
        "Check specs against the site's security policy; test and lint the policy files.",
    ),
    "spec": (
        "versahub.cli.spec",
        "spec_group",
        "Parse and share ServerSpecs (launch URLs and spec files).",
    ),
    "status": (
        "versahub.cli.site",
        "status_command",
        "Report each component's state (exit 0 when the site is running, 1 when not).",
    ),
    "usage": (
        "versahub.cli.usage",
        "usage_command",
        "Resources used per user: CPU-seconds, memory GiB-hours, server-hours.",
    ),
    "up": (
        "versahub.cli.site",
        "up_command",
        "Start the whole site on this machine and stay in the foreground until stopped.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name the first time they are needed.

    Commands added with ``add_command`` (``versahub/deploy/__main__.py`` does) take
    precedence over the lazy table; a command, once imported, is added to ``commands``.
    """

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, tuple[str, str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in self.lazy_commands:
            cmd = self.load_command(cmd_name)
        return cmd

    def load_command(self, cmd_name: str) -> click.Command:
        """Import the command ``cmd_name`` of the lazy table and add it to the group."""
        module, attribute, _ = self.lazy_commands[cmd_name]
        cmd = getattr(importlib.import_module(module), attribute)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        self.add_command(cmd, cmd_name)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command with its short help; import none that is not loaded yet."""
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is None:
                # A stand-in carrying the table's help: click shortens it the same way.
                cmd = click.Command(name, help=self.lazy_commands[name][2])
            if not cmd.hidden:
                commands.append((name, cmd))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, cmd.get_short_help_str(limit)) for name, cmd in commands]
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="versahub")
def cli() -> None:
    """VersaHub: persistent, authenticated Binder environments in your JupyterHub."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of raising ``SystemExit``."""
    try:
        rv = cli.main(args=argv, prog_name="versahub", standalone_mode=False)
    except InputError as err:
        click.echo(f"versahub: error: {_one_line(str(err))}", err=True)
        return EXIT_BAD_INPUT
    except click.UsageError as err:
        if type(err).__name__.startswith("NoArgsIsHelp") and err.ctx is not None:
            click.echo(err.ctx.get_help())  # a bare group: show what it offers
            return EXIT_BAD_INPUT
        param = getattr(err, "param", None)
        where = f"{param.human_readable_name}: " if param is not None else ""
        click.echo(f"versahub: error: {where}{_one_line(err.format_message())}", err=True)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 1
    except click.Abort:
        click.echo("versahub: aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as err:
        click.echo(f"versahub: error: {_one_line(err.format_message())}", err=True)
        return err.exit_code
    return rv if isinstance(rv, int) else 0


def run() -> None:  # pragma: no cover - thin wrapper for ``python -m versahub``
    sys.exit(main())
