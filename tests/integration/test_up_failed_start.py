"""A component that starts but never answers is stopped when `versahub up` gives up on it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from versahub.app.hubconfig import HubPaths
from versahub.app.up import _start_until_ok

sys.path.insert(0, str(Path(__file__).parent))
from site_support import free_port

pytestmark = [pytest.mark.integration]


def test_a_start_that_times_out_leaves_no_process(tmp_path: Path) -> None:
    paths = HubPaths(tmp_path)
    paths.logs.mkdir(parents=True)
    port = free_port()
    # a real server that answers 404 where the readiness check looks: alive, never ready
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    started: list[int] = []

    def echo(line: str) -> None:
        started.append(len(line))

    t0 = time.monotonic()
    with pytest.raises(Exception, match=r"probe \(http:"):
        _start_until_ok("probe", argv, f"http://127.0.0.1:{port}/hub/api", 3, paths, echo,
                        cwd=tmp_path)  # fmt: skip
    assert time.monotonic() - t0 < 30
    left = subprocess.run(["pgrep", "-f", f"http.server {port}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the component that never answered is still running"
