"""Launch latency of a cached image, request → server ready: VersaHub vs stock.

Runs two hubs side by side on this machine: (a) JupyterHub + DockerSpawner as they come,
launching the image directly, and (b) the same hub with VersaHub's spawner (spec re-parse,
OPA decision, image cache lookup, runtime plan, networks, shares) launching a spec whose
image is already in the cache. Their launches are *interleaved* — each sequential launch
(start → ready → stop) and each burst of concurrent launches (N named servers at once)
alternates between the two hubs, the first one swapping every round — so that the load of
other work on a shared machine falls on both alike. Prints a Markdown table (p50/p95
seconds), the VersaHub/stock ratio, and the load average before and after.

Run: ``.venv/bin/python bench/spawn/bench_spawn.py [--sequential 20] [--concurrent 10]
[--bursts 2]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image  # noqa: E402

from versahub.images.engine import docker_cli  # noqa: E402

SPEC = {"repo": REPO, "ref": COMMIT}
KINDS = ("stock", "versahub")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Side:
    """One hub under test and how it launches: stock (no body) or VersaHub (a spec)."""

    def __init__(self, kind: str, root: Path, image: str) -> None:
        self.kind = kind
        self.stock = kind == "stock"
        self.hub = HubUnderTest(root, stock_image=image if self.stock else None, cull_every=3600)
        self.confirmation = ""
        # server names differ per side: DockerSpawner's container names must not collide
        self.prefix = kind[0]

    def start(self) -> None:
        self.hub.start()
        if not self.stock:
            self.confirmation = self.hub.confirmation(SPEC, "alice")

    def launch(self, user: str, name: str) -> float:
        hub = self.hub
        body = (
            {}
            if self.stock
            else {"user_options": {"spec": SPEC, "confirmation": self.confirmation}}
        )
        name = f"{self.prefix}{name}"
        t0 = time.perf_counter()
        r = hub.api("POST", f"/users/{user}/servers/{name}", json=body)
        assert r.status_code in (201, 202), r.text
        while True:
            server = hub.api("GET", f"/users/{user}").json()["servers"].get(name, {})
            if server.get("ready"):
                return time.perf_counter() - t0
            if not server.get("pending"):
                raise RuntimeError(f"{self.kind}: {user}/{name} failed to start (see hub.log)")
            time.sleep(0.1)

    def stop(self, user: str, name: str) -> None:
        """Stop, then wait until Docker has removed the container: DockerSpawner reuses
        the name, and a start racing the removal fails with 409 Conflict."""
        self.hub.stop_server(user, f"{self.prefix}{name}")
        container = f"^/jupyter-{user}--{self.prefix}{name}$"
        for _ in range(300):
            out = subprocess.run(
                [docker_cli(), "ps", "-aq", "--filter", f"name={container}"],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            if not out.strip():
                return
            time.sleep(0.1)

    def burst(self, n: int) -> list[float]:
        with ThreadPoolExecutor(n) as pool:
            times = list(pool.map(lambda i: self.launch("bob", f"c{i}"), range(n)))
        for i in range(n):
            self.stop("bob", f"c{i}")
        return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=20, help="sequential launches per hub")
    parser.add_argument("--concurrent", type=int, default=10, help="servers per burst")
    parser.add_argument("--bursts", type=int, default=2, help="concurrent bursts per hub")
    args = parser.parse_args(argv)

    image = seed_cached_image()
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,")
    print(f"load average before: {load()}", flush=True)
    results: dict[str, dict[str, list[float]]] = {
        k: {"sequential": [], "concurrent": []} for k in KINDS
    }
    tmp = tempfile.mkdtemp(prefix="vh-bench-")
    sides = {k: Side(k, Path(tmp) / k, image) for k in KINDS}
    finished = False
    try:
        for side in sides.values():
            (Path(tmp) / side.kind).mkdir()
            side.start()
            side.launch("alice", "warmup")
            side.stop("alice", "warmup")
        for i in range(args.sequential):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                results[kind]["sequential"].append(sides[kind].launch("alice", "seq"))
                sides[kind].stop("alice", "seq")
        for i in range(args.bursts):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                results[kind]["concurrent"] += sides[kind].burst(args.concurrent)
        finished = True
    finally:
        for side in sides.values():
            side.hub.stop()
        if finished:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"failed; the hubs' logs are kept in {tmp}/*/hub.log", flush=True)
    print(f"load average after: {load()}\n")
    print("| launch (cached image) | stock p50 | stock p95 | VersaHub p50 | VersaHub p95 |", end="")
    print(" ratio p50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    labels = {
        "sequential": f"{args.sequential} sequential",
        "concurrent": f"{args.bursts} × {args.concurrent} concurrent",
    }
    for kind, label in labels.items():
        s, v = results["stock"][kind], results["versahub"][kind]
        print(
            f"| {label} | {statistics.median(s):.2f} s | {pct(s, 0.95):.2f} s | "
            f"{statistics.median(v):.2f} s | "
            f"{pct(v, 0.95):.2f} s | {statistics.median(v) / statistics.median(s):.2f}× |"
        )


if __name__ == "__main__":
    main()
