"""The local Docker engine: inspect, tag, remove, push and pull images.

Reads go straight to the engine's API over ``/var/run/docker.sock`` (aiohttp, async, a few
milliseconds); pushes and pulls use Debian's ``docker`` client, whose API version matches
Debian's engine (a newer client elsewhere on ``PATH`` would need ``DOCKER_API_VERSION``).
This module never removes an image it was not asked to remove by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from typing import Any
from urllib.parse import quote

import aiohttp

DOCKER_SOCKET = os.environ.get("VERSAHUB_DOCKER_SOCKET", "/var/run/docker.sock")
_DEBIAN_DOCKER = "/usr/bin/docker"


class EngineError(RuntimeError):
    """The docker engine refused or failed an operation."""


def docker_cli() -> str:
    """Path of the docker client to run: Debian's when present, else the one on PATH."""
    if os.access(_DEBIAN_DOCKER, os.X_OK):
        return _DEBIAN_DOCKER
    found = shutil.which("docker")
    if found is None:
        raise EngineError("no docker client found (run scripts/docker.sh)")
    return found


def image_labels(name: str) -> dict[str, str] | None:
    """Labels of a local image, ``{}`` when it has none, ``None`` when it does not exist."""
    proc = subprocess.run(
        [docker_cli(), "image", "inspect", "--format", "{{json .Config.Labels}}", name],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout or "null") or {}


class DockerEngine:
    """Async access to the local engine. Use as ``async with DockerEngine() as engine``."""

    def __init__(self, socket: str = DOCKER_SOCKET) -> None:
        self.socket = socket
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DockerEngine:
        connector = aiohttp.UnixConnector(path=self.socket)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise EngineError("DockerEngine used outside 'async with'")
        return self._session

    async def inspect_image(self, name: str) -> dict[str, Any] | None:
        """The engine's ``/images/<name>/json`` document, ``None`` when there is no image."""
        async with self.session.get(f"http://docker/images/{quote(name, safe='')}/json") as r:
            if r.status == 404:
                return None
            if r.status != 200:
                raise EngineError(f"inspect {name}: HTTP {r.status}: {await r.text()}")
            return await r.json()

    async def remove_image(self, name: str) -> bool:
        """Remove the tag ``name`` (not ``force``: an image in use stays). False if absent."""
        async with self.session.delete(f"http://docker/images/{quote(name, safe='')}") as r:
            if r.status == 404:
                return False
            if r.status != 200:
                raise EngineError(f"remove {name}: HTTP {r.status}: {await r.text()}")
            return True

    async def list_images(self, reference: str | None = None) -> list[dict[str, Any]]:
        """``/images/json``, optionally filtered by a reference pattern (``repo*``)."""
        params = {}
        if reference:
            params["filters"] = json.dumps({"reference": [reference]})
        async with self.session.get("http://docker/images/json", params=params) as r:
            if r.status != 200:
                raise EngineError(f"list images: HTTP {r.status}")
            return await r.json()


async def run_cli(*args: str, timeout: float = 600.0) -> str:
    """Run the docker client with ``args``; return its output, raise ``EngineError``."""
    proc = await asyncio.create_subprocess_exec(
        docker_cli(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise EngineError(f"docker {args[0]} timed out after {timeout:.0f} s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        last = text.strip().splitlines()[-1:] or [""]
        raise EngineError(f"docker {' '.join(args[:2])} failed: {last[0]}")
    return text
