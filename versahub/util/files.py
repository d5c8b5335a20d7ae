"""Write state files atomically, with one mode policy, and lock them across processes.

``atomic_write`` is the only way VersaHub replaces a file it owns: a hidden temporary file
in the same folder (so a reader or OPA's file watcher never sees half a file, and
``os.replace`` stays on one file system), ``fsync``, the final mode set *before* the
rename, then ``os.replace``. Secrets and state are ``PRIVATE`` (0600, folders 0700);
only what another process must read (OPA's data files) is ``SHARED`` (0644).
``locked`` is an ``flock`` on a side file, for read-modify-write across hub processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PRIVATE = 0o600
SHARED = 0o644
PRIVATE_DIR = 0o700


def beside(value: str, anchor: Path | None) -> Path:
    """``value`` as a path: absolute as given (``~`` expanded), else relative to the folder
    of ``anchor`` (a site.yaml), or to the working folder without one."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (anchor.parent if anchor is not None else Path.cwd()) / path
    return path


def atomic_write(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    mode: int = PRIVATE,
    owner: tuple[int, int] | None = None,
    dir_mode: int | None = None,
) -> Path:
    """Replace ``path`` with ``data`` atomically; return the path.

    ``mode`` is applied to the temporary file before the rename, so the file is never
    visible with wider permissions. ``owner`` (uid, gid) is applied too when running as
    root. A missing parent folder is created with ``dir_mode`` (default 0700 for private
    files, 0755 otherwise). On any failure the temporary file is removed and the old file
    is left as it was.
    """
    target = Path(path)
    if dir_mode is None:
        dir_mode = PRIVATE_DIR if mode == PRIVATE else 0o755
    target.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # the suffix is not the target's: OPA (and other watchers) ignore hidden *.tmp files
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, *owner)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (blocking; safe across processes)."""
    lock_file = Path(f"{os.fspath(path)}.lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
