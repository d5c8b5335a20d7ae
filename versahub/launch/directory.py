"""The directory of known users and groups: which of a spec's collaborators exist on the hub.

The policy input's ``directory`` (``{"users", "groups"}``) comes from here, for every entry
point; a collaborator the hub does not know is reported by the policy, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jupyterhub import orm

GROUP_PREFIX = "group:"


def known_collaborators(db: Any, names: Iterable[str]) -> dict[str, list[str]]:
    """``{"users": [...], "groups": [...]}``: the entries of ``names`` the hub's database has."""
    users, groups = set(), set()
    for entry in names:
        if entry.startswith(GROUP_PREFIX):
            if orm.Group.find(db, entry[len(GROUP_PREFIX) :]) is not None:
                groups.add(entry[len(GROUP_PREFIX) :])
        elif orm.User.find(db, entry) is not None:
            users.add(entry)
    return {"users": sorted(users), "groups": sorted(groups)}
