"""The directory of known users and groups: which of a spec's collaborators exist on the hub.

The policy input's ``directory`` (``{"users", "groups"}``) comes from here, for every entry
point; a collaborator the hub does not know is reported by the policy, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jupyterhub import orm

from versahub.policy.input import split_collaborators


def known_collaborators(db: Any, names: Iterable[str]) -> dict[str, list[str]]:
    """``{"users": [...], "groups": [...]}``: the entries of ``names`` the hub's database has."""
    named = split_collaborators(names)
    return {
        "users": [name for name in named["users"] if orm.User.find(db, name) is not None],
        "groups": [name for name in named["groups"] if orm.Group.find(db, name) is not None],
    }
