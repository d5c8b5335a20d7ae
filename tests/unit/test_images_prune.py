"""Disk budget, pure parts: the LRU selection, the last-used index, the budget setting."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from click.testing import CliRunner

from versahub.cli.images import format_size, images_group
from versahub.errors import InputError
from versahub.images.config import ImagesConfig, parse_budget
from versahub.images.names import CACHE_KEY_LABEL
from versahub.images.prune import (
    GRACE_SECONDS,
    LastUsedIndex,
    LocalImage,
    PruneReport,
    select_for_removal,
    snapshot_from_df,
)

NOW = 1_800_000_000.0
DAY = 86400.0
M = 1024**2


def img(name: str, size_m: int, days_ago: float) -> LocalImage:
    return LocalImage(
        id=f"sha256:{name}",
        tags=(f"v/r2d-{name}:c",),
        size=size_m * M,
        last_used=NOW - days_ago * DAY,
    )


A, B, C, D = img("a", 100, 9), img("b", 100, 5), img("c", 100, 2), img("d", 100, 1)
FRESH = img("fresh", 500, GRACE_SECONDS / DAY / 2)  # used 5 minutes ago


@pytest.mark.parametrize(
    ("images", "in_use", "budget_m", "removed"),
    [
        pytest.param([A, B, C, D], set(), 0, [], id="zero-budget-is-unlimited"),
        pytest.param([A, B, C, D], set(), 400, [], id="exactly-at-budget"),
        pytest.param([A, B, C, D], set(), 399, ["a"], id="one-byte-over-removes-oldest"),
        pytest.param([D, C, B, A], set(), 200, ["a", "b"], id="lru-order-not-input-order"),
        pytest.param([A, B, C, D], {A.id}, 200, ["b", "c"], id="in-use-oldest-is-kept"),
        pytest.param([A, B, C, D], {A.id, B.id, C.id}, 100, ["d"], id="in-use-counts-in-total"),
        pytest.param([A, B], {A.id, B.id}, 100, [], id="all-in-use-stays-over-budget"),
        pytest.param([A, FRESH], set(), 100, ["a"], id="recently-used-within-grace-stays"),
        pytest.param([A, B, C, D], set(), 1, ["a", "b", "c", "d"], id="tiny-budget-removes-all"),
        pytest.param([], set(), 100, [], id="no-images"),
    ],
)
def test_select_for_removal(
    images: list[LocalImage], in_use: set[str], budget_m: int, removed: list[str]
) -> None:
    chosen = select_for_removal(images, in_use, budget_m * M, NOW)
    assert [i.id.removeprefix("sha256:") for i in chosen] == removed


def test_select_ties_are_broken_by_id_so_the_choice_is_stable() -> None:
    x, y = img("x", 10, 3), img("y", 10, 3)
    assert select_for_removal([y, x], set(), 10 * M, NOW) == [x]


# -- the budget setting --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("50G", 50 * 1024**3, id="gibibytes"),
        pytest.param("512Mi", 512 * M, id="mebibytes-i"),
        pytest.param("1.5T", 3 * 1024**4 // 2, id="fraction"),
        pytest.param(0, 0, id="int-zero-unlimited"),
        pytest.param("0", 0, id="text-zero-unlimited"),
        pytest.param(2 * M, 2 * M, id="bytes"),
    ],
)
def test_disk_budget_from_mapping(given: object, expected: int) -> None:
    assert ImagesConfig.from_mapping({"disk_budget": given}).disk_budget == expected


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("50GB!", id="garbage"),
        pytest.param("-1G", id="negative"),
        pytest.param(512, id="too-small-missing-unit"),
        pytest.param(True, id="bool"),
        pytest.param(1.5, id="float"),
    ],
)
def test_bad_disk_budget_is_an_input_error(given: object) -> None:
    with pytest.raises(InputError, match="disk_budget"):
        ImagesConfig.from_mapping({"disk_budget": given})


def test_disk_budget_default_and_budget_flag() -> None:
    assert ImagesConfig().disk_budget == 0
    assert parse_budget("1G", field="budget") == 1024**3


# -- the last-used index -------------------------------------------------------------------
def test_index_roundtrip_and_forget(tmp_path: Path) -> None:
    index = LastUsedIndex(tmp_path / "images" / "last-used.json")
    assert index.read() == {}
    index.touch("a:1", "b:1", when=10.0)
    index.touch("a:1", when=20.0)
    assert index.read() == {"a:1": 20.0, "b:1": 10.0}
    index.forget(["a:1", "zzz"])
    assert index.read() == {"b:1": 10.0}
    leftovers = [p.name for p in index.path.parent.iterdir() if p.name.startswith(".last-used-")]
    assert leftovers == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{half", id="truncated"),
        pytest.param("[1, 2]", id="not-a-mapping"),
        pytest.param('{"a:1": "yesterday", "b:1": true, "c:1": 3}', id="bad-values"),
    ],
)
def test_index_survives_a_damaged_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "last-used.json"
    path.write_text(content)
    index = LastUsedIndex(path)
    assert set(index.read()) <= {"c:1"}
    index.touch("d:1", when=5.0)
    assert index.read()["d:1"] == 5.0
    json.loads(path.read_text())  # rewritten whole


def test_index_touch_without_time_uses_now(tmp_path: Path) -> None:
    index = LastUsedIndex.for_config(ImagesConfig(cache_dir=str(tmp_path)))
    assert index.path == tmp_path / "images" / "last-used.json"
    index.touch("a:1")
    assert index.read()["a:1"] > NOW - 3650 * DAY


def _touch_many(path: str, worker: int) -> None:
    index = LastUsedIndex(Path(path))
    for n in range(25):
        index.touch(f"w{worker}:{n}", when=float(n))


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "last-used.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_touch_many, args=(str(path), w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert len(LastUsedIndex(path).read()) == 100


# -- what counts as a VersaHub image --------------------------------------------------------
def _df_image(iid: str, tags: list[str], size: int, shared: int, labels: dict | None) -> dict:
    return {
        "Id": iid,
        "RepoTags": tags,
        "Size": size,
        "SharedSize": shared,
        "Labels": labels,
        "Created": 1000,
    }


def test_snapshot_recognises_only_versahub_images_and_protects_what_is_used() -> None:
    label = {CACHE_KEY_LABEL: "k"}
    df = {
        "Images": [
            _df_image("sha256:base", ["v/base:b"], 700, 700, label),
            _df_image("sha256:ours", ["v/r2d-x:c1"], 750, 700, label),
            _df_image("sha256:used", ["v/r2d-y:c1"], 720, 700, label),
            _df_image("sha256:nolabel", ["v/r2d-z:c1"], 800, 0, None),
            _df_image("sha256:other", ["other/img:1"], 800, 0, label),
            _df_image("sha256:twotags", ["v/r2d-w:c1", "mine:keep"], 900, 0, label),
            _df_image("sha256:dangling", ["<none>:<none>"], 10, 0, label),
            _df_image("sha256:kept", ["v/r2d-k:c1"], 10, 0, label),
        ],
        "Containers": [
            {"Id": "c" * 64, "Names": ["/jupyter-bob"], "ImageID": "sha256:used", "State": "exited"}
        ],
    }
    config = ImagesConfig(image_prefix="v/r2d-", base_image="v/base:b")
    snap = snapshot_from_df(df, config, {"v/r2d-x:c1": 5000.0}, keep=["v/r2d-k:c1"])
    assert {i.id: (i.size, i.last_used) for i in snap.images} == {
        "sha256:ours": (50, 5000.0),  # unique bytes, recorded use
        "sha256:used": (20, 1000.0),  # no record: creation time
        "sha256:kept": (10, 1000.0),
    }
    assert snap.reasons == {
        "sha256:used": "container jupyter-bob (exited)",
        "sha256:base": "base image",
        "sha256:kept": "kept by the caller",
    }


def test_report_json_shape() -> None:
    report = PruneReport(budget=100, dry_run=True, total_before=150, total_after=120)
    doc = report.to_dict()
    assert doc["over_budget"] is True and doc["dry_run"] is True
    assert set(doc) == {
        "budget", "dry_run", "total_before", "total_after", "removed", "kept", "errors",
        "over_budget",
    }  # fmt: skip
    assert PruneReport(budget=0, dry_run=False, total_after=10**12).over_budget is False


def test_cli_prune_needs_a_budget_and_checks_it() -> None:
    runner = CliRunner()
    result = runner.invoke(images_group, ["prune", "--dry-run"])
    assert isinstance(result.exception, InputError) and "no disk budget" in str(result.exception)
    result = runner.invoke(images_group, ["prune", "--budget", "lots"])
    assert isinstance(result.exception, InputError) and result.exception.field == "budget"


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0"), (1536, "1.5K"), (50 * 1024**3, "50.0G"), (3 * 1024**4, "3.0T")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
