"""Decision latency and throughput through VersaHub's policy client against a real OPA.

Measures, for one realistic spec (the shipped ``policies/`` with site data rendered from
site.yaml's defaults plus a trusted list and volumes):

* ``PolicyClient`` (opa-python-client ``AsyncOpaClient``, one session): p50/p99 over
  ``--count`` sequential decisions, and decisions/s with ``--concurrency`` callers;
* the same through a bare ``aiohttp`` POST to the same OPA (the baseline; the ratio is the
  client's overhead).

Prints a markdown table. Starts its own OPA on a free loopback port unless ``--opa URL`` is
given; never talks to anything but loopback.

    .venv/bin/python bench/policy/bench_policy.py [--count 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from versahub.policy import PolicyClient, build_input, render_site_data, write_site_data
from versahub.policy.server import REPO_ROOT, OpaProcess, decision_log_entries, find_opa

TRUSTED = {
    "trusted_repos": ["https://github.com/binder-examples/*"],
    "trusted_forges": ["github.com"],
}
VOLUMES = {
    "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
    "ds101-shared": {
        "kind": "shared",
        "read": {"groups": ["ds101"]},
        "write": {"groups": ["ds101-teachers"]},
    },
}
SPEC = {
    "repo": "https://gitlab.com/ds101/course-env",
    "ref": "HEAD",
    "urlpath": "lab/tree/index.ipynb",
    "server_name": "analysis",
    "mounts": [
        {"volume": "home", "path": "/home/jovyan/work", "mode": "rw"},
        {"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"},
    ],
    "collaborators": ["bob", "group:ds101"],
    "public_readonly": False,
    "credentials": False,
    "internet": True,
    "resources": {"memory": "2G", "cpu": 1.0, "max_duration": "8h", "idle_timeout": "1h"},
    "provider": "gl",
    "source": {"scheme": "https", "host": "gitlab.com", "port": 443},
    "spec_id": "5c0ffee5c0ffee00",
}
INPUT = build_input(
    SPEC,
    {"name": "alice", "groups": ["ds101"], "admin": False},
    {"external": True, "referrer": "https://lms.example.edu/course/1"},
    {"users": ["bob"], "groups": ["ds101"]},
    {"name": "Bench", "hub_url": "http://127.0.0.1:8000"},
)

Call = Callable[[], Awaitable[Any]]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def sequential(call: Call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return times


async def concurrent(call: Call, count: int, callers: int) -> tuple[float, list[float]]:
    per = count // callers
    times: list[float] = []

    async def worker() -> None:
        for _ in range(per):
            start = time.perf_counter()
            await call()
            times.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(callers)))
    return per * callers / (time.perf_counter() - start), times


async def measure(name: str, call: Call, count: int, callers: int) -> dict[str, Any]:
    await sequential(call, 200)  # warm up: connections, OPA's caches
    seq = await sequential(call, count)
    rate, conc = await concurrent(call, count * 2, callers)
    return {
        "name": name,
        "p50": statistics.median(seq),
        "p99": pct(seq, 99),
        "mean": statistics.fmean(seq),
        "rate": rate,
        "conc_p50": statistics.median(conc),
        "conc_p99": pct(conc, 99),
    }


async def run(url: str, count: int, callers: int) -> tuple[list[dict[str, Any]], Any]:
    rows = []
    async with PolicyClient(url, timeout=5.0) as client:
        first = await client.decide(INPUT)
        if first.deny and first.deny[0].id == "policy-engine-unavailable":
            raise SystemExit(f"OPA gave no usable decision: {first.deny[0].message}")

        async def via_client() -> Any:
            decision = await client.decide(INPUT)
            assert decision.deny == first.deny and decision.warn == first.warn
            return decision

        rows.append(await measure("PolicyClient (opa-python-client)", via_client, count, callers))
    endpoint = f"{url}/v1/data/versahub/spawn/decision"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0)) as session:

        async def bare() -> Any:
            async with session.post(endpoint, json={"input": INPUT}) as resp:
                resp.raise_for_status()
                return await resp.json()

        rows.append(await measure("bare aiohttp POST (baseline)", bare, count, callers))
    return rows, first


def table(rows: list[dict[str, Any]], callers: int) -> str:
    head = (
        "| path | p50 ms | p99 ms | mean ms | decisions/s "
        f"({callers} callers) | p50 / p99 ms ({callers} callers) |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    body = [
        f"| {r['name']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['mean']:.2f} | {r['rate']:.0f} | "
        f"{r['conc_p50']:.2f} / {r['conc_p99']:.2f} |"
        for r in rows
    ]
    base = rows[-1]
    ratio = (
        f"\nclient / baseline: p50 ×{rows[0]['p50'] / base['p50']:.2f}, "
        f"p99 ×{rows[0]['p99'] / base['p99']:.2f}, "
        f"throughput ×{rows[0]['rate'] / base['rate']:.2f}"
    )
    return "\n".join([head, *body]) + "\n" + ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opa", help="use the OPA at this URL instead of starting one")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the table shows medians")
    parser.add_argument(
        "--no-decision-log", action="store_true", help="start OPA without console decision logs"
    )
    args = parser.parse_args()

    opa_bin = find_opa()
    version = subprocess.run([opa_bin, "version"], capture_output=True, text=True).stdout
    print(f"# policy decision benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"host: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" OPA {version.splitlines()[0].split()[-1] if version else '?'}"
    )
    with tempfile.TemporaryDirectory(prefix="versahub-bench-") as tmp:
        proc = None
        server_ms: list[float] = []
        log_bytes = 0
        url = args.opa
        if url is None:
            from versahub.site import site_from_mapping

            site = site_from_mapping({"policy": TRUSTED, "volumes": VOLUMES})
            write_site_data(render_site_data(site.policy, site.volumes), Path(tmp) / "data")
            proc = OpaProcess(
                REPO_ROOT / "policies",
                Path(tmp) / "data",
                log_path=Path(tmp) / "opa.log",
                opa=opa_bin,
                decision_log_console=not args.no_decision_log,
            )
            proc.start(timeout=15)
            url = proc.url
        runs = []
        loads = [os.getloadavg()[0]]
        try:
            for _ in range(args.repeat):
                rows, first = asyncio.run(run(url, args.count, args.concurrency))
                runs.append(rows)
                loads.append(os.getloadavg()[0])
        finally:
            if proc is not None:
                log_bytes = proc.log_path.stat().st_size
                proc.stop()
                server_ms = [
                    e["metrics"]["timer_server_handler_ns"] / 1e6
                    for e in decision_log_entries(proc.log_path)
                    if "timer_server_handler_ns" in e.get("metrics", {})
                ]
    log_note = "off"
    if not args.no_decision_log and proc is not None:
        per = log_bytes / max(1, len(server_ms))
        log_note = f"on ({log_bytes / 1e6:.1f} MB, {per / 1e3:.1f} kB per decision)"
    print(f"OPA: {url}, decision logs to console file: {log_note}")
    print(
        f"spec: {SPEC['repo']} → allowed={first.allowed}, deny={[f.id for f in first.deny]}, "
        f"warn={list(first.warn_ids)}"
    )
    print(
        f"sequential: {args.count} decisions; concurrent: {args.count * 2} decisions; "
        f"{args.repeat} runs, medians below; 1-min load average during the runs: "
        f"{min(loads):.2f}–{max(loads):.2f}\n"
    )
    median_rows = [
        {
            key: (runs[0][i][key] if key == "name" else statistics.median(r[i][key] for r in runs))
            for key in runs[0][i]
        }
        for i in range(len(runs[0]))
    ]
    print(table(median_rows, args.concurrency))
    if args.no_decision_log is False and proc is not None and server_ms:
        print(
            f"\nOPA's own handler time (decision log metrics, all {len(server_ms)} decisions): "
            f"p50 {statistics.median(server_ms):.2f} ms, p99 {pct(server_ms, 99):.2f} ms"
        )
    print(
        "\nper run (p99 ms / decisions/s): "
        + "; ".join(
            ", ".join(f"{r['name'].split()[0]} {r['p99']:.2f}/{r['rate']:.0f}" for r in rows)
            for rows in runs
        )
    )


if __name__ == "__main__":
    sys.exit(main())
