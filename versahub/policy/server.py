"""The OPA server process: find the binary, build its command line, start, probe and stop it.

Thin I/O around the real ``opa`` binary (no Rego is evaluated in Python). ``opa_command`` is
pure. :class:`OpaProcess` runs ``opa run --server`` on a loopback address with ``--watch``
(policy and data files take effect on the next decision, no restart) and writes OPA's JSON log
to one file: one JSON object per line; decisions are the lines with
``"msg": "Decision Log"`` and carry ``decision_id``, ``path``, ``input``, ``result`` (absent
when undefined), ``timestamp``, ``requested_by`` and ``metrics``; the other lines are OPA's
own (``"Received request."``, ``"Processed file watch event."`` with ``err``, …).

``--watch`` facts, verified with OPA 1.22.3 (see ``tests/integration/test_policy_opa.py``):

* an edited, added or renamed-over file in a folder OPA watched at start is live on the next
  decision (well under a second); so is ``data.json`` replaced by rename;
* a file that fails to parse or compile is logged (``"Processed file watch event."`` with
  ``err``) and OPA keeps serving the last set that compiled — :func:`policy_drift` shows it;
* a file written *in place* can be read half-written: a prefix that compiles replaces the
  whole file, dropping its later rules — an allow if those were ``deny`` rules. Deploy policy
  files by rename (write a hidden temp file in the same folder, then ``mv``);
* a folder created after start is not watched (its files load only when a watched file
  changes, and later edits in it are missed): restart OPA after adding a folder;
* OPA refuses to start when a policy file does not compile (``OpaStartError``).

It must never listen on anything but loopback, never download anything (``--skip-version-check``)
and never stop a process it did not start.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from versahub.errors import InputError, shorten
from versahub.util.net import split_host_port

OPA_ENV = "VERSAHUB_OPA"
CACHED_OPA = Path("/root/.cache/versahub/tools/opa")
DEFAULT_ADDR = "127.0.0.1:8181"
REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO_ROOT / "policies"


class OpaNotFound(RuntimeError):
    """No ``opa`` binary in any of the places VersaHub looks."""


class OpaStartError(RuntimeError):
    """OPA exited or did not become healthy in time; the message ends with its last log lines."""


def find_opa(repo: Path | None = None) -> str:
    """Return the path of the ``opa`` binary.

    Looks at ``$VERSAHUB_OPA``, then ``<repo>/.tools/opa``, then
    ``/root/.cache/versahub/tools/opa``, then ``opa`` on ``PATH``.
    """
    env = os.environ.get(OPA_ENV)
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise OpaNotFound(f"${OPA_ENV} is set to {env!r}, which is not an executable file")
    candidates = [(repo or REPO_ROOT) / ".tools" / "opa", CACHED_OPA]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("opa")
    if found:
        return found
    raise OpaNotFound(
        f"no opa binary: set ${OPA_ENV}, or install OPA into {candidates[0]} or onto PATH"
    )


def check_loopback(addr: str) -> tuple[str, int]:
    """Return ``(host, port)`` of ``addr`` (``127.0.0.1:8181``, ``[::1]:8181``, ``localhost:…``)
    or raise ``InputError`` when it is not a loopback address."""
    host, port = split_host_port(addr, "opa.address")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InputError("opa.address", f"{shorten(addr)} is not a loopback address")
    return host, port


def opa_command(
    policy_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None,
    addr: str = DEFAULT_ADDR,
    decision_log_console: bool = True,
    *,
    opa: str = "opa",
    config_file: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Return the ``opa run`` command line serving ``policy_dir`` and ``data_dir`` on ``addr``.

    ``--ignore .*`` keeps editor swap files and ``write_site_data``'s temporary file out;
    ``--ignore *_test.rego`` keeps policy tests out of the server (``opa test`` runs them).
    ``config_file`` is OPA's configuration file (``versahub up`` writes one that uploads the
    decision log to the hub: ``decision_log_config``).
    """
    check_loopback(addr)
    cmd = [
        opa,
        "run",
        "--server",
        "--addr",
        addr,
        "--watch",
        "--log-format",
        "json",
        "--skip-version-check",
        "--ignore",
        ".*",
        "--ignore",
        "*_test.rego",
    ]
    if config_file is not None:
        cmd += ["--config-file", str(config_file)]
    if decision_log_console:
        cmd += ["--set", "decision_logs.console=true"]
    cmd.append(str(policy_dir))
    if data_dir is not None:
        cmd.append(str(data_dir))
    return cmd


