"""Benchmark of the image cache: lookup latency, time to a ready image, builds avoided.

Run on a machine with dockerd up and the base image built (`versahub images bootstrap`):

    .venv/bin/python bench/images/bench.py

Fixture repositories are served over git's smart HTTP on loopback and a real registry runs on
a free loopback port; every image the run creates carries a unique prefix and is removed at
the end. Prints a markdown table.
"""

from __future__ import annotations

import asyncio
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "images"))

from images_support import GitHTTPServer, GitSite  # noqa: E402

from versahub.images.builder import ImageBuilder  # noqa: E402
from versahub.images.config import ImagesConfig  # noqa: E402
from versahub.images.engine import DockerEngine, docker_cli  # noqa: E402
from versahub.images.lookup import RegistryClient, find_local  # noqa: E402
from versahub.images.registry import LocalRegistry  # noqa: E402

LOOKUPS = 200


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def ready(builder: ImageBuilder, url: str) -> tuple[float, dict]:
    t = time.perf_counter()
    last: dict = {}
    async for ev in builder.ensure(url, "main"):
        last = ev
    assert last.get("phase") == "ready", last
    return time.perf_counter() - t, last


async def main(tmp: Path, rows: list[tuple[str, str]]) -> None:
    prefix = f"versahub-bench-{uuid.uuid4().hex[:8]}/r2d-"
    reg = LocalRegistry(tmp / "registry", addr="127.0.0.1:5123")
    (tmp / "registry").mkdir()
    (tmp / "srv").mkdir()
    reg.start()
    try:
        with GitHTTPServer(tmp / "srv") as server:
            site = GitSite(root=tmp, server=server)
            # the bench's git server listens on loopback, which the builder otherwise refuses
            local = ImagesConfig(image_prefix=prefix, allowed_internal_hosts=("127.0.0.1",))
            builder = ImageBuilder(local)

            # time to a ready image: miss (build) then hit, requirements.txt fixture
            repo = site.repo("requirements", name="bench-requirements")
            miss, _ = await ready(builder, repo.url)
            hits = [(await ready(builder, repo.url))[0] for _ in range(10)]
            rows.append(
                ("ready image, miss, warm layer cache (same requirements.txt)", f"{miss:.1f} s")
            )
            cold_repo = site.repo("requirements", name="bench-cold")
            cold_repo.commit({"requirements.txt": f"# {uuid.uuid4().hex}\ntabulate==0.9.0\n"})
            cold, _ = await ready(builder, cold_repo.url)
            rows.append(
                ("ready image, miss, cold (new requirements.txt: pip from PyPI)", f"{cold:.1f} s")
            )
            rows.append(
                (
                    "ready image, hit (resolve + local lookup), median of 10",
                    ms(statistics.median(hits)),
                )
            )

            # lookup latency, local engine
            async with DockerEngine() as engine:
                image = await builder.image_for(engine, repo.url, repo.head)
                t = time.perf_counter()
                for _ in range(LOOKUPS):
                    assert await find_local(engine, image)
                rows.append(
                    (
                        "cache lookup, local engine hit (inspect)",
                        ms((time.perf_counter() - t) / LOOKUPS),
                    )
                )

            # lookup latency, registry
            remote = local.with_changes(registry=reg.addr, image_prefix=f"{reg.addr}/{prefix}")
            rbuilder = ImageBuilder(remote)
            rrepo = site.repo("requirements", name="bench-registry")
            await ready(rbuilder, rrepo.url)
            async with DockerEngine() as engine:
                rimage = await rbuilder.image_for(engine, rrepo.url, rrepo.head)
            async with RegistryClient(reg.url) as client:
                t = time.perf_counter()
                for _ in range(LOOKUPS):
                    assert await client.has_manifest(rimage.registry_path, rimage.tag)
                rows.append(
                    (
                        "cache lookup, registry hit (HEAD manifest)",
                        ms((time.perf_counter() - t) / LOOKUPS),
                    )
                )
            async with DockerEngine() as engine:
                await engine.remove_image(str(rimage))
            pulled, last = await ready(rbuilder, rrepo.url)
            assert last["where"] == "registry"
            rows.append(("ready image, registry hit + pull (not local)", f"{pulled:.1f} s"))

            # builds avoided: 20 launches over 3 repos x 2 commits
            repos = [site.repo("requirements", name=f"bench-mix-{i}") for i in range(3)]
            commits = []
            for r in repos:
                first = r.head
                second = r.commit({"more.md": "second commit\n"})
                commits += [(r, first), (r, second)]
            mix = ImageBuilder(local)
            rng = random.Random(4)
            launches = [rng.choice(commits) for _ in range(20)]
            for r, c in commits:  # every (repo, commit) at least once
                if (r, c) not in launches:
                    launches[rng.randrange(20)] = (r, c)
            t = time.perf_counter()
            for r, c in launches:
                async for _ in mix.ensure(r.url, c):
                    pass
            total = time.perf_counter() - t
            built = mix.stats.builds_started
            rows.append(
                (
                    "launches / distinct (repo, commit)",
                    f"{len(launches)} / {len({(r.name, c) for r, c in launches})}",
                )
            )
            rows.append(("builds run / builds avoided", f"{built} / {len(launches) - built}"))
            rows.append(("20 launches, total wall time", f"{total:.1f} s"))
    finally:
        reg.stop()
        names = subprocess.run(
            [docker_cli(), "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        mine = [n for n in names if prefix.split("/")[0] in n]
        if mine:
            subprocess.run([docker_cli(), "rmi", "-f", *mine], capture_output=True, check=False)


if __name__ == "__main__":
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="versahub-bench-") as tmp:
        asyncio.run(main(Path(tmp), rows))
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"Images benchmark, {time.strftime('%Y-%m-%d')}, {platform.platform()}, {cpu} cores\n")
    print("| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
