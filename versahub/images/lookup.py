"""Is an image already built? Ask the local engine, or the registry's manifest endpoint.

Single host: ``GET /images/<name>/json`` on the local engine. Registry mode: BinderHub asks
the registry before building; VersaHub sends ``HEAD /v2/<name>/manifests/<tag>`` to a CNCF
distribution registry (no body downloaded), then the caller pulls. A local image whose
``org.versahub.cache-key`` label names another key (a short-hash collision) is a miss.
This module never builds, pushes or removes anything.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import aiohttp

from versahub.images.engine import DockerEngine
from versahub.images.names import CACHE_KEY_LABEL, ImageRef

Where = Literal["local", "registry"]

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class RegistryError(RuntimeError):
    """The registry answered something other than 'found' or 'not found'."""


class RegistryClient:
    """The bits of the registry HTTP API v2 VersaHub needs. Use with ``async with``."""

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        *,
        auth: aiohttp.BasicAuth | None = None,
        ca_files: Sequence[Path] = (),
    ) -> None:
        """``auth``: the account of this endpoint; ``ca_files``: certificates trusted besides
        the system's (the site CA bundle) for an ``https`` registry."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.auth = auth
        self.ca_files = tuple(ca_files)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RegistryClient:
        connector = None
        if self.url.startswith("https://"):
            context = ssl.create_default_context()
            for path in self.ca_files:
                context.load_verify_locations(cafile=str(path))
            connector = aiohttp.TCPConnector(ssl=context)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), auth=self.auth,
            connector=connector,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def has_manifest(self, path: str, tag: str) -> bool:
        """``HEAD /v2/<path>/manifests/<tag>``: True on 200, False on 404."""
        if self._session is None:
            raise RegistryError("RegistryClient used outside 'async with'")
        url = f"{self.url}/v2/{path}/manifests/{tag}"
        try:
            async with self._session.head(url, headers={"Accept": MANIFEST_TYPES}) as r:
                if r.status == 200:
                    return True
                if r.status == 404:
                    return False
                if r.status == 401:
                    who = "no account" if self.auth is None else f"account {self.auth.login!r}"
                    raise RegistryError(f"HEAD {url}: HTTP 401 ({who} refused)")
                raise RegistryError(f"HEAD {url}: HTTP {r.status}")
        except aiohttp.ClientError as err:
            raise RegistryError(f"registry {self.url} unreachable: {err}") from err

    async def ping(self) -> bool:
        """``GET /v2/``: True when a v2 registry answers."""
        if self._session is None:
            raise RegistryError("RegistryClient used outside 'async with'")
        try:
            async with self._session.get(f"{self.url}/v2/") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False


async def find_local(engine: DockerEngine, image: ImageRef) -> bool:
    """True when the local engine has ``image`` built for the same cache key."""
    doc = await engine.inspect_image(str(image))
    if doc is None:
        return False
    labels = (doc.get("Config") or {}).get("Labels") or {}
    return labels.get(CACHE_KEY_LABEL, image.key) == image.key


async def find_image(
    image: ImageRef, engine: DockerEngine, registry: RegistryClient | None = None
) -> Where | None:
    """Where ``image`` already exists: ``"local"``, ``"registry"``, or ``None`` (build it)."""
    if await find_local(engine, image):
        return "local"
    if registry is not None and await registry.has_manifest(image.registry_path, image.tag):
        return "registry"
    return None
