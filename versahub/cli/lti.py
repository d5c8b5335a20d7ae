"""``versahub lti keys|rotate-key|retire-key``: the tool's deep-linking signing keys.

The keys live in ``<state_dir>/lti/keys`` (``versahub.site.tool_keys``); the running hub
publishes every key at ``/hub/lti13/jwks`` and signs with the newest, reading the folder
again when it changes — nothing restarts.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import click

from versahub.cli.site import site_option
from versahub.site.config import load_site
from versahub.site.tool_keys import ToolKeys, keys_dir


def _keys(site_file: Path) -> ToolKeys:
    return ToolKeys(keys_dir(load_site(site_file).state_dir))


@click.group("lti")
def lti_group() -> None:
    """LTI 1.3 tool keys: list, rotate, retire."""


@lti_group.command("keys")
@site_option
@click.option("--json", "as_json", is_flag=True, help="Print the published key set (JWKS).")
def keys_command(site_file: Path, as_json: bool) -> int:
    """List the tool's keys (the newest signs; all are published)."""
    keys = _keys(site_file)
    if as_json:
        click.echo(json.dumps(keys.jwks(), indent=2))
        return 0
    found = keys.all()
    if not found:
        click.echo("no key yet (the hub makes one when it first needs it)")
    for index, key in enumerate(found):
        when = _dt.datetime.fromtimestamp(key.created, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        role = "signs" if index == len(found) - 1 else "published"
        click.echo(f"{key.kid}  {when}  {role}")
    return 0


@lti_group.command("rotate-key")
@site_option
def rotate_command(site_file: Path) -> int:
    """Add a new key: it signs from now on; the old ones stay published until retired."""
    key = _keys(site_file).add()
    click.echo(
        f"new signing key {key.kid}; retire the old one once platforms have fetched "
        "the key set again (versahub lti retire-key KID)"
    )
    return 0


@lti_group.command("retire-key")
@click.argument("kid", metavar="KID")
@site_option
def retire_command(kid: str, site_file: Path) -> int:
    """Stop publishing the key KID (never the only one)."""
    _keys(site_file).retire(kid)
    click.echo(f"key {kid} retired")
    return 0
