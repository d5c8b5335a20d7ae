"""Collaborators as JupyterHub shares (JupyterHub >= 5): grant on start, revoke on removal.

A spec's ``collaborators`` (user names and ``group:<name>``) become ``orm.Share`` rows that
grant ``access:servers!server=<owner>/<server>`` — JupyterHub's own sharing, so a
collaborator sees the server in their list and opens it with their own login. The spec is
the source of truth for the server's shares: a share on that server whose user or group is
no longer listed is revoked at the next start (and :func:`sync_shares` can be called at any
time). Names that do not exist on the hub are skipped (the policy reported them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jupyterhub import orm

from versahub.spec.names import GROUP_PREFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShareChanges:
    granted: tuple[str, ...]
    revoked: tuple[str, ...]
    missing: tuple[str, ...]


def sync_shares(
    db: Any, orm_spawner: Any, users: Iterable[str], groups: Iterable[str]
) -> ShareChanges:
    """Make the server's shares exactly ``users`` + ``groups``; return what changed."""
    wanted_users, wanted_groups = set(users), set(groups)
    granted, revoked, missing = [], [], []
    for name in sorted(wanted_users):
        user = orm.User.find(db, name)
        if user is None:
            missing.append(name)
            continue
        if orm.Share.find(db, orm_spawner, user) is None:
            granted.append(name)
        orm.Share.grant(db, orm_spawner, user)
    for name in sorted(wanted_groups):
        group = orm.Group.find(db, name)
        if group is None:
            missing.append(f"{GROUP_PREFIX}{name}")
            continue
        if orm.Share.find(db, orm_spawner, group) is None:
            granted.append(f"{GROUP_PREFIX}{name}")
        orm.Share.grant(db, orm_spawner, group)
    for share in list(db.query(orm.Share).filter_by(spawner_id=orm_spawner.id)):
        if share.user is not None and share.user.name not in wanted_users:
            revoked.append(share.user.name)
            orm.Share.revoke(db, orm_spawner, share.user)
        elif share.group is not None and share.group.name not in wanted_groups:
            revoked.append(f"{GROUP_PREFIX}{share.group.name}")
            orm.Share.revoke(db, orm_spawner, share.group)
    db.commit()
    return ShareChanges(tuple(granted), tuple(revoked), tuple(missing))
