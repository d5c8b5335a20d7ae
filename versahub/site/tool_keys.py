"""The LTI tool's own signing keys (LTI 1.3 Deep Linking): ``<state_dir>/lti/keys/*.pem``.

VersaHub signs its deep-linking responses with an RSA key of its own; platforms verify
them with the public keys VersaHub publishes at ``/hub/lti13/jwks``. Each key is one PEM
file named by its key id (the RFC 7638 thumbprint of its public key), mode 0600. The
newest key signs; every key in the folder is published, so rotating is: add a new key
(``versahub lti rotate-key``), wait until the platforms have fetched the new key set (they
cache it; an hour is plenty), then retire the old one (``versahub lti retire-key KID``).
The hub makes the first key itself when it needs one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from versahub.errors import InputError, shorten
from versahub.util.files import atomic_write, locked

KEY_SIZE = 2048
_KID = re.compile(r"^[A-Za-z0-9_-]{43}\Z")


def keys_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "lti" / "keys"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The public half as a JWK, with ``kid`` = its RFC 7638 thumbprint."""
    numbers = key.public_key().public_numbers()
    jwk = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass(frozen=True)
class ToolKey:
    kid: str
    pem: bytes
    created: float

    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key())


class ToolKeys:
    """The key folder of one site."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: tuple[Any, list[ToolKey]] | None = None

    def all(self) -> list[ToolKey]:
        """Every key, oldest first (read again only when the folder changed)."""
        try:
            st = os.stat(self.folder)
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_ino)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        found: list[ToolKey] = []
        for path in self.folder.glob("*.pem"):
            if not _KID.match(path.stem):
                continue
            found.append(ToolKey(path.stem, path.read_bytes(), path.stat().st_mtime))
        found.sort(key=lambda k: (k.created, k.kid))
        self._cache = (stamp, found)
        return found

    def add(self) -> ToolKey:
        """Make a new key; it signs from now on (the others stay published)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        kid = public_jwk(key)["kid"]
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = atomic_write(self.folder / f"{kid}.pem", pem)
        self._cache = None
        return ToolKey(kid, pem, path.stat().st_mtime)

    def signing_key(self) -> ToolKey:
        """The newest key; the first one is made when there is none."""
        keys = self.all()
        if keys:
            return keys[-1]
        with locked(self.folder / "keys"):
            self._cache = None
            return self.all()[-1] if self.all() else self.add()

    def retire(self, kid: str) -> None:
        """Remove ``kid``; refused for the only key or an unknown id."""
        keys = {k.kid: k for k in self.all()}
        if kid not in keys:
            raise InputError("KID", f"{shorten(kid)} is not a key of this site")
        if len(keys) == 1:
            raise InputError("KID", "is the only key (rotate first: versahub lti rotate-key)")
        (self.folder / f"{kid}.pem").unlink()
        self._cache = None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.all()]}
