"""Disk budget: remove the least recently used VersaHub images beyond ``disk_budget``.

``select_for_removal`` is the pure rule; ``LastUsedIndex`` is the small JSON file where
VersaHub records when each image was last used (every cache hit and every build);
``prune`` gathers the engine's view (``/system/df``: images, unique sizes, containers),
asks the rule, and removes what it chose, by tag and without ``force``.

What counts: images VersaHub built — a tag that starts with the site's ``image_prefix`` and
the ``org.versahub.cache-key`` label the builder stamps. An image's size is the bytes only it
holds (``docker system df -v``'s unique size: what removing it frees), so the base image's
layers, which every build shares, are never counted.

It never removes: an image it did not build (other name, no label, or also tagged with a
name outside the prefix), the site's base image, an image used by any existing container —
running **or stopped** (a stopped persistent server needs its image again when it restarts),
an image used within the last ``grace`` seconds (a launch between "image ready" and
"container created"), or an image the caller asked to keep. Registry mode: only the local
engine is pruned; the registry keeps every image.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from versahub.images.config import ImagesConfig
from versahub.images.engine import DockerEngine, EngineError
from versahub.images.names import CACHE_KEY_LABEL
from versahub.util.files import atomic_write, locked

GRACE_SECONDS = 600.0
MAX_ROUNDS = 5  # removing one image can make layers it shared unique to another


@dataclass(frozen=True)
class LocalImage:
    """A VersaHub-built image on the local engine, as the selection rule sees it."""

    id: str
    tags: tuple[str, ...]
    size: int  # bytes only this image holds: what removing it frees
    last_used: float  # epoch seconds: recorded use, else the image's creation time


def select_for_removal(
    images: Iterable[LocalImage],
    in_use: Collection[str],
    budget_bytes: int,
    now: float,
    *,
    grace: float = GRACE_SECONDS,
) -> list[LocalImage]:
    """The images to remove, least recently used first, until the total is within budget.

    ``images`` are VersaHub's images only; ``in_use`` are image ids that must stay (used by a
    container, the base image, kept by the caller); they still count towards the total.
    Images used at or after ``now - grace`` stay too. ``budget_bytes == 0`` means unlimited.
    When the images that must stay exceed the budget alone, every other one is chosen and
    the total stays over budget (the caller reports it).
    """
    images = list(images)
    if budget_bytes <= 0:
        return []
    total = sum(image.size for image in images)
    candidates = sorted(
        (i for i in images if i.id not in in_use and i.last_used < now - grace),
        key=lambda i: (i.last_used, i.id),
    )
    chosen: list[LocalImage] = []
    for image in candidates:
        if total <= budget_bytes:
            break
        chosen.append(image)
        total -= image.size
    return chosen


# -- the last-used index -----------------------------------------------------------------
class LastUsedIndex:
    """``{"<name>:<tag>": epoch seconds}`` in one JSON file, shared by all VersaHub processes.

    Every update holds an exclusive ``flock`` on ``<file>.lock``, re-reads the file, and
    replaces it atomically (temporary file in the same folder + ``os.replace``), so that
    concurrent writers lose no entry and readers never see half a file. A missing or
    unreadable file is an empty index (images then fall back to their creation time).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_config(cls, config: ImagesConfig) -> LastUsedIndex:
        return cls(Path(config.cache_dir) / "images" / "last-used.json")

    def read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): float(v)
            for k, v in data.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }

    def touch(self, *refs: str, when: float | None = None) -> None:
        """Record that ``refs`` (``name:tag``) were used at ``when`` (default: now)."""
        stamp = time.time() if when is None else when

        def change(data: dict[str, float]) -> None:
            for ref in refs:
                data[ref] = stamp

        self._update(change)

    def forget(self, refs: Iterable[str]) -> None:
        """Drop ``refs`` (images that no longer exist)."""
        gone = set(refs)

        def change(data: dict[str, float]) -> None:
            for ref in gone:
                data.pop(ref, None)

        self._update(change)

    def _update(self, change: Callable[[dict[str, float]], None]) -> None:
        with locked(self.path):
            data = self.read()
            change(data)
            atomic_write(self.path, json.dumps(data, sort_keys=True, indent=0))


# -- what the engine holds -----------------------------------------------------------------
@dataclass
class PruneReport:
    """What ``prune`` found and did; ``to_dict()`` is what ``--json`` prints."""

    budget: int
    dry_run: bool
    total_before: int = 0
    total_after: int = 0
    removed: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return self.budget > 0 and self.total_after > self.budget

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "over_budget": self.over_budget}


@dataclass
class _Snapshot:
    images: list[LocalImage]
    reasons: dict[str, str]  # image id -> why it must stay
    refs: set[str]  # every tag on the engine (to forget index entries of gone images)


def _describe(image: LocalImage, **extra: Any) -> dict[str, Any]:
    return {
        "id": image.id,
        "tags": list(image.tags),
        "size": image.size,
        "last_used": image.last_used,
        **extra,
    }


