"""Where a Docker engine is and how to reach it: the local socket, or a builder over TLS.

An :class:`Endpoint` is the local engine (``unix://``) or a remote builder's
``tcp://host:port`` with a folder in Docker's own client layout (``ca.pem``, ``cert.pem``,
``key.pem``: what ``DOCKER_CERT_PATH`` names). Plain TCP is never used: a builder's engine
answers only clients with a certificate of the site's builder CA, and the hub accepts only
an engine whose certificate chains to that CA. Pure apart from reading the certificate
files when a TLS context is asked for.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

DOCKER_SOCKET = os.environ.get("VERSAHUB_DOCKER_SOCKET", "/var/run/docker.sock")


class EngineError(RuntimeError):
    """The docker engine refused or failed an operation."""


TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
_TCP = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True)
class Endpoint:
    """One Docker engine: ``unix://`` socket (no TLS), or ``tcp://host:port`` with the
    client certificate folder ``tls_dir`` (mutual TLS, never plain TCP)."""

    name: str = "local"
    url: str = ""
    tls_dir: str | None = None

    @property
    def is_local(self) -> bool:
        return not self.url or self.url.startswith("unix://")

    @property
    def socket(self) -> str:
        return self.url[len("unix://") :] if self.url else DOCKER_SOCKET

    def http_base(self) -> str:
        if self.is_local:
            return "http://docker"
        match = _TCP.match(self.url)
        if match is None:
            raise EngineError(f"builder {self.name}: {self.url!r} is not tcp://host:port")
        return f"https://{match['host']}:{match['port']}"

    def tls_problem(self) -> str | None:
        """Why the client certificate folder cannot be used, or ``None``."""
        if self.is_local:
            return None
        if not self.tls_dir:
            return f"builder {self.name}: no tls_dir (plain TCP to an engine is never used)"
        missing = [f for f in TLS_FILES if not (Path(self.tls_dir) / f).is_file()]
        if missing:
            return f"builder {self.name}: {', '.join(missing)} missing in {self.tls_dir}"
        return None

    def ssl_context(self) -> ssl.SSLContext:
        """Mutual TLS: the engine's certificate must chain to ``ca.pem``; ours is sent."""
        problem = self.tls_problem()
        if problem is not None:
            raise EngineError(problem)
        folder = Path(str(self.tls_dir))
        try:
            context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
            context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
        except (OSError, ssl.SSLError) as err:
            raise EngineError(f"builder {self.name}: {folder}: {err}") from None
        return context

    def env(self) -> dict[str, str]:
        """Docker's standard variables that point a docker client (or repo2docker) here."""
        if self.is_local:
            return {"DOCKER_HOST": f"unix://{self.socket}"}
        return {
            "DOCKER_HOST": self.url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.tls_dir),
        }


LOCAL = Endpoint()