def decision_log_config(hub_api_url: str, token: str) -> dict[str, Any]:
    """OPA's configuration that uploads every decision, masked by ``data.system.log.mask``
    (``policies/system/log/mask.rego``), to the hub's ``<hub_api_url>/versahub/decision-log``
    (OPA appends ``/logs``), with the token of the hub service ``versahub-opa``.

    Uploads every 1-3 s; OPA keeps up to 32 MiB of events while the hub is away (it starts
    before the hub) and drops the oldest beyond that, logging that it did.
    """
    return {
        "services": {
            "hub": {
                "url": f"{hub_api_url.rstrip('/')}/versahub/decision-log",
                "credentials": {"bearer": {"token": token, "scheme": "token"}},
                "response_header_timeout_seconds": 10,
            }
        },
        "decision_logs": {
            "service": "hub",
            "mask_decision": "/system/log/mask",
            "reporting": {
                "min_delay_seconds": 1,
                "max_delay_seconds": 3,
                "buffer_size_limit_bytes": 32 * 1024 * 1024,
            },
        },
    }


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health(url: str, timeout: float = 0.5) -> bool:
    """True when ``GET <url>/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def decision_log_entries(log_path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the decision-log records of an OPA log file (lines with ``msg == "Decision Log"``)."""
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == "Decision Log":
                yield entry


def _served_files(policy_dir: Path) -> dict[str, str]:
    files = {}
    for path in sorted(policy_dir.rglob("*.rego")):
        rel = path.relative_to(policy_dir)
        if any(part.startswith(".") for part in rel.parts) or path.name.endswith("_test.rego"):
            continue
        files[str(rel)] = path.read_text("utf-8", errors="replace")
    return files


def policy_drift(url: str, policy_dir: str | os.PathLike[str], timeout: float = 2.0) -> list[str]:
    """Compare the policy modules OPA serves (``GET /v1/policies``) with the files on disk.

    Returns one line per difference (empty when OPA serves exactly the files). With
    ``--watch``, OPA keeps serving the last policy set that compiled when an edit breaks
    it, and may serve a file it read half-written; this makes both visible.
    """
    root = Path(policy_dir).resolve()
    with urllib.request.urlopen(f"{url}/v1/policies", timeout=timeout) as resp:
        served_raw = json.load(resp).get("result", [])
    # OPA names a module by the path it loaded, without a leading "/" for absolute paths.
    prefix = str(root).lstrip("/") + "/"
    served: dict[str, str] = {}
    for module in served_raw:
        ident = str(module.get("id", "")).lstrip("/")
        if ident.startswith(prefix):  # else pushed over the API or from another folder
            served[ident[len(prefix) :]] = str(module.get("raw", ""))
    on_disk = _served_files(root)
    problems = []
    for name in sorted(on_disk.keys() - served.keys()):
        problems.append(f"{name}: on disk but not served (does it compile?)")
    for name in sorted(served.keys() - on_disk.keys()):
        problems.append(f"{name}: served but no longer on disk")
    for name in sorted(on_disk.keys() & served.keys()):
        if on_disk[name] != served[name]:
            problems.append(f"{name}: OPA serves an older or partial version (see the OPA log)")
    return problems


class OpaProcess:
    """One ``opa run --server`` child process with its log file.

    ``with OpaProcess(policies, data, log_path=...) as opa: opa.url`` starts it, waits for
    ``/health`` and stops it on exit.
    """

    def __init__(
        self,
        policy_dir: str | os.PathLike[str],
        data_dir: str | os.PathLike[str] | None,
        *,
        log_path: str | os.PathLike[str],
        addr: str | None = None,
        opa: str | None = None,
        decision_log_console: bool = True,
    ) -> None:
        self.addr = addr or f"127.0.0.1:{free_loopback_port()}"
        host, port = check_loopback(self.addr)
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.log_path = Path(log_path)
        self.command = opa_command(
            Path(policy_dir).resolve(),
            None if data_dir is None else Path(data_dir).resolve(),
            self.addr,
            decision_log_console,
            opa=opa or find_opa(),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(
        self, timeout: float = 10.0, progress: Callable[[str], None] | None = None
    ) -> OpaProcess:
        """Start OPA and wait until ``/health`` answers; raise ``OpaStartError`` otherwise."""
        if self.running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        if progress:
            progress(f"starting OPA on {self.addr} (log: {self.log_path})")
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_healthy(timeout, progress)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(
        self, timeout: float = 10.0, progress: Callable[[str], None] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        next_note = time.monotonic() + 2.0
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise OpaStartError(
                    f"OPA exited with status {self.proc.returncode}: {self.log_tail()}"
                )
            if health(self.url, timeout=0.5):
                if progress:
                    progress(f"OPA is healthy at {self.url}")
                return
            now = time.monotonic()
            if now >= deadline:
                raise OpaStartError(
                    f"OPA did not answer {self.url}/health within {timeout} s: {self.log_tail()}"
                )
            if progress and now >= next_note:
                progress(f"waiting for OPA at {self.url} ({deadline - now:.0f} s left)")
                next_note = now + 2.0
            time.sleep(0.05)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop OPA (SIGTERM, then SIGKILL after ``timeout``) and close the log file."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OpaProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
