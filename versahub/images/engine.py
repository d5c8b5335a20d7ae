"""The local Docker engine: its state, and inspect, tag, remove, push and pull images.

The one module that reaches the engine (besides DockerSpawner's own client in the hub):

- sync calls (``engine_state``, ``image_labels``) use the Docker SDK (``docker_client``: the
  low-level ``docker.APIClient`` at the engine's own API version, what DockerSpawner uses);
- async reads (``DockerEngine``) go straight to the engine's API over the socket with
  aiohttp, so the hub's event loop never waits on a blocking client;
- builds (BuildKit's ``buildx``, which the SDK cannot drive), pushes and pulls run Debian's
  ``docker`` client (``run_cli``), whose API version matches Debian's engine (a newer client
  elsewhere on ``PATH`` would need ``DOCKER_API_VERSION``).

This module never removes an image it was not asked to remove by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any
from urllib.parse import quote

import aiohttp
import docker

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


def docker_client(timeout: float = 30.0) -> docker.APIClient:
    """The Docker SDK's client on ``DOCKER_SOCKET`` (close it, or use it in ``with``).

    Raises ``docker.errors.DockerException`` when the engine does not answer.
    """
    return docker.APIClient(base_url=f"unix://{DOCKER_SOCKET}", version="auto", timeout=timeout)


def engine_state(timeout: float = 1.0) -> dict[str, str]:
    """``{"state": "running"|"down"|"absent", "detail"}`` of the local engine (a ping)."""
    if not os.path.exists(DOCKER_SOCKET):
        return {"state": "absent", "detail": f"no {DOCKER_SOCKET}"}
    try:
        with docker_client(timeout) as client:
            client.ping()
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        return {"state": "down", "detail": str(err)}
    return {"state": "running", "detail": DOCKER_SOCKET}


def image_labels(name: str) -> dict[str, str] | None:
    """Labels of a local image, ``{}`` when it has none, ``None`` when it does not exist."""
    try:
        with docker_client() as client:
            doc = client.inspect_image(name)
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, OSError) as err:
        raise EngineError(f"inspect {name}: {err}") from None
    return (doc.get("Config") or {}).get("Labels") or {}


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
