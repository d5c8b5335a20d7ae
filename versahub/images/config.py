"""Settings of the image part of a site: one frozen object, defaults in one place.

``ImagesConfig`` is what ``site.yaml``'s ``images:`` section (and the ``versahub build``
command line) turn into. It only holds values; it never touches docker, git or the disk.
It checks nothing the site schema checks: ``images_config`` in ``versahub.site.config``
builds it from a validated site, the command line from its own checked flags.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from versahub.errors import InputError
from versahub.images.endpoint import Endpoint
from versahub.spec.sizes import parse_memory

DEFAULT_CA_BUNDLE = "/usr/local/share/ca-certificates/*.crt"
DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "versahub")


@dataclass(frozen=True)
class ImagesConfig:
    """How images are named, found and built on this site.

    Attributes:
        image_prefix: prepended to every built image name (BinderHub's ``image_prefix``);
            with a registry it must start with the registry host, e.g. ``127.0.0.1:5000/``.
        registry: ``host:port`` of a CNCF distribution registry, or ``None`` for single-host
            mode (the local docker engine is the cache).
        registry_scheme: ``http`` for a loopback registry, ``https`` with ``registry.tls``.
        registry_pull: the read-only endpoint spawn hosts pull from (``None``: ``registry``).
        registry_push_credentials / registry_pull_credentials: files of one line
            ``username:password`` for the push and the pull endpoint (``None``: no login).
        builders: remote builders' engines (``Endpoint``: ``tcp://host:port`` + client
            certificates); empty: builds run on the hub's own engine.
        base_image: the site's base notebook image (``versahub images bootstrap``).
        upstream_image: a Debian- or Ubuntu-based image to build the base image ``FROM``
            (e.g. ``debian:bookworm-slim`` from the site's registry mirror); ``None``: a
            Debian root filesystem made with debootstrap, for sites that reach no registry.
        ca_bundle: glob(s) of PEM certificates installed into every image (site CA bundle).
        offline: build common Binder repos with VersaHub's buildpack FROM ``base_image``
            (Debian packages and the site's PyPI only); ``False`` uses repo2docker's own
            conda-based buildpacks, which need conda-forge.
        pip_index_url: the site's PyPI mirror, passed to pip inside builds (``None``: pypi.org).
        max_concurrent_builds: site-wide limit of simultaneous repo2docker builds.
        build_timeout: seconds before a build is stopped and reported as failed.
        resolve_timeout: seconds allowed for ``git ls-remote``.
        build_memory_limit: bytes of memory for a build (``0``: no limit).
        user_id / user_name: the notebook user inside every image.
        target_repo_dir: where the repository's files go inside the image; outside the home
            directory so that a persistent home volume cannot hide them.
        cache_dir: where downloads (the debootstrap root filesystem) are cached, and where
            the images' last-used index lives (``images/last-used.json``).
        disk_budget: bytes that VersaHub-built images may occupy on the local engine
            (``0``: unlimited); the least recently used unused ones beyond it are removed
            (``prune.py``). ``site.yaml`` may write it as a binary size, e.g. ``50G``.
        jupyterhub_version: ``jupyterhub`` version installed in the base image (the hub's).
        base_packages: pip requirements of the base image besides jupyterhub.
        debian_suite / debian_mirror: what debootstrap fetches for the base image.
        allowed_internal_hosts: host names, host patterns and CIDR ranges the builder may
            fetch repositories from although they resolve to an internal address; filled
            from ``policy.allowed_internal_hosts`` (``versahub.images.refs.check_repo_host``).
    """

    image_prefix: str = "versahub/r2d-"
    registry: str | None = None
    registry_scheme: str = "http"
    registry_pull: str | None = None
    registry_push_credentials: str | None = None
    registry_pull_credentials: str | None = None
    builders: tuple[Endpoint, ...] = ()
    base_image: str = "versahub/base:bookworm"
    upstream_image: str | None = None
    ca_bundle: tuple[str, ...] = (DEFAULT_CA_BUNDLE,)
    offline: bool = True
    pip_index_url: str | None = None
    max_concurrent_builds: int = 2
    build_timeout: float = 1800.0
    resolve_timeout: float = 30.0
    build_memory_limit: int = 0
    user_id: int = 1000
    user_name: str = "jovyan"
    target_repo_dir: str = "/srv/repo"
    cache_dir: str = DEFAULT_CACHE_DIR
    jupyterhub_version: str = "6.1.1"
    base_packages: tuple[str, ...] = field(
        # course servers (docs/lti.md): material pulled with nbgitpuller, nbgrader
        default=(
            "jupyterlab==4.6.6",
            "jupyter-collaboration==5.0.4",
            "nbgitpuller==1.3.0",
            "nbgrader==0.9.6",
        )
    )
    debian_suite: str = "bookworm"
    debian_mirror: str = "http://deb.debian.org/debian"
    disk_budget: int = 0
    allowed_internal_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # not a site.yaml key, so no schema rule: the one check of the notebook user
        if self.user_id == 0:
            raise InputError("images.user_id", "the notebook user must not be root")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ImagesConfig:
        """Convert a validated ``site.yaml`` ``images:`` mapping (schema-checked keys):
        ``ca_bundle`` as a tuple, ``disk_budget`` in bytes."""
        values = dict(data)
        if "ca_bundle" in values:
            bundle = values["ca_bundle"]
            values["ca_bundle"] = (bundle,) if isinstance(bundle, str) else tuple(bundle)
        if "disk_budget" in values:
            values["disk_budget"] = parse_budget(values["disk_budget"])
        if "builders" in values:
            values["builders"] = tuple(
                Endpoint(b["name"], b["docker_host"], b["tls_dir"]) for b in values["builders"]
            )
        return cls(**values)

    def with_changes(self, **changes: Any) -> ImagesConfig:
        """A copy with some settings changed (the object itself is frozen)."""
        return replace(self, **changes)

    def ca_files(self) -> list[Path]:
        """The certificate files the ``ca_bundle`` globs name today, sorted, deduplicated."""
        found: set[Path] = set()
        for pattern in self.ca_bundle:
            found.update(Path(p) for p in glob.glob(os.path.expanduser(pattern)))
        return sorted(p for p in found if p.is_file())


def parse_budget(value: object, field: str = "images.disk_budget") -> int:
    """Bytes of a disk budget: ``0``/``"0"`` (unlimited), bytes, or a binary size (``50G``)."""
    if value == "0" or (type(value) is int and value == 0):
        return 0
    return parse_memory(field, value)
