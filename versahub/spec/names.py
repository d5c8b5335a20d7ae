"""Names in a ServerSpec: server names, user and group names, volume names.

The rules are deliberately narrower than what JupyterHub stores, so that a name is safe
as a URL segment, a Docker container name, a Kubernetes label and a DNS label alike:

* ``server_name`` follows JupyterHub 6's ``jupyterhub.slugs.is_valid_safe_slug`` — the
  rule the hub itself applies before it creates a *new* named server
  (``handlers/base.py:_check_named_server_request``): 1–30 characters, lowercase ASCII
  letters, digits and single hyphens, starting with a letter, ending with a letter or digit.
* user names: ``[a-z0-9][a-z0-9._@+-]{0,63}``; groups: ``group:`` + the same rule.
* volume names: ``[a-z0-9][a-z0-9-]{0,62}`` (a DNS label, like a PVC or Docker volume).

This module never looks names up (whether ``bob`` exists is the hub's and the policy's
business) and never normalises case silently: ``Bob`` is rejected, not lowered.
"""

from __future__ import annotations

import random
import re

from versahub.errors import InputError, shorten
from versahub.spec.text import require_no_space, require_str

SERVER_NAME_MAX = 30
_SERVER_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,29}\Z")
_USER = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}\Z")
_VOLUME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
GROUP_PREFIX = "group:"

_ADJECTIVES = (
    "amber", "brave", "calm", "clever", "crisp", "eager", "fancy", "gentle", "happy",
    "jolly", "keen", "lively", "lucky", "mellow", "nimble", "proud", "quiet", "rapid",
    "shiny", "sunny", "swift", "tidy", "vivid", "witty",
)  # fmt: skip
_NOUNS = (
    "badger", "comet", "delta", "falcon", "fern", "galaxy", "harbor", "island", "koala",
    "lagoon", "maple", "meadow", "nebula", "otter", "panda", "pebble", "quasar", "river",
    "spruce", "tiger", "tulip", "walrus", "willow", "zebra",
)  # fmt: skip


def validate_server_name(field: str, value: object) -> str:
    """Return ``value`` if it is empty (the hub picks a name) or a valid server name."""
    text = require_str(field, value, max_len=255, allow_empty=True)
    if text and not _SERVER_NAME.match(text):
        raise InputError(
            field,
            "must be 1-30 lowercase letters, digits or single hyphens, starting with a letter "
            f"and ending with a letter or digit: {shorten(text)}",
        )
    return text


def validate_user_name(field: str, value: object) -> str:
    """Return ``value`` if it is an acceptable hub user name."""
    text = require_no_space(field, require_str(field, value, max_len=64))
    if not _USER.match(text):
        raise InputError(
            field,
            "must be a lowercase user name (letters, digits, . _ @ + -), "
            f"at most 64 characters: {shorten(text)}",
        )
    return text


def validate_collaborator(field: str, value: object) -> str:
    """Return ``value`` if it is a user name or ``group:<name>``."""
    text = require_no_space(field, require_str(field, value, max_len=64 + len(GROUP_PREFIX)))
    if text.startswith(GROUP_PREFIX):
        group = text[len(GROUP_PREFIX) :]
        if not _USER.match(group):
            raise InputError(
                field,
                "must be group:<name> with a lowercase group name (letters, digits, . _ @ + -): "
                f"{shorten(text)}",
            )
        return text
    return validate_user_name(field, text)


def validate_volume_name(field: str, value: object) -> str:
    """Return ``value`` if it is a volume name (a DNS label)."""
    text = require_no_space(field, require_str(field, value, max_len=63))
    if not _VOLUME.match(text):
        raise InputError(
            field,
            "must be 1-63 lowercase letters, digits or hyphens, "
            f"starting with a letter or digit: {shorten(text)}",
        )
    return text


def random_server_name(rng: random.Random | None = None) -> str:
    """Return a readable random server name such as ``swift-otter-1a2b``.

    Always valid for :func:`validate_server_name`. Pass ``rng`` for reproducible names.
    """
    rng = rng if rng is not None else random.SystemRandom()
    suffix = "".join(rng.choice("0123456789abcdef") for _ in range(4))
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{suffix}"
