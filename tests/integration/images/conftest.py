"""Fixtures for the image tests: a real engine, real git over smart HTTP, a real registry.

Every session gets its own image prefix, so the first build of each fixture repository really
builds; built images are shared across tests (session scope) and removed at the end.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from images_support import FirstBuild, GitHTTPServer, GitSite

from versahub.images.bootstrap import bootstrap
from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.engine import docker_cli
from versahub.images.registry import LocalRegistry


def _docker_answers() -> bool:
    try:
        return subprocess.run([docker_cli(), "version"], capture_output=True).returncode == 0
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if not _docker_answers():
        pytest.fail("the docker engine does not answer: run `bash scripts/docker.sh` first")


@pytest.fixture(scope="session")
def session_prefix() -> str:
    return f"versahub-test-{uuid.uuid4().hex[:8]}/r2d-"


@pytest.fixture(scope="session")
def images_config(docker_engine: None, session_prefix: str) -> Iterator[ImagesConfig]:
    # the test git server listens on loopback, an internal address the builder refuses
    config = ImagesConfig(
        image_prefix=session_prefix, build_timeout=900, allowed_internal_hosts=("127.0.0.1",)
    )
    bootstrap(config, progress=lambda msg: print(msg, flush=True))
    yield config
    # remove only the images this session built (by the session's unique prefix)
    out = subprocess.run(
        [docker_cli(), "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    mine = [name for name in out if session_prefix.split("/")[0] in name]
    if mine:
        subprocess.run([docker_cli(), "rmi", "--force", *mine], capture_output=True, check=False)


@pytest.fixture(scope="session")
def git_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitSite]:
    root = tmp_path_factory.mktemp("git")
    (root / "srv").mkdir()
    with GitHTTPServer(root / "srv") as server:
        yield GitSite(root=root, server=server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"), addr=f"127.0.0.1:{free_port()}")
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def requirements_build(images_config: ImagesConfig, git_site: GitSite) -> FirstBuild:
    """The requirements.txt fixture built once per session, then asked for again."""
    repo = git_site.repo("requirements")

    async def run() -> FirstBuild:
        builder = ImageBuilder(images_config)
        first = [ev async for ev in builder.ensure(repo.url, "main")]
        n1 = builder.stats.builds_started
        second = [ev async for ev in builder.ensure(repo.url, "main")]
        return FirstBuild(repo, first, second, n1, builder.stats.builds_started)

    return asyncio.run(run())
