"""The ``versahub`` command line: one group, sub-commands contributed by each part.

Bad input anywhere is one line on stderr naming the field and the reason, exit status 2,
no traceback (``InputError`` and click's own usage errors alike). A policy denial is exit 3.
This module only wires groups together; each part owns its commands
(``versahub/cli/spec.py``, ``policy.py``, ``images.py``, ``site.py`` beside this file, and
``versahub/deploy/cli.py``). Sub-commands are imported when the command line runs, so that
``versahub --version`` imports none of them.
"""

from __future__ import annotations

import sys

import click

from versahub import __version__
from versahub.errors import EXIT_BAD_INPUT, EXIT_DENIED, InputError

__all__ = ["EXIT_BAD_INPUT", "EXIT_DENIED", "cli", "main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="versahub")
def cli() -> None:
    """VersaHub: persistent, authenticated Binder environments in your JupyterHub."""


def _register() -> None:
    from versahub.cli.images import build_command, images_group
    from versahub.cli.policy import policy_group
    from versahub.cli.site import down_command, status_command, up_command
    from versahub.cli.spec import spec_group
    from versahub.deploy.cli import deploy_command

    cli.add_command(spec_group)
    cli.add_command(policy_group)
    cli.add_command(build_command)
    cli.add_command(images_group)
    cli.add_command(up_command)
    cli.add_command(down_command)
    cli.add_command(status_command)
    cli.add_command(deploy_command)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of raising ``SystemExit``."""
    _register()
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
