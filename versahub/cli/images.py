"""``versahub build`` and ``versahub images ...``: thin click wrappers over this package.

Bad input raises ``InputError(field, reason)`` (the main CLI prints one line and exits 2)
before anything is started. A failed build exits 1 after printing the failure event.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from versahub.errors import InputError, shorten
from versahub.images.bootstrap import bootstrap
from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig, parse_budget
from versahub.images.engine import EngineError
from versahub.images.prune import prune
from versahub.site.config import load_site
from versahub.spec import parse_spec

_IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._:/@-]{0,255}\Z")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?\Z")


def validate_repo(repo: str, ref: str) -> tuple[str, str]:
    """The (repo URL, ref) to build, validated as a ServerSpec's ``repo`` and ``ref`` are."""

    spec = parse_spec({"repo": repo, "ref": ref})
    return spec.repo, spec.ref


site_option = click.option(
    "--site",
    "site_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="VERSAHUB_SITE",
    help="Read the images: and registry: settings from this site file (default: built-in).",
)


def base_config(site_file: Path | None) -> ImagesConfig:
    """The site's image settings, or the built-in defaults when no site file is named."""
    if site_file is None:
        return ImagesConfig()

    return load_site(site_file).images_config()


@click.command("build")
@click.argument("repo")
@click.option("--ref", default="HEAD", show_default=True, help="Branch, tag or commit.")
@click.option("--json", "as_json", is_flag=True, help="Stream the events as JSON lines.")
@click.option(
    "--registry",
    default=None,
    metavar="HOST:PORT",
    help="Look up and push images in this registry (registry mode).",
)
@click.option("--online", is_flag=True, help="Use repo2docker's own (conda) buildpacks.")
@site_option
def build_command(
    repo: str, ref: str, as_json: bool, registry: str | None, online: bool, site_file: Path | None
) -> int:
    """Resolve REPO at REF, reuse its image or build it; print image, commit, cache hit."""

    repo, ref = validate_repo(repo, ref)
    changes: dict[str, object] = {"offline": False} if online else {}
    if registry is not None:
        if not _REGISTRY.match(registry):
            raise InputError("registry", f"not HOST:PORT: {shorten(registry)}")
        changes.update(registry=registry, image_prefix=f"{registry}/versahub/r2d-")
    config = base_config(site_file).with_changes(**changes)
    builder = ImageBuilder(config)

    async def run() -> dict[str, object]:
        last: dict[str, object] = {}
        async for ev in builder.ensure(repo, ref):
            last = ev
            if as_json:
                click.echo(json.dumps(ev))
            elif ev["phase"] not in ("ready", "failed"):
                click.echo(f"[{ev['phase']}] {ev['message']}", err=True)
        return last

    try:
        last = asyncio.run(run())
    except EngineError as err:
        raise click.ClickException(f"the Docker engine: {err}") from None
    if last.get("phase") != "ready":
        if not as_json:
            click.echo(f"build failed: {last.get('message', 'no result')}", err=True)
        sys.exit(1)
    if not as_json:
        cache = "hit" if last.get("cache") == "hit" else "miss (built)"
        where = f" ({last['where']})" if last.get("where") else ""
        click.echo(f"image:  {last['image']}")
        click.echo(f"commit: {last['commit']}")
        click.echo(f"cache:  {cache}{where}")
    return 0


@click.group("images")
def images_group() -> None:
    """The site's images: base image, registry, disk budget."""


