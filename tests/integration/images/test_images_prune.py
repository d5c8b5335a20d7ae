"""Disk budget against the real engine: LRU removal, in-use and base images kept, dry run, CLI.

Each test builds its own tiny images (the base image + one random 1 MiB layer + the builder's
cache-key label) under a unique prefix, and removes them and its containers afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from images_support import GitSite

from versahub.cli.images import images_group
from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.engine import docker_cli
from versahub.images.names import CACHE_KEY_LABEL
from versahub.images.prune import LastUsedIndex, prune

pytestmark = [pytest.mark.integration, pytest.mark.docker]

DAY = 86400.0


def docker(*args: str) -> str:
    proc = subprocess.run([docker_cli(), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def exists(name: str) -> bool:
    return (
        subprocess.run([docker_cli(), "image", "inspect", name], capture_output=True).returncode
        == 0
    )


@dataclass
class MadeImages:
    """Images and containers one test made; ``cleanup`` removes exactly those."""

    base: str
    workdir: Path
    prefix: str = field(default_factory=lambda: f"versahub-prune-{uuid.uuid4().hex[:8]}/r2d-")
    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def build(self, name: str, *, prefix: str | None = None, label: bool = True) -> str:
        ref = f"{prefix or self.prefix}{name}:{'c' * 40}"
        ctx = self.workdir / name
        ctx.mkdir()
        (ctx / "blob").write_bytes(os.urandom(1024 * 1024))
        lines = [f"FROM {self.base}", "COPY blob /blob"]
        if label:
            lines.append(f"LABEL {CACHE_KEY_LABEL}={uuid.uuid4().hex}")
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        self.images.append(ref)
        subprocess.run(
            [docker_cli(), "build", "-q", "-t", ref, str(ctx)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=True, capture_output=True,
        )  # fmt: skip
        return ref

    def container(self, image: str, *, running: bool) -> str:
        name = f"versahub-prune-test-{uuid.uuid4().hex[:8]}"
        verb = ["run", "-d"] if running else ["create"]
        docker(*verb, "--name", name, "--network", "none", "--entrypoint", "sleep", image, "3600")
        self.containers.append(name)
        return name

    def cleanup(self) -> None:
        if self.containers:
            subprocess.run([docker_cli(), "rm", "-f", *self.containers], capture_output=True)
        present = [ref for ref in self.images if exists(ref)]
        if present:
            subprocess.run([docker_cli(), "rmi", *present], capture_output=True)


@pytest.fixture
def test_images(images_config: ImagesConfig, tmp_path: Path) -> Iterator[MadeImages]:
    made = MadeImages(base=images_config.base_image, workdir=tmp_path / "ctx")
    made.workdir.mkdir()
    yield made
    made.cleanup()


@pytest.fixture
def lru_site(test_images: MadeImages, tmp_path: Path) -> tuple[ImagesConfig, dict[str, str]]:
    """Seven images: base-like, in use (running), stopped-server, old, mid, new, foreign."""
    t = test_images
    refs = {
        "base": t.build("base"),
        "running": t.build("running"),
        "stopped": t.build("stopped"),
        "old": t.build("old"),
        "mid": t.build("mid"),
        "new": t.build("new"),
        "nolabel": t.build("nolabel", label=False),
        "foreign": t.build("foreign", prefix=t.prefix.replace("/r2d-", "-other/r2d-")),
    }
    config = ImagesConfig(
        image_prefix=t.prefix, base_image=refs["base"], cache_dir=str(tmp_path / "cache")
    )
    now = time.time()
    index = LastUsedIndex.for_config(config)
    for key, days in [
        ("base", 20), ("nolabel", 15), ("foreign", 12), ("running", 10), ("stopped", 8),
        ("old", 5), ("mid", 3), ("new", 1),
    ]:  # fmt: skip
        index.touch(refs[key], when=now - days * DAY)
    t.container(refs["running"], running=True)
    t.container(refs["stopped"], running=False)
    return config, refs


def by_tag(items: list[dict]) -> dict[str, dict]:
    return {item["tags"][0]: item for item in items}


async def test_prune_removes_lru_images_and_keeps_used_base_and_foreign(
    lru_site: tuple[ImagesConfig, dict[str, str]],
) -> None:
    config, refs = lru_site
    dry = await prune(config, dry_run=True, budget=1024**3)
    sizes = {tag: item["size"] for tag, item in by_tag(dry.kept).items()}
    assert set(sizes) == {refs[k] for k in ("base", "running", "stopped", "old", "mid", "new")}
    assert all(1024**2 <= s < 2 * 1024**2 for s in sizes.values())  # only the 1 MiB layer counts
    # a budget that fits the four images that must stay or are newest, not five
    keep = ("base", "running", "stopped", "new")
    budget = sum(sizes[refs[k]] for k in keep) + 1024**2 // 2

    dry = await prune(config, dry_run=True, budget=budget)
    assert [r["tags"] for r in dry.removed] == [[refs["old"]], [refs["mid"]]]
    assert all(exists(ref) for ref in refs.values())  # a dry run removes nothing

    report = await prune(config, budget=budget)
    assert [r["tags"] for r in report.removed] == [[refs["old"]], [refs["mid"]]]
    assert report.errors == [] and not report.over_budget
    assert report.total_after <= budget < report.total_before
    kept = {tag: item["reason"] for tag, item in by_tag(report.kept).items()}
    assert kept[refs["base"]] == "base image"
    assert kept[refs["running"]].startswith("container versahub-prune-test-")
    assert kept[refs["running"]].endswith("(running)")
    assert kept[refs["stopped"]].endswith("(created)")
    assert kept[refs["new"]] == "within budget"
    assert not exists(refs["old"]) and not exists(refs["mid"])
    for key in ("base", "running", "stopped", "new", "nolabel", "foreign"):
        assert exists(refs[key]), key
    assert exists(config.base_image) and exists(ImagesConfig().base_image)
    index = LastUsedIndex.for_config(config).read()
    assert refs["old"] not in index and refs["new"] in index


async def test_budget_below_what_must_stay_reports_over_budget(
    lru_site: tuple[ImagesConfig, dict[str, str]],
) -> None:
    config, refs = lru_site
    report = await prune(config, budget=1024**2)
    assert {r["tags"][0] for r in report.removed} == {refs["old"], refs["mid"], refs["new"]}
    assert report.over_budget
    assert exists(refs["running"]) and exists(refs["stopped"]) and exists(refs["base"])


def test_cli_prune_dry_run_json_and_text(lru_site: tuple[ImagesConfig, dict[str, str]]) -> None:
    config, refs = lru_site
    args = ["prune", "--image-prefix", config.image_prefix, "--cache-dir", config.cache_dir]
    runner = CliRunner()
    result = runner.invoke(images_group, [*args, "--budget", "1M", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["dry_run"] is True and doc["budget"] == 1024**2 and doc["over_budget"] is True
    # the CLI's base image is the site's, so the test's base-like image is a candidate here
    removed = [r["tags"][0] for r in doc["removed"]]
    assert removed == [refs["base"], refs["old"], refs["mid"], refs["new"]]
    assert all(exists(ref) for ref in refs.values())

    result = runner.invoke(images_group, [*args, "--budget", "1G"])
    assert result.exit_code == 0, result.output
    assert "removed" not in result.output
    assert "(running)" in result.output and "(created)" in result.output
    assert result.output.strip().splitlines()[-1].endswith("budget 1.0G")


async def test_builder_records_use_and_prunes_after_a_build(
    test_images: MadeImages, git_site: GitSite, tmp_path: Path
) -> None:
    old = test_images.build("old")
    config = ImagesConfig(
        image_prefix=test_images.prefix, cache_dir=str(tmp_path / "cache"), disk_budget=1024**2,
        allowed_internal_hosts=("127.0.0.1",),  # the test git server listens on loopback
    )  # fmt: skip
    index = LastUsedIndex.for_config(config)
    index.touch(old, when=time.time() - 5 * DAY)
    repo = git_site.repo("requirements", name=f"requirements-prune-{uuid.uuid4().hex[:6]}")
    builder = ImageBuilder(config)
    events = [ev async for ev in builder.ensure(repo.url, "main")]
    assert events[-1]["phase"] == "ready" and events[-1]["cache"] == "miss"
    new = events[-1]["image"]
    test_images.images.append(new)
    await builder.prunes_done()  # the prune runs after 'ready', in the background
    assert builder.stats.pruned == [old] and not exists(old)
    assert exists(new)  # just built: kept although it alone exceeds the 1M budget
    built_at = index.read()[new]
    events = [ev async for ev in builder.ensure(repo.url, "main")]
    assert events[-1]["cache"] == "hit"
    assert index.read()[new] >= built_at  # a hit is recorded too
    assert old not in index.read()
