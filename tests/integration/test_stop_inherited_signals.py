"""A site started from a background job stops at once and leaves no process behind.

A non-interactive shell starts background jobs with SIGINT *ignored* (``cmd &``, cron,
``nohup … &``), and every child inherits that. JupyterHub stops its managed services with
SIGINT first; the culler used to keep running, the hub waited 20 s for it, was killed by
``versahub down`` and left the culler running forever. Now ``versahub up`` gives its
processes SIGINT's default action back, and the culler handles SIGINT/SIGTERM itself. The test
starts the site exactly as ``versahub up`` does, with SIGINT ignored as such a job has it, and
stops it at once (while the culler may still be starting).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from spawn_support import HubUnderTest

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def cullers(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "versahub.hub.culling"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if str(root) in line]


def test_stop_with_sigint_ignored_is_quick_and_leaves_no_culler(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        hub = HubUnderTest(tmp_path / "site").start()
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert len(cullers(tmp_path)) == 1, cullers(tmp_path)
    finally:
        t0 = time.monotonic()
        hub.stop()
        took = time.monotonic() - t0
    assert cullers(tmp_path) == []
    # JupyterHub's own stop of the service begins with SIGINT; 10 s would be its SIGTERM
    assert took < 8, f"the site took {took:.1f} s to stop"
