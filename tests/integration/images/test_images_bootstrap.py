"""The base image FROM a configured upstream image (a site with a registry mirror).

No registry is reachable here, so the "upstream" is a Debian image that exists in the local
engine under a registry-style name: exactly what a site's mirror would provide.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from versahub.images.bootstrap import RECIPE_LABEL, bootstrap, render_dockerfile
from versahub.images.config import ImagesConfig
from versahub.images.engine import docker_cli, image_labels

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([docker_cli(), *args], capture_output=True, text=True, check=False)


def test_base_image_from_a_configured_upstream_image(images_config: ImagesConfig) -> None:
    # the debootstrap root filesystem the session fixture imported, renamed as a mirror's image
    rootfs = [
        line
        for line in _docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        if line.startswith("versahub/rootfs:")
    ]
    assert rootfs, "the session's bootstrap imported a Debian root filesystem"
    tag = uuid.uuid4().hex[:8]
    upstream = f"mirror.example.invalid/library/debian:bookworm-{tag}"
    base = f"versahub-test-{tag}/base:bookworm"
    assert _docker("tag", rootfs[0], upstream).returncode == 0
    try:
        config = images_config.with_changes(upstream_image=upstream, base_image=base)
        assert render_dockerfile(config, upstream).startswith("# VersaHub base notebook image")
        messages: list[str] = []
        result = bootstrap(config, messages.append)
        assert result.built
        assert any("FROM the configured upstream image" in m for m in messages)
        assert not any(m.startswith("rootfs: debootstrap") for m in messages)
        assert (image_labels(base) or {}).get(RECIPE_LABEL) == result.recipe
        run = _docker("run", "--rm", base, "jupyterhub-singleuser", "--version")
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == config.jupyterhub_version
        again = bootstrap(config, messages.append)
        assert not again.built  # same recipe: nothing rebuilt
    finally:
        _docker("rmi", "--force", base, upstream)