async def _system_df(engine: DockerEngine) -> dict[str, Any]:
    async with engine.session.get("http://docker/system/df") as r:
        if r.status != 200:
            raise EngineError(f"system df: HTTP {r.status}: {await r.text()}")
        return await r.json()


def snapshot_from_df(
    df: dict[str, Any], config: ImagesConfig, last_used: dict[str, float], keep: Collection[str]
) -> _Snapshot:
    """VersaHub's images and the reasons some must stay, from a ``/system/df`` answer (pure)."""
    reasons: dict[str, str] = {}
    for container in df.get("Containers") or []:
        name = ",".join(n.lstrip("/") for n in container.get("Names") or []) or container["Id"][:12]
        reasons.setdefault(
            container.get("ImageID", ""), f"container {name} ({container.get('State', '?')})"
        )
    images: list[LocalImage] = []
    all_refs: set[str] = set()
    for doc in df.get("Images") or []:
        tags = tuple(t for t in doc.get("RepoTags") or [] if t != "<none>:<none>")
        all_refs.update(tags)
        if config.base_image in tags:
            reasons[doc["Id"]] = "base image"
        ours = [t for t in tags if t.startswith(config.image_prefix)]
        labels = doc.get("Labels") or {}
        if not ours or CACHE_KEY_LABEL not in labels or len(ours) != len(tags):
            continue  # not built by VersaHub, or also tagged by someone else: not ours
        if keep and set(tags) & set(keep):
            reasons.setdefault(doc["Id"], "kept by the caller")
        shared = max(int(doc.get("SharedSize") or 0), 0)
        used = [last_used[t] for t in tags if t in last_used]
        images.append(
            LocalImage(
                id=doc["Id"],
                tags=tags,
                size=max(int(doc.get("Size") or 0) - shared, 0),
                last_used=max(used) if used else float(doc.get("Created") or 0),
            )
        )
    return _Snapshot(images=images, reasons=reasons, refs=all_refs)


async def prune(
    config: ImagesConfig,
    dry_run: bool = False,
    *,
    budget: int | None = None,
    keep: Collection[str] = (),
    grace: float = GRACE_SECONDS,
    now: float | None = None,
) -> PruneReport:
    """Remove LRU VersaHub images beyond ``budget`` (default ``config.disk_budget``).

    ``keep``: image references (``name:tag``) that must stay. ``dry_run`` removes nothing
    and reports one round's choice. Removal is by tag, never forced: an image a container
    started using meanwhile is refused by the engine and reported in ``errors``.
    """
    budget = config.disk_budget if budget is None else budget
    report = PruneReport(budget=budget, dry_run=dry_run)
    index = LastUsedIndex.for_config(config)
    async with DockerEngine() as engine:

        async def look() -> _Snapshot:
            return snapshot_from_df(await _system_df(engine), config, index.read(), keep)

        for round_ in range(MAX_ROUNDS):
            snap = await look()
            total = sum(i.size for i in snap.images)
            if round_ == 0:
                report.total_before = total
            report.total_after = total
            stamp = time.time() if now is None else now
            chosen = select_for_removal(snap.images, snap.reasons, budget, stamp, grace=grace)
            if dry_run:
                report.removed = [_describe(i) for i in chosen]
                report.total_after = total - sum(i.size for i in chosen)
                break
            if not chosen or not await _remove(engine, index, chosen, snap, report):
                break
        else:  # still removing after MAX_ROUNDS: measure what is left
            snap = await look()
            report.total_after = sum(i.size for i in snap.images)
    stamp = time.time() if now is None else now
    removed = {r["id"] for r in report.removed}
    for image in snap.images:
        if image.id in removed:
            continue
        reason = snap.reasons.get(image.id)
        if reason is None:
            reason = "recently used" if image.last_used >= stamp - grace else "within budget"
        report.kept.append(_describe(image, reason=reason))
    if not dry_run:
        # forget entries of images that are gone (older than the grace: a build that has
        # just recorded its image may not have been in the snapshot yet)
        recorded = index.read()
        stale = {r for r, t in recorded.items() if r not in snap.refs and t < stamp - grace}
        if stale:
            index.forget(stale)
    return report


async def _remove(
    engine: DockerEngine,
    index: LastUsedIndex,
    chosen: list[LocalImage],
    snap: _Snapshot,
    report: PruneReport,
) -> bool:
    """Remove ``chosen`` tag by tag (no force); True when at least one image went."""
    progress = False
    for image in chosen:
        try:
            for tag in image.tags:
                await engine.remove_image(tag)
        except EngineError as err:
            report.errors.append(str(err))
            snap.reasons.setdefault(image.id, "removal refused by the engine")
            continue
        progress = True
        report.removed.append(_describe(image))
        index.forget(image.tags)
    return progress
