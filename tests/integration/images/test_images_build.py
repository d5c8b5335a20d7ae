"""Images end to end: real repo2docker builds, the cache, single flight, registry, failures."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from images_support import FIXTURES, FirstBuild, GitSite, docker_run

from versahub.images.builder import ImageBuilder
from versahub.images.buildpack import repo2docker_config
from versahub.images.config import ImagesConfig
from versahub.images.engine import DockerEngine, docker_cli
from versahub.images.registry import LocalRegistry

pytestmark = [pytest.mark.integration, pytest.mark.docker]


async def collect(builder: ImageBuilder, url: str, ref: str = "main") -> list[dict]:
    return [ev async for ev in builder.ensure(url, ref)]


def image_exists(name: str) -> bool:
    return (
        subprocess.run([docker_cli(), "image", "inspect", name], capture_output=True).returncode
        == 0
    )


def test_first_build_builds_and_second_request_does_not(requirements_build: FirstBuild) -> None:
    first, second = requirements_build.events, requirements_build.second
    assert first[0]["phase"] == "fetching"
    assert "building" in [ev["phase"] for ev in first]
    assert first[-1]["phase"] == "ready" and first[-1]["cache"] == "miss"
    assert first[-1]["commit"] == requirements_build.repo.head
    assert requirements_build.builds_after_first == 1
    # the second request for the same commit finds the image and builds nothing
    assert second[-1] == {**second[-1], "phase": "ready", "cache": "hit", "where": "local"}
    assert second[-1]["image"] == first[-1]["image"]
    assert requirements_build.builds_after_second == 1
    assert [ev["phase"] for ev in second] == ["fetching", "ready"]


def test_built_image_runs_singleuser_and_has_requirements(requirements_build: FirstBuild) -> None:
    image = requirements_build.image
    assert docker_run(image, "jupyterhub-singleuser", "--version").strip() == "6.1.1"
    out = docker_run(
        image, "python", "-c",
        "import tabulate, os, getpass; print(tabulate.__version__, os.getcwd(), getpass.getuser(),"
        " os.getuid(), sorted(os.listdir('.')), os.environ['PIP_CERT'])",
    )  # fmt: skip
    version, cwd, user, uid, *rest = out.split(" ", 4)
    assert (version, cwd, user, uid) == ("0.9.0", "/srv/repo", "jovyan", "1000")
    assert "index.ipynb" in rest[0] and "requirements.txt" in rest[0]
    # the site CA bundle is installed and trusted
    certs = docker_run(image, "ls", "/usr/local/share/ca-certificates/versahub/")
    assert certs.split() == sorted(
        p.name for p in Path("/usr/local/share/ca-certificates").glob("*.crt")
    )


async def test_tag_at_same_commit_reuses_image(
    requirements_build: FirstBuild, images_config: ImagesConfig
) -> None:
    repo = requirements_build.repo
    repo.tag("v1.0")
    builder = ImageBuilder(images_config)
    events = await collect(builder, repo.url, "v1.0")
    assert events[-1]["cache"] == "hit"
    assert events[-1]["image"] == requirements_build.image
    assert builder.stats.builds_started == 0


async def test_new_commit_rebuilds(
    requirements_build: FirstBuild, images_config: ImagesConfig, git_site: GitSite
) -> None:
    repo = git_site.repo("requirements", name="requirements-moving")
    builder = ImageBuilder(images_config)
    first = await collect(builder, repo.url)
    new_commit = repo.commit({"notes.md": "a new commit\n"})
    second = await collect(builder, repo.url)
    third = await collect(builder, repo.url)
    assert first[-1]["cache"] == "miss" and second[-1]["cache"] == "miss"
    assert third[-1]["cache"] == "hit"
    assert second[-1]["commit"] == new_commit != first[-1]["commit"]
    name1, tag1 = first[-1]["image"].rsplit(":", 1)
    name2, tag2 = second[-1]["image"].rsplit(":", 1)
    assert name1 == name2 and tag1 != tag2 == new_commit
    assert builder.stats.builds_started == 2


async def test_five_concurrent_requests_build_once(
    images_config: ImagesConfig, git_site: GitSite
) -> None:
    repo = git_site.repo("requirements", name="requirements-concurrent")
    builder = ImageBuilder(images_config)
    results = await asyncio.gather(*(collect(builder, repo.url) for _ in range(5)))
    assert builder.stats.builds_started == 1
    assert builder.stats.joined == 4
    assert {r[-1]["phase"] for r in results} == {"ready"}
    assert len({r[-1]["image"] for r in results}) == 1
    # every follower saw the build's own log, not only its result
    assert all(any(ev["phase"] == "building" for ev in r) for r in results)


async def test_apt_postbuild_start_runtime_repo(
    images_config: ImagesConfig, git_site: GitSite
) -> None:
    repo = git_site.repo("apt-postbuild")
    builder = ImageBuilder(images_config)
    events = await collect(builder, repo.url)
    assert events[-1]["phase"] == "ready", events[-1]["message"]
    image = events[-1]["image"]
    marker = docker_run(image, "cat", "/home/jovyan/.postbuild-marker")
    assert marker.startswith("postBuild ran as jovyan\njq-")
    # `start` runs through repo2docker's entrypoint before the command
    assert docker_run(image, "printenv", "VERSAHUB_START_RAN").strip() == "yes"


async def test_binder_dockerfile_repo(images_config: ImagesConfig, git_site: GitSite) -> None:
    repo = git_site.repo("dockerfile")
    builder = ImageBuilder(images_config)
    events = await collect(builder, repo.url)
    assert events[-1]["phase"] == "ready", events[-1]["message"]
    image = events[-1]["image"]
    assert (
        docker_run(image, "cat", "/etc/versahub-fixture").strip() == "built from binder/Dockerfile"
    )
    assert docker_run(image, "cat", "/home/jovyan/hello.txt").startswith("hello from")
    assert docker_run(image, "jupyterhub-singleuser", "--version").strip() == "6.1.1"


async def test_broken_repo_fails_cleanly_and_is_retried(
    images_config: ImagesConfig, git_site: GitSite
) -> None:
    repo = git_site.repo("broken")
    builder = ImageBuilder(images_config)
    events = await collect(builder, repo.url)
    final = events[-1]
    assert final["phase"] == "failed"
    assert "deliberate failure from the broken fixture" in final["message"]
    assert "repo2docker failed" in final["message"]
    assert not image_exists(final["image"])
    again = await collect(builder, repo.url)
    assert again[-1]["phase"] == "failed"
    assert builder.stats.builds_started == 2  # a failure is not cached
    assert builder.stats.builds_failed == 2


async def test_runtime_txt_other_python_fails_with_reason(
    images_config: ImagesConfig, git_site: GitSite
) -> None:
    repo = git_site.repo("requirements", name="requirements-py39")
    repo.commit({"runtime.txt": "python-3.9\n"})
    events = await collect(ImageBuilder(images_config), repo.url)
    assert events[-1]["phase"] == "failed"
    assert "python-3.9" in events[-1]["message"] and "3.11" in events[-1]["message"]


async def test_unknown_ref_fails_without_building(
    requirements_build: FirstBuild, images_config: ImagesConfig
) -> None:
    builder = ImageBuilder(images_config)
    events = await collect(builder, requirements_build.repo.url, "no-such-branch")
    assert [ev["phase"] for ev in events] == ["fetching", "failed"]
    assert "no-such-branch" in events[-1]["message"]
    assert builder.stats.builds_started == 0


async def test_registry_round_trip(
    images_config: ImagesConfig, git_site: GitSite, registry: LocalRegistry, session_prefix: str
) -> None:
    config = images_config.with_changes(
        registry=registry.addr, image_prefix=f"{registry.addr}/{session_prefix}"
    )
    repo = git_site.repo("requirements", name="requirements-registry")
    builder = ImageBuilder(config)
    built = await collect(builder, repo.url)
    assert built[-1]["phase"] == "ready", built[-1]["message"]
    assert "pushing" in [ev["phase"] for ev in built]
    image = built[-1]["image"]
    async with DockerEngine() as engine:
        assert await engine.remove_image(image)
    assert not image_exists(image)
    again = await collect(builder, repo.url)
    assert again[-1] == {**again[-1], "phase": "ready", "cache": "hit", "where": "registry"}
    assert builder.stats.builds_started == 1
    assert docker_run(image, "python", "-c", "import tabulate; print('ok')").strip() == "ok"


def test_conda_repo_renders_dockerfile(images_config: ImagesConfig, tmp_path: Path) -> None:
    """conda-forge is unreachable here, but repo2docker still renders the conda Dockerfile."""
    config = tmp_path / "r2d.py"
    config.write_text(
        repo2docker_config(base_image=images_config.base_image, python_version="3.11")
    )
    repo = tmp_path / "conda"
    repo.mkdir()
    (repo / "environment.yml").write_text((FIXTURES / "conda" / "environment.yml").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--config", str(config), "--no-build", "--debug",
         "--user-id", "1000", "--user-name", "jovyan", "--target-repo-dir", "/srv/repo",
         str(repo)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    dockerfile = proc.stdout
    assert f"FROM {images_config.base_image}" in dockerfile
    assert "environment.yml" in dockerfile
    assert "micromamba" in dockerfile or "mamba" in dockerfile
    assert "ENV CONDA_DIR=" in dockerfile
    assert "Rendered by VersaHub's offline buildpack" not in dockerfile


def test_cli_build_json_and_text(requirements_build: FirstBuild, tmp_path: Path) -> None:
    url = requirements_build.repo.url
    # the test's git server is on loopback: a site that allows it (the builder refuses
    # internal repository hosts otherwise)
    site = tmp_path / "site.yaml"
    site.write_text("policy:\n  allowed_internal_hosts: ['127.0.0.1']\n")
    cli = [sys.executable, "-m", "versahub", "build", url, "--ref", "main", "--site", str(site)]
    proc = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["phase"] == "ready"
    assert events[-1]["commit"] == requirements_build.repo.head
    # the CLI uses the site's default prefix, so its image differs from the session's
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    lines = dict(line.split(":", 1) for line in proc.stdout.splitlines())
    assert lines["commit"].strip() == requirements_build.repo.head
    assert lines["cache"].strip() == "hit (local)"
    # the CLI built under the site's default prefix: remove that image (this test made it)
    subprocess.run([docker_cli(), "rmi", events[-1]["image"]], capture_output=True, check=False)


def test_cli_bad_repo_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "versahub", "build", "ftp://example.invalid/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("versahub: error: repo")
