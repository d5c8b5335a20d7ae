"""Run every benchmark harness under bench/ and print their Markdown tables.

Each harness is a standalone script that measures VersaHub next to the stock setup in the
same run and prints a table; this runner only finds and runs them, one after another (they
share the machine's two cores, so they never run at the same time).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def harnesses() -> list[Path]:
    """Every ``bench/<part>/bench*.py`` script, in a stable order."""
    return sorted(BENCH.glob("*/bench*.py"))


def main() -> int:
    failed = 0
    for script in harnesses():
        name = script.relative_to(BENCH)
        print(f"\n==> {name}", flush=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, check=False)
        print(f"    ({time.monotonic() - start:.0f} s, exit {result.returncode})", flush=True)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
