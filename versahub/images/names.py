"""Image names and cache keys: pure functions, BinderHub's scheme plus the builder's identity.

BinderHub names an image ``<image_prefix><escaped build slug>-<sha256(slug)[:6]>:<commit>``
(``binderhub/builder.py``: ``_safe_build_slug``) and puts the repo2docker version in the
prefix so that an upgrade invalidates the cache. VersaHub keeps that shape and folds the
builder's version and a hash of the build configuration (base image recipe, offline mode,
user, target folder, CA bundle, PyPI mirror...) into the short hash, so that:

- two refs that resolve to the same commit give the same name (the tag is the commit);
- a new commit gives a new tag of the same repository name;
- a new builder version or build configuration gives a new repository name.

``cache_key`` is the full sha256 of the same inputs; builds stamp it on the image as the
label ``org.versahub.cache-key`` so that a lookup can tell a 6-hex-digit collision from a hit.
Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import escapism

from versahub.errors import InputError

CACHE_KEY_LABEL = "org.versahub.cache-key"
_SAFE = set(string.ascii_letters + string.digits)
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
# docker: the whole reference (host/path:tag) must stay under 255 characters
_NAME_LIMIT = 255


@dataclass(frozen=True)
class ImageRef:
    """A built image: ``name`` (registry/repository) and ``tag`` (the commit)."""

    name: str
    tag: str
    key: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def registry_path(self) -> str:
        """The repository path as the registry API sees it (without ``host:port/``)."""
        first, _, rest = self.name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return rest
        return self.name


def canonical_repo(repo: str) -> str:
    """The repository URL that keys the cache: lower-case scheme and host, no trailing
    ``/`` or ``.git``, no credentials. ``https://Host/a/b.git/`` → ``https://host/a/b``."""
    parts = urlsplit(repo.strip())
    if not parts.scheme or not parts.netloc:
        raise InputError("repo", f"not a URL: {repo!r}")
    host = parts.hostname or ""
    netloc = host.lower() + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def config_hash(build_config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the build configuration."""
    text = json.dumps(build_config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_commit(commit: str) -> None:
    if not _COMMIT.fullmatch(commit):
        raise InputError("commit", f"not a full hex commit id: {commit!r}")


def cache_key(repo: str, commit: str, builder_version: str, build_config: Mapping[str, Any]) -> str:
    """Full sha256 (hex) identifying one image: repo, commit, builder, build configuration."""
    _check_commit(commit)
    doc = {
        "repo": canonical_repo(repo),
        "commit": commit,
        "builder": builder_version,
        "config": config_hash(build_config),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _escape(text: str) -> str:
    return escapism.escape(text, safe=_SAFE, escape_char="-")


def safe_slug(slug: str, salt: str, limit: int, hash_length: int = 6) -> str:
    """BinderHub's ``_safe_build_slug`` with a salt in the hash: escaped, cut, hashed."""
    digest = hashlib.sha256((slug + "\0" + salt).encode()).hexdigest()
    return f"{_escape(slug)[: limit - hash_length - 1]}-{digest[:hash_length]}".lower()


def image_name(
    repo: str,
    commit: str,
    builder_version: str,
    build_config: Mapping[str, Any],
    *,
    prefix: str = "versahub/r2d-",
) -> ImageRef:
    """The image for ``repo`` at ``commit``: ``<prefix><slug>-<hash6>:<commit>``.

    ``repo`` must already be validated; ``commit`` must be a full hex id (resolve refs first).
    """
    _check_commit(commit)
    slug = canonical_repo(repo)
    salt = builder_version + "\0" + config_hash(build_config)
    limit = _NAME_LIMIT - len(prefix) - len(commit) - 1
    name = (prefix + safe_slug(slug, salt, limit)).replace("_", "-").lower()
    key = cache_key(repo, commit, builder_version, build_config)
    return ImageRef(name=name, tag=commit, key=key)
