"""Launch latency of a cached image, request → server ready: VersaHub vs stock.

Starts, one after the other, (a) JupyterHub + DockerSpawner as they come, launching the
image directly, and (b) the same hub with VersaHub's spawner (spec re-parse, OPA decision,
image cache lookup, runtime plan, networks, shares) launching a spec whose image is already
in the cache. Each does 20 sequential launches (start → ready → stop) and then 10
concurrent launches (10 named servers at once). Prints a Markdown table (p50/p95 seconds)
and the VersaHub/stock ratio. Run: ``.venv/bin/python bench/spawn/bench_spawn.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image  # noqa: E402

SEQUENTIAL = 20
CONCURRENT = 10
SPEC = {"repo": REPO, "ref": COMMIT}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def one_launch(hub: HubUnderTest, user: str, name: str, stock: bool, confirmation: str) -> float:
    body = {} if stock else {"user_options": {"spec": SPEC, "confirmation": confirmation}}
    t0 = time.perf_counter()
    r = hub.api("POST", f"/users/{user}/servers/{name}", json=body)
    assert r.status_code in (201, 202), r.text
    while True:
        server = hub.api("GET", f"/users/{user}").json()["servers"].get(name, {})
        if server.get("ready"):
            return time.perf_counter() - t0
        if not server.get("pending"):
            raise RuntimeError(f"{user}/{name} failed to start (see the hub log)")
        time.sleep(0.1)


def run(stock: bool, image: str) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="vh-bench-") as tmp:
        hub = HubUnderTest(Path(tmp), stock_image=image if stock else None, cull_every=3600)
        hub.start()
        try:
            confirmation = "" if stock else hub.confirmation(SPEC, "alice")
            one_launch(hub, "alice", "warmup", stock, confirmation)
            hub.stop_server("alice", "warmup")
            seq = []
            for _ in range(SEQUENTIAL):
                seq.append(one_launch(hub, "alice", "seq", stock, confirmation))
                hub.stop_server("alice", "seq")
            with ThreadPoolExecutor(CONCURRENT) as pool:
                conc = list(
                    pool.map(
                        lambda i: one_launch(hub, "bob", f"c{i}", stock, confirmation),
                        range(CONCURRENT),
                    )
                )
            for i in range(CONCURRENT):
                hub.stop_server("bob", f"c{i}")
            return {"sequential": seq, "concurrent": conc}
        finally:
            hub.stop()


def main() -> None:
    image = seed_cached_image()
    results = {"stock": run(True, image), "versahub": run(False, image)}
    print("| launch (cached image) | stock p50 | stock p95 | VersaHub p50 | VersaHub p95 |", end="")
    print(" ratio p50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, n in (("sequential", SEQUENTIAL), ("concurrent", CONCURRENT)):
        s, v = results["stock"][kind], results["versahub"][kind]
        print(
            f"| {n} {kind} | {pct(s, 0.5):.2f} s | {pct(s, 0.95):.2f} s | {pct(v, 0.5):.2f} s | "
            f"{pct(v, 0.95):.2f} s | {statistics.median(v) / statistics.median(s):.2f}× |"
        )


if __name__ == "__main__":
    main()
