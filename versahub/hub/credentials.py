"""The user's credentials inside a server: a scoped hub token plus authenticator tokens.

When a spec asks for ``credentials`` and the policy allows it, the spawner creates a hub API
token for the owner limited to :data:`DEFAULT_SCOPES` (expiring with the server's
``max_duration``) and writes it, with the access/refresh/id tokens found in the
authenticator's ``auth_state``, to ``credentials.json`` (mode 0600, owned by the notebook
user) in a per-server host folder mounted read-only at ``/run/secrets/versahub``. Only the
file's *path* goes into the environment (``VERSAHUB_CREDENTIALS_FILE``); the token never
appears in labels, the environment, the image or a log line. The file and the token are
removed when the server stops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from versahub.util.files import atomic_write

# What code inside the server may do as the user with the hub token: see the user's own
# model and servers, and start/stop/create the user's own servers. Nothing of other users,
# no admin, no token management, no sharing.
DEFAULT_SCOPES: tuple[str, ...] = ("read:users!user", "read:servers!user", "servers!user")
TOKEN_NOTE_PREFIX = "versahub-credentials:"
AUTH_STATE_KEYS = ("access_token", "refresh_token", "id_token", "token_type", "scope")


def token_note(server_name: str) -> str:
    return f"{TOKEN_NOTE_PREFIX}{server_name}"


def credentials_document(
    *,
    hub_token: str,
    hub_api_url: str,
    scopes: Iterable[str],
    auth_state: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON written to the file (pure): hub token + the token-like auth_state keys."""
    doc: dict[str, Any] = {
        "hub": {"api_url": hub_api_url, "token": hub_token, "scopes": sorted(scopes)},
        "auth_state": {},
    }
    for key in AUTH_STATE_KEYS:
        value = (auth_state or {}).get(key)
        if isinstance(value, str) and value:
            doc["auth_state"][key] = value
    return doc


def write_credentials(folder: Path, doc: Mapping[str, Any], uid: int, gid: int) -> Path:
    """Write ``credentials.json`` with mode 0600 owned by ``uid:gid`` (folder 0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
    return atomic_write(folder / "credentials.json", json.dumps(doc), owner=(uid, gid))


def remove_credentials(folder: Path) -> None:
    """Delete the credentials file (the folder stays, it is the mount point's source)."""
    (folder / "credentials.json").unlink(missing_ok=True)
