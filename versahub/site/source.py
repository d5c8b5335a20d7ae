"""The one site object of a running process: ``site.yaml`` read and validated once per change.

Every part of the hub (hub settings, spawner, image builds, the launch page, the launch
API, the culler) asks :func:`site_file` for the :class:`SiteFile` of its ``site.yaml`` and
reads :meth:`SiteFile.current` (blocking: two ``stat``) or ``await SiteFile.get()`` (in a
thread, for the hub's event loop). The site is parsed and validated again only when the
size, mtime or inode of ``site.yaml`` or of the course records (``courses.json`` in its
state folder, written by ``versahub course``) changed; an invalid edit keeps serving the
last valid site and says why in ``error`` (a hub must not stop launching because of a
typo being saved).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from versahub.errors import InputError
from versahub.site.config import Site, load_site
from versahub.site.course_store import file_key

log = logging.getLogger(__name__)

_files: dict[str, SiteFile] = {}
_files_lock = threading.Lock()


@dataclass
class SiteFile:
    """``site.yaml`` of one site, re-read when it changes."""

    path: Path
    _key: tuple[Any, ...] | None = None
    _site: Site | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> Site:
        """The site as the file says now (the last valid one if an edit is invalid)."""
        key = self._file_keys()
        if key == self._key and self._site is not None:
            return self._site
        with self._lock:
            key = self._file_keys()
            if key == self._key and self._site is not None:
                return self._site
            try:
                site = load_site(self.path)
            except InputError as err:
                if self._site is None:
                    raise
                if self.error != str(err):
                    log.error("%s is invalid, still using its last valid version: %s",
                              self.path, err)  # fmt: skip
                self.error = str(err)
                return self._site
            if self._site is not None:
                log.info("%s or its course records changed: site settings reloaded", self.path)
            if self._site is None or self._site.courses_file != site.courses_file:
                key = (key[0], file_key(site.courses_file))
            self._key, self._site, self.error = key, site, None
            return site

    def _file_keys(self) -> tuple[Any, ...]:
        site_key = file_key(self.path)
        if site_key is None:
            raise FileNotFoundError(self.path)
        courses = self._site.courses_file if self._site is not None else None
        return (site_key, file_key(courses) if courses is not None else None)

    async def get(self) -> Site:
        """:meth:`current` in a thread: never blocks the hub's event loop."""
        return await asyncio.to_thread(self.current)


def site_file(path: str | os.PathLike[str]) -> SiteFile:
    """The process-wide :class:`SiteFile` of ``path`` (one per file, shared by all parts)."""
    key = str(Path(path).resolve())
    with _files_lock:
        if key not in _files:
            _files[key] = SiteFile(Path(key))
        return _files[key]
