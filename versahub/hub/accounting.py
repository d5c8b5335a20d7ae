"""Resource accounting: sample the servers' CPU and memory from the container runtime.

Runs in the hub-managed service with the culler (``versahub.hub.culling``), every
``accounting.sample_every`` seconds: the hub's running servers (from its REST API: user,
server, groups) are matched to their containers (``org.versahub.owner`` /
``org.versahub.server`` labels) and the Docker engine's one-shot stats give each one's
cumulative CPU time and current memory (where the engine reports none, the container's
cgroup files: the same kernel counters, ``cgroup_stats``). What a server used since the
previous sample — the CPU time difference, memory × interval, the interval as server time —
is added to the owner's row of the hour (``versahub.site.usage_store``). A container seen
for the first time only sets its baseline. The Kubernetes backend has no sampler yet (the
metrics API).

``samples_from`` is pure and unit-tested; ``sample_once`` is the thin I/O.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from versahub.images.engine import DockerEngine
from versahub.site.usage_store import Sample, add_samples, connect, rollup

log = logging.getLogger("versahub.accounting")
OWNER, SERVER = "org.versahub.owner", "org.versahub.server"


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cgroup_stats(container_id: str, root: Path = CGROUP_ROOT) -> dict[str, Any] | None:
    """The container's CPU time and memory read from its cgroup (v1 ``docker/<id>`` or v2
    ``system.slice/docker-<id>.scope``), shaped like Docker's stats; ``None`` if absent.
    Used when the engine's stats API reports nothing (an engine run inside a container,
    some cgroup setups): the counters are the kernel's either way."""
    v1_cpu = root / "cpuacct" / "docker" / container_id / "cpuacct.usage"
    if v1_cpu.exists():
        cpu = _read_int(v1_cpu)
        mem = _read_int(root / "memory" / "docker" / container_id / "memory.usage_in_bytes")
        stat = _memory_stat(root / "memory" / "docker" / container_id / "memory.stat")
        inactive = stat.get("total_inactive_file", 0)
    else:
        scope = root / "system.slice" / f"docker-{container_id}.scope"
        usage = _memory_stat(scope / "cpu.stat").get("usage_usec")
        cpu = usage * 1000 if usage is not None else None
        mem = _read_int(scope / "memory.current")
        inactive = _memory_stat(scope / "memory.stat").get("inactive_file", 0)
    if cpu is None:
        return None
    return {"cpu_stats": {"cpu_usage": {"total_usage": cpu}},
            "memory_stats": {"usage": mem or 0, "stats": {"inactive_file": inactive}}}  # fmt: skip


def _memory_stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def cpu_nanoseconds(stats: Mapping[str, Any]) -> int | None:
    try:
        return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])
    except (KeyError, TypeError, ValueError):
        return None


def memory_bytes(stats: Mapping[str, Any]) -> float:
    mem = stats.get("memory_stats") or {}
    usage = float(mem.get("usage") or 0)
    cache = float((mem.get("stats") or {}).get("inactive_file") or 0)  # as `docker stats`
    return max(usage - cache, 0.0)


def samples_from(
    stats: Mapping[str, tuple[str, Mapping[str, Any]]],
    previous: dict[str, tuple[float, int]],
    now: float,
) -> list[Sample]:
    """Samples of the containers in ``stats`` (``{id: (owner, docker stats)}``) since the
    baseline in ``previous`` (``{id: (monotonic time, cpu ns)}``, updated in place;
    containers gone are forgotten)."""
    out = []
    for cid, (owner, doc) in stats.items():
        cpu = cpu_nanoseconds(doc)
        if cpu is None:
            continue
        before = previous.get(cid)
        previous[cid] = (now, cpu)
        if before is None:
            continue
        seconds = now - before[0]
        used = (cpu - before[1]) / 1e9
        if seconds <= 0 or used < 0:  # a restarted container: a new baseline
            continue
        out.append(Sample(owner, used, memory_bytes(doc), seconds))
    for cid in set(previous) - set(stats):
        del previous[cid]
    return out


async def container_stats(
    engine: DockerEngine, running: set[tuple[str, str]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{container id: (owner, stats)}`` of this hub's running servers."""
    filters = json.dumps({"label": [OWNER], "status": ["running"]})
    async with engine.session.get("http://docker/containers/json",
                                  params={"filters": filters}) as r:  # fmt: skip
        containers = await r.json() if r.status == 200 else []
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for c in containers:
        labels = c.get("Labels") or {}
        key = (labels.get(OWNER, ""), labels.get(SERVER, ""))
        if key not in running:
            continue  # another hub's container on the same engine
        url = f"http://docker/containers/{c['Id']}/stats"
        async with engine.session.get(url, params={"stream": "false", "one-shot": "true"}) as r:
            doc = await r.json() if r.status == 200 else {}
        if not cpu_nanoseconds(doc):  # the engine reports nothing: the cgroup's counters
            doc = await asyncio.to_thread(cgroup_stats, c["Id"]) or {}
        if doc:
            out[c["Id"]] = (key[0], doc)
    return out


class Sampler:
    """The accounting loop's state: baselines per container, the last rollup."""

    def __init__(self, state_dir: Any, settings: Mapping[str, Any]) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.previous: dict[str, tuple[float, int]] = {}
        self.last_rollup = 0.0

    async def sample_once(self, users: list[dict[str, Any]]) -> int:
        """One pass over ``users`` (the hub's active user models); returns the samples."""
        running = {
            (u["name"], name)
            for u in users for name, s in (u.get("servers") or {}).items() if s.get("ready")
        }  # fmt: skip
        groups = {u["name"]: u.get("groups") or [] for u in users}
        async with DockerEngine() as engine:
            stats = await container_stats(engine, running)
        now = asyncio.get_running_loop().time()
        samples = samples_from(stats, self.previous, now)
        when = _dt.datetime.now(_dt.UTC)
        await asyncio.to_thread(self._store, samples, when, groups, now)
        return len(samples)

    def _store(self, samples: list[Sample], when: _dt.datetime, groups: Mapping[str, Any],
               now: float) -> None:  # fmt: skip
        db = connect(self.state_dir, create=True)
        try:
            add_samples(db, samples, when, groups)
            if now - self.last_rollup > 3600:
                rollup(db, when, keep_hourly_days=int(self.settings["keep_hourly_days"]),
                       keep_daily_days=int(self.settings["keep_daily_days"]))  # fmt: skip
                self.last_rollup = now
        finally:
            db.close()
