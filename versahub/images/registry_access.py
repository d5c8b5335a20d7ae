"""How the hub reaches the site registry: its two endpoints, TLS, and the two accounts.

A site registry may have a push endpoint (``registry.address``: where builders push and what
image names start with) and a read-only pull endpoint (``registry.pull_address``: where spawn
hosts pull; the same endpoint when unset). Each may ask for an account: the credentials files
``registry.credentials.push`` / ``.pull`` hold one line ``username:password``.

``RegistryAccess`` gives, for one role (push or pull): the base URL for the registry API
(``https`` with ``registry.tls``), the HTTP basic auth for it, and a private ``DOCKER_CONFIG``
folder whose ``config.json`` holds that one account (the docker client's own mechanism; no
``docker login`` writes into the hub user's home). Credentials are read when first needed and
errors name the file and the reason, never the password. The account is read once per
settings (a launch reads no file): a new password takes effect with the next settings.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


class CredentialsError(RuntimeError):
    """A registry credentials file cannot be used."""


def read_credentials(path: str) -> tuple[str, str]:
    """``(username, password)`` from a file of one line ``username:password``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise CredentialsError(f"registry credentials {path}: {reason}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1 or ":" not in lines[0]:
        raise CredentialsError(
            f"registry credentials {path}: expected one line 'username:password'"
        )
    user, _, password = lines[0].strip().partition(":")
    if not user or not password:
        raise CredentialsError(f"registry credentials {path}: empty username or password")
    return user, password


def docker_config(host: str, user: str, password: str) -> str:
    """The ``config.json`` of a docker client that logs in to ``host`` as ``user`` (pure)."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}}, indent=2) + "\n"


@dataclass
class RegistryAccess:
    """One endpoint of the registry as one account sees it."""

    address: str
    scheme: str = "http"
    credentials: str | None = None
    _account: tuple[str, str] | None = field(default=None, repr=False)
    _config_dir: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def account(self) -> tuple[str, str] | None:
        """``(username, password)``, read once (``None`` without credentials)."""
        if self.credentials is not None and self._account is None:
            self._account = read_credentials(self.credentials)
        return self._account

    def basic_auth(self) -> aiohttp.BasicAuth | None:
        account = self.account()
        return None if account is None else aiohttp.BasicAuth(*account)

    def env(self) -> dict[str, str]:
        """``DOCKER_CONFIG`` for a docker client that pushes or pulls with this account
        (``{}`` without credentials: the client's own configuration)."""
        account = self.account()
        if account is None:
            return {}
        if self._config_dir is None:
            user, password = account
            folder = tempfile.mkdtemp(prefix="versahub-registry-")  # 0700, the hub's own
            atexit.register(shutil.rmtree, folder, True)
            config = Path(folder) / "config.json"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(docker_config(self.address, user, password))
            self._config_dir = folder
        return {"DOCKER_CONFIG": self._config_dir}