@click.command("bootstrap")
@click.option("--force", is_flag=True, help="Rebuild even when the recipe is unchanged.")
@click.option(
    "--ca-bundle",
    multiple=True,
    metavar="GLOB",
    help="Site CA certificates to install (default: /usr/local/share/ca-certificates/*.crt).",
)
@click.option("--pip-index-url", default=None, help="The site's PyPI mirror.")
@click.option(
    "--upstream-image",
    default=None,
    metavar="IMAGE",
    help="Build FROM this Debian/Ubuntu-based image instead of a debootstrap root filesystem.",
)
@site_option
def bootstrap_command(
    force: bool,
    ca_bundle: tuple[str, ...],
    pip_index_url: str | None,
    upstream_image: str | None,
    site_file: Path | None,
) -> int:
    """Build the site's base notebook image from a debootstrap root filesystem."""

    changes: dict[str, object] = {}
    if ca_bundle:
        changes["ca_bundle"] = ca_bundle
    if pip_index_url:
        if urlsplit(pip_index_url).scheme not in ("http", "https"):
            raise InputError("pip_index_url", f"not an http(s) URL: {shorten(pip_index_url)}")
        changes["pip_index_url"] = pip_index_url
    if upstream_image is not None:
        if not _IMAGE_NAME.match(upstream_image):
            raise InputError("upstream_image", f"not an image name: {shorten(upstream_image)}")
        changes["upstream_image"] = upstream_image
    config = base_config(site_file).with_changes(**changes)
    try:
        result = bootstrap(config, lambda msg: click.echo(msg, err=True), force=force)
    except EngineError as err:
        raise click.ClickException(f"the Docker engine: {err}") from None
    state = "built" if result.built else "up to date"
    click.echo(f"{result.image} {state} (recipe {result.recipe}, {result.seconds['total']:.0f} s)")
    return 0


@click.command("prune")
@click.option(
    "--budget",
    default=None,
    metavar="SIZE",
    help="Disk budget for VersaHub's images, e.g. 50G (default: the site's images.disk_budget).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.option(
    "--image-prefix",
    default=None,
    metavar="PREFIX",
    help="Only images whose name starts with PREFIX (default: the site's images.image_prefix).",
)
@click.option(
    "--cache-dir",
    default=None,
    metavar="DIR",
    help="Folder of the last-used index (default: the site's images.cache_dir).",
)
@site_option
def prune_command(
    budget: str | None,
    dry_run: bool,
    as_json: bool,
    image_prefix: str | None,
    cache_dir: str | None,
    site_file: Path | None,
) -> int:
    """Remove the least recently used VersaHub images beyond the disk budget.

    Never the base image, never an image any existing container (running or stopped) uses,
    never an image used in the last 10 minutes.
    """

    changes: dict[str, object] = {}
    if image_prefix is not None:
        if not image_prefix or any(ch.isspace() for ch in image_prefix):
            raise InputError("image_prefix", f"not an image name prefix: {shorten(image_prefix)}")
        changes["image_prefix"] = image_prefix
    if cache_dir is not None:
        changes["cache_dir"] = cache_dir
    if budget is not None:
        changes["disk_budget"] = parse_budget(budget, field="budget")
    config = base_config(site_file).with_changes(**changes)
    if not config.disk_budget:
        raise InputError("budget", "no disk budget: pass --budget SIZE or set images.disk_budget")
    try:
        report = asyncio.run(prune(config, dry_run=dry_run))
    except EngineError as err:
        raise click.ClickException(f"the Docker engine: {err}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        verb = "would remove" if dry_run else "removed"
        for item in report.removed:
            click.echo(f"{verb} {', '.join(item['tags'])} ({format_size(item['size'])})")
        for item in report.kept:
            if item["reason"] != "within budget":
                click.echo(f"kept {', '.join(item['tags'])}: {item['reason']}")
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(
            f"VersaHub images: {format_size(report.total_before)} before, "
            f"{format_size(report.total_after)} after, budget {format_size(report.budget)}"
            + (" (still over budget)" if report.over_budget else "")
        )
    return 1 if report.errors else 0


def format_size(size: int) -> str:
    """``1536`` → ``1.5K``: a short binary size for people (not parsed back)."""
    value = float(size)
    for unit in ("", "K", "M", "G"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


images_group.add_command(bootstrap_command)
images_group.add_command(prune_command)
