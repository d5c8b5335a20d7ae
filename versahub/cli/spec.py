"""``versahub spec parse`` and ``versahub spec url``: look at a spec without launching it.

Both commands read a launch URL (an ``http(s)://`` argument) or a YAML/JSON file (any other
argument), validate it with :func:`versahub.spec.parse_spec` and print to stdout. Bad input
is raised as :class:`~versahub.errors.InputError`; ``versahub.cli.main`` prints it as one
line and exits 2. These commands never write a file, never contact a network.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from typing import Any

import click

from versahub.errors import InputError, shorten
from versahub.spec.files import read_spec_file
from versahub.spec.model import ServerSpec, parse_spec
from versahub.spec.names import validate_user_name
from versahub.urls import badge_html, badge_markdown, launch_url, parse_launch_url

MAX_FILE_BYTES = 1024 * 1024
DEFAULT_HUB_URL = "http://127.0.0.1:8000"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def load_spec(
    source: str, *, owner: str | None = None, volumes: Collection[str] | None = None
) -> ServerSpec:
    """Parse ``source``: a launch URL when it starts with http(s)://, else a spec file.

    The one reader of a command line's spec argument (``spec``, ``policy check``, ``k8s``);
    ``volumes`` is the site's volume catalogue when a site is known.
    """
    if "\x00" in source:
        raise InputError("source", f"must not contain NUL bytes: {shorten(source)}")
    scheme = _SCHEME.match(source)
    if scheme:
        if scheme.group(1).lower() not in ("http", "https"):
            raise InputError("url", f"must be an http(s) launch URL or a file: {shorten(source)}")
        return parse_launch_url(source, owner=owner, volumes=volumes)
    return parse_spec(read_spec_file(source), owner=owner, volumes=volumes)


def _owner(owner: str | None) -> str | None:
    return None if owner is None else validate_user_name("owner", owner)


def _listing(doc: dict[str, Any]) -> str:
    lines = []
    for key, value in doc.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
        elif isinstance(value, list):
            shown = (
                ", ".join(
                    ":".join(str(x) for x in v.values()) if isinstance(v, dict) else str(v)
                    for v in value
                )
                or "-"
            )
        else:
            shown = _plain(value)
        lines.append(f"{key + ':':<17}{shown}")
    return "\n".join(lines)


def _plain(value: object) -> str:
    if value is None:
        return "(site default)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


@click.group("spec")
def spec_group() -> None:
    """Parse and share ServerSpecs (launch URLs and spec files)."""


@spec_group.command("parse")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the canonical JSON document.")
@click.option("--owner", metavar="NAME", help="The launching user (may not collaborate).")
def parse_command(source: str, as_json: bool, owner: str | None) -> None:
    """Validate SOURCE (a launch URL or a YAML/JSON file) and print the normalized spec.

    An empty server_name is filled with a readable random name; spec_id does not depend
    on it.
    """
    spec = load_spec(source, owner=_owner(owner)).named()
    doc = spec.to_dict()
    click.echo(json.dumps(doc, indent=2) if as_json else _listing(doc))


@spec_group.command("url")
@click.argument("source")
@click.option(
    "--hub",
    "hub_url",
    metavar="URL",
    default=None,
    help=f"Hub URL (default: $VERSAHUB_HUB_URL or {DEFAULT_HUB_URL}).",
)
def url_command(source: str, hub_url: str | None) -> None:
    """Print the launch URL and the Markdown and HTML badges for SOURCE."""
    hub = hub_url or os.environ.get("VERSAHUB_HUB_URL") or DEFAULT_HUB_URL
    spec = load_spec(source)
    click.echo(launch_url(spec, hub))
    click.echo(badge_markdown(spec, hub))
    click.echo(badge_html(spec, hub))
