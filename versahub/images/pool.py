"""The site's image builders: which engine runs the next build.

With ``images.builders`` the hub sends builds to remote Docker engines over TLS (client
certificates, ``endpoint.py``); without, its own engine builds. The site-wide limit
(``images.max_concurrent_builds``) is the builder's semaphore; inside it the pool picks the
least busy builder first (ties: the order of ``images.builders``), after a short ping: a
builder that does not answer is skipped, remembered with its reason (``versahub status``
asks every builder itself), and when none answers the build fails at once saying why for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from versahub.images.engine import LOCAL, DockerEngine, Endpoint, EngineError

PROBE_TIMEOUT = 3.0


class NoBuilder(RuntimeError):
    """No builder answered; ``str(err)`` names each one and why."""


@dataclass
class BuilderState:
    """What the hub knows of one builder."""

    endpoint: Endpoint
    active: int = 0
    builds: int = 0
    problem: str | None = None
    checked: float = 0.0


async def probe(endpoint: Endpoint, timeout: float = PROBE_TIMEOUT) -> str | None:
    """``None`` when the engine answers a ping within ``timeout``, else why not."""
    problem = endpoint.tls_problem()
    if problem is not None:
        return problem
    try:
        async with asyncio.timeout(timeout), DockerEngine(endpoint, timeout=timeout) as engine:
            await engine.ping()
    except EngineError as err:
        return str(err)
    except TimeoutError:
        return f"{endpoint.name}: no answer within {timeout:g} s"
    return None


class BuilderPool:
    """The builders of one site (one pool per image builder, so per hub process)."""

    def __init__(self, endpoints: Sequence[Endpoint], probe_timeout: float = PROBE_TIMEOUT):
        self.states = [BuilderState(e) for e in endpoints] or [BuilderState(LOCAL)]
        self.probe_timeout = probe_timeout

    @property
    def remote(self) -> bool:
        return not self.states[0].endpoint.is_local

    def order(self) -> list[BuilderState]:
        """Least busy first; ties keep the site's order."""
        ranked = sorted(enumerate(self.states), key=lambda item: (item[1].active, item[0]))
        return [state for _, state in ranked]

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[Endpoint]:
        """The engine for one build, counted busy until the block ends."""
        reasons: list[str] = []
        for state in self.order():
            if not state.endpoint.is_local:
                state.problem = await probe(state.endpoint, self.probe_timeout)
                state.checked = time.time()
                if state.problem is not None:
                    reasons.append(state.problem)
                    continue
            state.active += 1
            state.builds += 1
            try:
                yield state.endpoint
            finally:
                state.active -= 1
            return
        raise NoBuilder("no image builder answers: " + "; ".join(reasons))

    def report(self) -> list[dict[str, object]]:
        """What this process knows of each builder (a builder's last probe, busy builds)."""
        return [
            {
                "name": s.endpoint.name,
                "url": s.endpoint.url or "local",
                "active": s.active,
                "builds": s.builds,
                "problem": s.problem,
            }
            for s in self.states
        ]


async def probe_all(
    endpoints: Sequence[Endpoint], timeout: float = PROBE_TIMEOUT
) -> list[tuple[Endpoint, str | None]]:
    """Ping every builder at once: ``[(endpoint, problem or None)]`` (``versahub status``)."""
    problems = await asyncio.gather(*(probe(e, timeout) for e in endpoints))
    return list(zip(endpoints, problems, strict=True))
