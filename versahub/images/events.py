"""Build and lookup progress as events, shaped like BinderHub's EventSource messages.

An event is a plain dict ``{"phase", "message", "progress"?, "image"?, ...}`` with ``phase``
one of ``waiting``, ``fetching``, ``building``, ``pushing``, ``built``, ``failed``,
``ready``. ``ready`` and ``failed`` are final. A launch page can send each one as
``data: <json>\\n\\n``.

``EventLog`` fans one producer's events out to any number of followers; a follower that
joins late first gets everything already said (so the second of five concurrent requests
for one image sees the whole build log). It never drops or reorders events.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

Phase = Literal["waiting", "fetching", "building", "pushing", "built", "failed", "ready"]
PHASES: tuple[str, ...] = ("waiting", "fetching", "building", "pushing", "built", "failed", "ready")
FINAL_PHASES = frozenset({"ready", "failed"})

Event = dict[str, Any]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def event(phase: Phase, message: str, **extra: Any) -> Event:
    """One event; ``extra`` keys with ``None`` values are left out."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    out: Event = {"phase": phase, "message": message}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def clean_line(text: str) -> str:
    """A log line without terminal colour codes and trailing whitespace."""
    return _ANSI.sub("", text).rstrip()


def is_meaningful(line: str) -> bool:
    """True for log lines worth showing when a build fails (not blank, not bare progress)."""
    stripped = line.strip()
    if not stripped:
        return False
    # buildx step bookkeeping ("#12 DONE 0.3s", "#12 CACHED", "#12 sha256:... 1.2MB / 3MB")
    return not re.fullmatch(
        r"#\d+ (DONE [\d.]+s|CACHED|sha256:\S+.*|extracting sha256.*)", stripped
    )


class EventLog:
    """An append-only list of events with any number of async followers."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._closed = False
        self._changed = asyncio.Condition()

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    @property
    def closed(self) -> bool:
        return self._closed

    async def emit(self, ev: Event) -> None:
        if self._closed:
            raise RuntimeError("event log already closed")
        async with self._changed:
            self._events.append(ev)
            if ev["phase"] in FINAL_PHASES:
                self._closed = True
            self._changed.notify_all()

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    async def follow(self) -> AsyncIterator[Event]:
        """Every event from the first, then new ones as they come, until the log closes."""
        index = 0

        def ready() -> bool:
            return index < len(self._events) or self._closed

        while True:
            async with self._changed:
                await self._changed.wait_for(ready)
                batch = self._events[index:]
                done = self._closed
            for ev in batch:
                yield ev
            index += len(batch)
            if done and index >= len(self._events):
                return
