"""The events of each launch, in BinderHub's phases, kept where every entry point finds them.

One :class:`Progress` per (user, server) holds the events of that server's latest launch:
the spawner adds them (policy, image, launch), JupyterHub's progress stream and
``GET /hub/api/versahub/launch/<server>`` read them. A launch that fails keeps its events
(with the failed phase and the reason, e.g. the tail of repo2docker's log) for
:data:`KEEP_SECONDS` even when its server entry is removed, so the page can say why.
Pure data and asyncio only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from versahub.launch.metrics import count_launch

# BinderHub's launch phases, in order, and where each puts the progress bar.
PHASES = ("waiting", "fetching", "building", "pushing", "built", "launching", "ready", "failed")
PHASE_PROGRESS = {
    "waiting": 10, "fetching": 20, "building": 40, "pushing": 75, "built": 85,
    "launching": 90, "ready": 100, "failed": 100,
}  # fmt: skip
# The image builder's phases as launch phases: its "ready" means the *image* is ready;
# the server is ready only when JupyterHub says so (``ready_hook``).
BUILD_PHASES = {"ready": "built"}
KEEP_SECONDS = 600.0
MAX_EVENTS = 2000


def progress_event(phase: str, message: str, **extra: Any) -> dict[str, Any]:
    """One event of JupyterHub's progress stream with BinderHub's ``phase`` (pure)."""
    if phase not in PHASE_PROGRESS:
        raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    return {"phase": phase, "progress": PHASE_PROGRESS[phase], "message": message, **extra}


def build_event(ev: Mapping[str, Any]) -> dict[str, Any]:
    """A ``versahub.images`` build event as a progress event (pure)."""
    phase = str(ev.get("phase", "building"))
    return progress_event(BUILD_PHASES.get(phase, phase), f"{phase}: {ev.get('message', '')}")


def ready_hook(spawner: Any, ready_event: dict[str, Any]) -> dict[str, Any]:
    """``Spawner.progress_ready_hook``: JupyterHub's final event gets ``phase: ready``."""
    return {**ready_event, "phase": "ready"}


@dataclass
class Progress:
    """The events of one launch; followers wait for the next one."""

    events: list[dict[str, Any]] = field(default_factory=list)
    outcome: str | None = None  # None while running, then "ready" or "failed"
    reason: str = ""  # "refused", "build", "start": what failed
    finished_at: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: dict[str, Any]) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        # a fresh Event per change: each follower waits on the one it saw, so none misses it
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def finish(self, outcome: str, reason: str = "") -> None:
        self.outcome, self.reason, self.finished_at = outcome, reason, time.monotonic()
        count_launch(outcome, reason)
        self.add({"phase": outcome, "progress": 100, "message": outcome, "final": True})

    async def wait(self, timeout: float) -> None:
        """Return when an event is added (or after ``timeout`` seconds)."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    @property
    def failure(self) -> dict[str, Any] | None:
        """The failed event (phase and message) when this launch failed."""
        if self.outcome != "failed":
            return None
        for ev in reversed(self.events):
            if ev.get("phase") == "failed" and not ev.get("final"):
                return ev
        return {"phase": "failed", "message": "the launch failed"}


_launches: dict[tuple[str, str], Progress] = {}


def begin(user: str, server: str) -> Progress:
    """A fresh :class:`Progress` for a new launch of ``user/server``."""
    _forget_old()
    progress = Progress()
    _launches[(user, server)] = progress
    return progress


def current(user: str, server: str) -> Progress | None:
    """The latest launch of ``user/server`` (running, or finished recently)."""
    _forget_old()
    return _launches.get((user, server))


def _forget_old() -> None:
    now = time.monotonic()
    for key, progress in list(_launches.items()):
        if progress.finished_at is not None and now - progress.finished_at > KEEP_SECONDS:
            del _launches[key]
