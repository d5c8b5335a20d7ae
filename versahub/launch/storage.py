"""Is the site's volume storage really here? The check before a server's folders are made.

On a multi-host site the volume folders (``<state_dir>/volumes``) are a storage host's export
mounted on every spawn host (``storage.remote``). A host that lost the mount still has the
empty mount point, and making a user's folders there would start the server on an empty home
and write work where nobody will find it again. The storage host writes a marker file at the
root of the export (the storage role); a launch that mounts anything from the volume folders
is refused while the marker is missing, and when the folder does not answer in time (a hard
NFS mount of a host that is down). Pure apart from one ``stat``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

STORAGE_MARKER = ".versahub-storage"
# a hard NFS mount whose server is gone blocks a stat until it is back: the launch does not
STORAGE_TIMEOUT = 10.0


def storage_silent(volumes_dir: str) -> str:
    """The refusal when the storage did not answer within ``STORAGE_TIMEOUT``."""
    return (
        f"the volume storage at {posixpath.normpath(volumes_dir)} does not answer (nothing "
        f"within {STORAGE_TIMEOUT:g} s): the storage host or its export is down, so the "
        "server was not started; the site's operators must bring it back"
    )


def storage_problem(remote: bool, volumes_dir: str, sources: Iterable[str]) -> str | None:
    """Why mounts from ``sources`` must not start here, or ``None``."""
    if not remote:
        return None
    root = posixpath.normpath(volumes_dir)
    inside = [s for s in sources if posixpath.normpath(s).startswith(root + "/")]
    if not inside or (Path(root) / STORAGE_MARKER).is_file():
        return None
    return (
        f"the volume storage is not mounted on this host: {root} has no {STORAGE_MARKER} "
        "from the storage host (storage.remote is true), so the server was not started on "
        "empty folders; the site's operators must mount the storage host's export again"
    )
