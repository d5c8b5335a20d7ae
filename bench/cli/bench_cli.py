"""Wall-clock start-up of the ``versahub`` command line, next to ``python -c "import click"``.

Measures, ``--runs`` times each (interleaved, so a busy moment hits every command alike,
after one warm-up run each), the time from spawning the process to its exit for:

* ``python -c "import click"`` — the baseline: the interpreter plus the CLI library, the
  least any click command line can cost;
* ``versahub --version``, ``versahub spec parse <launch URL>``, ``versahub spec url <file>``
  (the console script next to this Python; commands that never talk to a service).

Prints a Markdown table with median and p95 per command and the ratio to the baseline's
median; the target is a p95 under 0.3 s. ``--pythonpath DIR`` measures the ``versahub``
package in DIR instead of the installed one (e.g. ``git archive <commit> | tar -x -C DIR``
for a before/after comparison).

    .venv/bin/python bench/cli/bench_cli.py [--runs 20] [--pythonpath DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = ROOT / "examples" / "specs" / "requirements.yaml"
LAUNCH_URL = "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD"
TARGET_S = 0.3


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def versahub_script() -> str:
    beside = Path(sys.executable).parent / "versahub"
    found = str(beside) if beside.exists() else shutil.which("versahub")
    if found is None:
        raise SystemExit("no versahub console script (run `make setup` or `pip install -e .`)")
    return found


def environment(pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERSAHUB_")}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-500:]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--pythonpath", metavar="DIR", help="measure the versahub package in DIR")
    args = parser.parse_args()

    env = environment(args.pythonpath)
    script = versahub_script()
    spec_file = os.path.relpath(SPEC_FILE, ROOT)
    commands = [
        ('python -c "import click" (baseline)', [sys.executable, "-c", "import click"]),
        ("versahub --version", [script, "--version"]),
        ("versahub spec parse <url>", [script, "spec", "parse", LAUNCH_URL]),
        (f"versahub spec url {spec_file}", [script, "spec", "url", spec_file]),
    ]
    where = subprocess.run(
        # -P: like the console script, do not put the working folder first on sys.path
        [sys.executable, "-P", "-c", "import versahub.cli; print(versahub.cli.__file__)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    print(f"# CLI start-up benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"host: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f"; versahub from {os.path.relpath(where, ROOT) if where.startswith(str(ROOT)) else where}"
    )
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    loads = [os.getloadavg()[0]]
    for _, argv in commands:  # warm up the page cache and __pycache__
        once(argv, env)
    for _ in range(args.runs):
        for name, argv in commands:
            times[name].append(once(argv, env))
    loads.append(os.getloadavg()[0])
    print(
        f"{args.runs} runs per command, interleaved, after one warm-up run each; "
        f"1-min load average: {min(loads):.2f}–{max(loads):.2f}\n"
    )

    base = statistics.median(times[commands[0][0]])
    print("| command | median s | p95 s | ratio to baseline (median) | p95 < 0.3 s |")
    print("| --- | ---: | ---: | ---: | :---: |")
    worst = 0.0
    for index, (name, _) in enumerate(commands):
        med, p95 = statistics.median(times[name]), pct(times[name], 95)
        ratio = "×1.00" if index == 0 else f"×{med / base:.2f}"
        ok = "—" if index == 0 else ("✔" if p95 < TARGET_S else "✘")
        if index:
            worst = max(worst, p95)
        print(f"| {name} | {med:.3f} | {p95:.3f} | {ratio} | {ok} |")
    print(
        f"\nslowest versahub p95: {worst:.3f} s (target < {TARGET_S} s); "
        f"over the baseline's median: +{worst - base:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
