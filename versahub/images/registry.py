"""A real image registry on loopback: Debian's ``docker-registry`` (CNCF distribution v2).

``registry_config`` renders its ``config.yml`` (pure); ``LocalRegistry`` runs
``docker-registry serve config.yml`` with its own storage folder, waits until ``/v2/``
answers, and stops only the process it started. ``garbage_collect`` runs the registry's own
``garbage-collect`` (run it while the registry is stopped or read-only). ``versahub up`` and
the tests use the same code. The registry listens on loopback only unless told otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml


def registry_config(storage_dir: str, addr: str = "127.0.0.1:5000") -> str:
    """``config.yml`` for a filesystem-backed registry that allows deletes (pure)."""
    doc = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": storage_dir},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": addr, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class LocalRegistry:
    """One ``docker-registry serve`` process with its state under ``state_dir``."""

    state_dir: Path
    addr: str = "127.0.0.1:5000"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "config.yml"

    def write_config(self) -> Path:
        storage = self.state_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(registry_config(str(storage), self.addr))
        return self.config_file

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, wait: float = 20.0) -> None:
        """Start the registry (unless one already answers on ``addr``) and wait for it."""
        if self.answers():
            return
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.write_config()
        log = (self.state_dir / "registry.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + wait
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"registry did not start; see {self.state_dir}/registry.log")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the process this object started (and nothing else)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def garbage_collect(self) -> str:
        """``docker-registry garbage-collect --delete-untagged``; returns its output."""
        proc = subprocess.run(
            ["docker-registry", "garbage-collect", "--delete-untagged", str(self.config_file)],
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout
