"""Docker engines: the local one, and builders' engines over TCP with TLS client certificates.

The one module that reaches an engine (besides DockerSpawner's own client in the hub):

- sync calls (``engine_state``, ``image_labels``) use the Docker SDK (``docker_client``: the
  low-level ``docker.APIClient`` at the engine's own API version, what DockerSpawner uses);
- async reads (``DockerEngine``) go straight to the engine's API over the socket with
  aiohttp, so the hub's event loop never waits on a blocking client;
- builds (BuildKit's ``buildx``, which the SDK cannot drive), pushes and pulls run Debian's
  ``docker`` client (``run_cli``), whose API version matches Debian's engine (a newer client
  elsewhere on ``PATH`` would need ``DOCKER_API_VERSION``).

An :class:`Endpoint` names an engine: the local socket, or a remote builder's
``tcp://host:2376`` with a folder in Docker's own client layout (``ca.pem``, ``cert.pem``,
``key.pem``, what ``DOCKER_CERT_PATH`` names). The async client speaks mutual TLS with those
files, and the docker client (``run_cli``) and repo2docker receive the endpoint as Docker's
standard variables (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``).

This module never removes an image it was not asked to remove by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import docker

from versahub.images.endpoint import DOCKER_SOCKET, LOCAL, Endpoint, EngineError

__all__ = ["DOCKER_SOCKET", "LOCAL", "DockerEngine", "Endpoint", "EngineError", "run_cli"]

_DEBIAN_DOCKER = "/usr/bin/docker"


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
    """Async access to an engine (the local one by default). Use as
    ``async with DockerEngine() as engine``."""

    def __init__(self, endpoint: Endpoint = LOCAL, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.base = endpoint.http_base()
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DockerEngine:
        connector: aiohttp.BaseConnector
        if self.endpoint.is_local:
            connector = aiohttp.UnixConnector(path=self.endpoint.socket)
        else:
            connector = aiohttp.TCPConnector(ssl=self.endpoint.ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
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
        async with self.session.get(f"{self.base}/images/{quote(name, safe='')}/json") as r:
            if r.status == 404:
                return None
            if r.status != 200:
                raise EngineError(f"inspect {name}: HTTP {r.status}: {await r.text()}")
            return await r.json()

    async def remove_image(self, name: str) -> bool:
        """Remove the tag ``name`` (not ``force``: an image in use stays). False if absent."""
        async with self.session.delete(f"{self.base}/images/{quote(name, safe='')}") as r:
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
        async with self.session.get(f"{self.base}/images/json", params=params) as r:
            if r.status != 200:
                raise EngineError(f"list images: HTTP {r.status}")
            return await r.json()

    async def ping(self) -> None:
        """``GET /_ping``; raises ``EngineError`` saying why the engine does not answer."""
        try:
            async with self.session.get(f"{self.base}/_ping") as r:
                if r.status != 200:
                    raise EngineError(f"{self.endpoint.name}: /_ping answered HTTP {r.status}")
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise EngineError(f"{self.endpoint.name}: {_reason(err)}") from None

    async def export_image(self, name: str) -> AsyncIterator[bytes]:
        """``GET /images/<name>/get``: the image as ``docker save`` writes it, in chunks."""
        url = f"{self.base}/images/{quote(name, safe='')}/get"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.timeout)
        async with self.session.get(url, timeout=timeout) as r:
            if r.status != 200:
                raise EngineError(f"export {name}: HTTP {r.status}: {await r.text()}")
            async for chunk in r.content.iter_chunked(1 << 20):
                yield chunk

    async def load_image(self, chunks: AsyncIterator[bytes]) -> None:
        """``POST /images/load`` of a ``docker save`` stream (``docker load``)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        async with self.session.post(
            f"{self.base}/images/load?quiet=1", data=chunks, timeout=timeout,
            headers={"Content-Type": "application/x-tar"},
        ) as r:  # fmt: skip
            text = await r.text()
            if r.status != 200 or '"error"' in text:
                raise EngineError(f"load on {self.endpoint.name}: HTTP {r.status}: {text[-300:]}")


def _reason(err: BaseException) -> str:
    """A short reason for a failed connection (TLS refusals named as such)."""
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return f"its TLS certificate is not trusted ({err.certificate_error})"
    if isinstance(err, aiohttp.ClientSSLError):
        return f"TLS handshake failed ({err})"
    if isinstance(err, TimeoutError):
        return "no answer (timed out)"
    return str(err) or type(err).__name__


async def run_cli(*args: str, timeout: float = 600.0, env: Mapping[str, str] | None = None) -> str:
    """Run the docker client with ``args`` (``env``: extra variables, e.g. an endpoint's
    ``DOCKER_HOST`` or a ``DOCKER_CONFIG`` with registry credentials); return its output,
    raise ``EngineError``."""
    proc = await asyncio.create_subprocess_exec(
        docker_cli(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **env} if env else None,
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
