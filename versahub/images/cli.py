"""``versahub build`` and ``versahub images ...``: thin click wrappers over this package.

Bad input raises ``InputError(field, reason)`` (the main CLI prints one line and exits 2)
before anything is started. A failed build exits 1 after printing the failure event.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from urllib.parse import urlsplit

import click

from versahub.errors import InputError, shorten
from versahub.images.config import ImagesConfig
from versahub.images.refs import check_ref

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")


def validate_repo(repo: str, ref: str) -> tuple[str, str]:
    """The (repo URL, ref) to build, validated.

    Uses ``versahub.spec.parse_spec`` when the spec module provides it; until then accepts
    ``https``/``http`` git URLs, and ``git://`` URLs on loopback (the tests' git daemon).
    """
    try:
        from versahub.spec import parse_spec  # type: ignore[attr-defined]
    except ImportError:
        parse_spec = None
    if parse_spec is not None:
        spec = parse_spec({"repo": repo, "ref": ref})
        return spec.repo, spec.ref
    parts = urlsplit(repo)
    if any(ch.isspace() or ord(ch) < 32 for ch in repo) or repo.startswith("-"):
        raise InputError("repo", f"not a git URL: {shorten(repo)}")
    if parts.scheme in ("https", "http"):
        if not parts.hostname:
            raise InputError("repo", f"no host in {shorten(repo)}")
    elif parts.scheme == "git":
        if not parts.hostname or not _LOOPBACK.match(parts.hostname):
            raise InputError("repo", "git:// URLs are only accepted on loopback; use https")
    else:
        raise InputError("repo", f"not an http(s) git URL: {shorten(repo)}")
    if parts.username or parts.password:
        raise InputError("repo", "credentials in the URL are not accepted")
    return repo, check_ref(ref)


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
def build_command(repo: str, ref: str, as_json: bool, registry: str | None, online: bool) -> int:
    """Resolve REPO at REF, reuse its image or build it; print image, commit, cache hit."""
    from versahub.images.builder import ImageBuilder

    repo, ref = validate_repo(repo, ref)
    changes: dict[str, object] = {"offline": not online}
    if registry is not None:
        if not _REGISTRY.match(registry):
            raise InputError("registry", f"not HOST:PORT: {shorten(registry)}")
        changes.update(registry=registry, image_prefix=f"{registry}/versahub/r2d-")
    config = ImagesConfig().with_changes(**changes)
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

    last = asyncio.run(run())
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
    """The site's images: base image, registry."""


@click.command("bootstrap")
@click.option("--force", is_flag=True, help="Rebuild even when the recipe is unchanged.")
@click.option(
    "--ca-bundle",
    multiple=True,
    metavar="GLOB",
    help="Site CA certificates to install (default: /usr/local/share/ca-certificates/*.crt).",
)
@click.option("--pip-index-url", default=None, help="The site's PyPI mirror.")
def bootstrap_command(force: bool, ca_bundle: tuple[str, ...], pip_index_url: str | None) -> int:
    """Build the site's base notebook image from a debootstrap root filesystem."""
    from versahub.images.bootstrap import bootstrap

    changes: dict[str, object] = {}
    if ca_bundle:
        changes["ca_bundle"] = ca_bundle
    if pip_index_url:
        if urlsplit(pip_index_url).scheme not in ("http", "https"):
            raise InputError("pip_index_url", f"not an http(s) URL: {shorten(pip_index_url)}")
        changes["pip_index_url"] = pip_index_url
    config = ImagesConfig().with_changes(**changes)
    result = bootstrap(config, lambda msg: click.echo(msg, err=True), force=force)
    state = "built" if result.built else "up to date"
    click.echo(f"{result.image} {state} (recipe {result.recipe}, {result.seconds['total']:.0f} s)")
    return 0


images_group.add_command(bootstrap_command)
