"""Start, probe and stop the processes of a site on this machine (``versahub up``).

Thin I/O only: which commands to run comes from pure builders elsewhere
(``versahub.app.hubconfig``, ``versahub.policy.server``). Every process gets its own log
file under ``<state>/logs`` and its own process group, so ``versahub down`` can stop it and
everything it started (the hub starts configurable-http-proxy). This module never deletes
anything but the files it wrote itself (``run.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.util.files import atomic_write


@dataclass
class Component:
    """One running process of the site."""

    name: str
    process: subprocess.Popen[bytes]
    log_file: Path


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Component:
    """Start ``argv`` in its own process group, stdout+stderr appended to ``<name>.log``.

    SIGINT and SIGQUIT are given back their default action: a shell's background job (cron,
    ``nohup … &``, CI) starts with them ignored, every child would inherit that, and the hub
    stops its managed services with SIGINT first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    return Component(name=name, process=process, log_file=log_file)


def _default_signals() -> None:
    """In the child, before exec: SIGINT and SIGQUIT back to their default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def http_status(
    url: str, timeout: float = 2.0, *, certificate: str | os.PathLike[str] | None = None
) -> int | None:
    """Return the HTTP status of ``GET url`` or ``None`` when nothing answers.

    ``certificate``: the exact certificate the server must present (the site's own
    ``hub.tls.certificate``, trusted as it is, with its host name checked), for a hub whose
    certificate comes from a private CA this machine does not know."""
    context = None
    if certificate is not None:
        context = ssl.create_default_context(cafile=str(certificate))
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return None


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    progress: Callable[[str], None] | None = None,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.2,
) -> None:
    """Poll ``check`` until it is true; report progress every 5 s; raise on timeout."""
    start = time.monotonic()
    last_report = start
    while True:
        if check():
            return
        now = time.monotonic()
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process exited while starting")
        if now - start > timeout:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        if progress is not None and now - last_report >= 5:
            progress(f"  … still waiting for {what} ({now - start:.0f} s)")
            last_report = now
        time.sleep(interval)


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def stop_pid(pid: int, *, timeout: float = 15.0, group: bool = True) -> None:
    """SIGTERM ``pid`` (its process group when ``group``), then SIGKILL after ``timeout``."""
    sender = os.killpg if group else os.kill
    try:
        target = os.getpgid(pid) if group else pid
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        sender(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        sender(target, signal.SIGKILL)


def write_run_file(path: Path, record: Mapping[str, Any]) -> None:
    """Write ``run.json`` atomically (temp file + rename)."""
    atomic_write(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_run_file(path: Path) -> dict[str, Any] | None:
    """Return the run record, or ``None`` when there is none or it is unreadable."""
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_pid_file(path: Path) -> int | None:
    """Return the pid in a pid file, or ``None``."""
    try:
        return int(path.read_text("utf-8").strip())
    except (OSError, ValueError):
        return None
