"""``versahub catalogue export|import``: exchange environments with other hubs.

``export`` prints this site's exchange document (curated and popular entries) without a
running hub; ``import FILE`` checks another hub's document (``catalogue-exchange.schema.json``
and the spec parser) and stores it, marked with its origin: its entries appear on the
catalogue page, never trusted by the policy. Nothing restarts.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from versahub.cli.site import site_option
from versahub.errors import InputError
from versahub.site.catalogue_store import import_document
from versahub.site.config import load_site
from versahub.util.yamlfile import load_yaml
from versahub.web.catalogue import exported


@click.group("catalogue")
def catalogue_group() -> None:
    """Exchange environments with other hubs (JSON documents)."""


@catalogue_group.command("export")
@site_option
def export_command(site_file: Path) -> int:
    """Print this site's catalogue as an exchange document (JSON)."""
    click.echo(json.dumps(exported(load_site(site_file)), indent=2, sort_keys=True))
    return 0


@catalogue_group.command("import")
@click.argument("source", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@site_option
def import_command(source: Path, site_file: Path) -> int:
    """Import another hub's exchange document (replaces an earlier import from that hub)."""
    site = load_site(site_file)
    try:
        if source.stat().st_size > 10_000_000:
            raise InputError("FILE", "is larger than 10 MB")
        doc = load_yaml(source.read_text("utf-8"))  # JSON is YAML
    except OSError as err:
        raise InputError("FILE", f"cannot read {str(source)!r}: {err.strerror}") from None
    except (yaml.YAMLError, ValueError) as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise InputError("FILE", f"is not a valid JSON document{where}") from None
    count = import_document(site.state_dir, doc, source.name)
    click.echo(f"imported {count} entries from {doc['hub']['url']} (shown as imported, "
               "never trusted by the policy)")  # fmt: skip
    return 0
