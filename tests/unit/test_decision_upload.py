"""OPA's decision-log uploads, the pure part: the body un-gzipped within a bound (a gzip bomb
is refused without inflating it), the batch parsed, malformed spawn events skipped."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from tornado import web

from versahub.policy.records import DECISION_PATH, MAX_EVENTS
from versahub.web import decisions
from versahub.web.decisions import decompress, parse_batch


def gzip_events(events: list[dict[str, Any]]) -> bytes:
    """An upload body as OPA sends it."""
    return gzip.compress(json.dumps(events).encode("utf-8"))


def event(index: int = 0, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "labels": {"id": "0b6d2ab6", "version": "0.70.0"},
        "decision_id": f"4ca636c1-55e4-417a-b1d8-{index:012d}",
        "path": DECISION_PATH,
        "input": {"spec": {"repo": "https://github.com/a/b",
                           "mounts": [{"volume": "home", "path": "/home/x", "mode": "rw"}]},
                  "user": {"name": f"user{index}", "groups": ["ds101"]}},
        "result": {"allowed": False, "deny": [{"id": "resources-over-cap", "severity": "high",
                                               "title": "Resources above your limit"}],
                   "warn": []},
        "timestamp": "2026-11-29T16:22:25.123456789Z",
    }  # fmt: skip
    doc.update(changes)
    return doc


def status(excinfo: pytest.ExceptionInfo[web.HTTPError]) -> int:
    return excinfo.value.status_code


def message(excinfo: pytest.ExceptionInfo[web.HTTPError]) -> str:
    return str(excinfo.value.log_message)


BODY = json.dumps([event(0), event(1)]).encode()


# --- decompress ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " gzip ", "Gzip"])
def test_gzip_bodies_are_inflated(encoding: str) -> None:
    assert decompress(gzip.compress(BODY), encoding) == BODY


@pytest.mark.parametrize("encoding", [None, ""])
def test_a_body_without_content_encoding_is_taken_as_it_is(encoding: str | None) -> None:
    assert decompress(BODY, encoding) == BODY
    assert decompress(b"", encoding) == b""


@pytest.mark.parametrize("encoding", ["deflate", "br", "zstd", "x-gzip", "gzip, br", "compress"])
def test_other_encodings_are_refused_with_415(encoding: str) -> None:
    with pytest.raises(web.HTTPError) as excinfo:
        decompress(gzip.compress(BODY), encoding)
    assert status(excinfo) == 415
    assert "not supported" in message(excinfo)


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        BODY,  # plain JSON sent as gzip
        zlib.compress(BODY),  # zlib, not gzip
        b"\x1f\x8b\x08\x00" + b"\xff" * 40,  # a gzip header and then garbage
    ],
)
def test_invalid_gzip_is_400(body: bytes) -> None:
    with pytest.raises(web.HTTPError) as excinfo:
        decompress(body, "gzip")
    assert status(excinfo) == 400


def test_a_corrupted_checksum_is_400() -> None:
    packed = bytearray(gzip.compress(BODY))
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer
    with pytest.raises(web.HTTPError) as excinfo:
        decompress(bytes(packed), "gzip")
    assert status(excinfo) == 400


@pytest.mark.parametrize("keep", [0, 5, 10, 30, -20, -8, -4, -1])
def test_truncated_gzip_is_400(keep: int) -> None:
    packed = gzip.compress(BODY)
    with pytest.raises(web.HTTPError) as excinfo:
        decompress(packed[:keep], "gzip")
    assert status(excinfo) == 400
    assert "gzip" in message(excinfo)


def test_a_truncated_body_says_so() -> None:
    with pytest.raises(web.HTTPError, match="truncated") as excinfo:
        decompress(gzip.compress(BODY)[:-8], "gzip")
    assert status(excinfo) == 400


def test_a_body_of_exactly_max_body_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "MAX_BODY", 1000)
    assert len(decompress(gzip.compress(b"x" * 1000), "gzip")) == 1000
    assert len(decompress(b"x" * 1000, None)) == 1000
    for body, encoding in ((gzip.compress(b"x" * 1001), "gzip"), (b"x" * 1001, None)):
        with pytest.raises(web.HTTPError) as excinfo:
            decompress(body, encoding)
        assert status(excinfo) == 413


class _CountingInflater:
    """A gzip inflater that counts the bytes it hands out."""

    produced = 0

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out: bytes = self._inner.decompress(data, max_length)
        _CountingInflater.produced += len(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_gzip_bomb_is_refused_without_inflating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 64 * 1024
    inflated = 16 * 1024 * 1024  # 16 MiB of spaces in about 16 kB of gzip
    bomb = gzip.compress(b"[" + b" " * inflated + b"]", compresslevel=9)
    assert len(bomb) < limit // 2
    monkeypatch.setattr(decisions, "MAX_BODY", limit)
    real = zlib.decompressobj
    _CountingInflater.produced = 0
    monkeypatch.setattr(zlib, "decompressobj", lambda *a: _CountingInflater(real(*a)))
    with pytest.raises(web.HTTPError) as excinfo:
        decompress(bomb, "gzip")
    assert status(excinfo) == 413
    assert str(limit) in message(excinfo)
    assert 0 < _CountingInflater.produced <= limit + 1  # stopped right after the limit


def test_the_real_limit_is_64_mib() -> None:
    assert decisions.MAX_BODY == 64 * 1024 * 1024


# --- parse_batch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"[", b"{", b"nope", b"\xff\xfe[]", b"[1,]", b"[" * 200_000 + b"]" * 200_000],
)
def test_a_body_that_is_not_json_is_400(data: bytes) -> None:
    with pytest.raises(web.HTTPError) as excinfo:
        parse_batch(data)
    assert status(excinfo) == 400
    assert "JSON" in message(excinfo)


@pytest.mark.parametrize("data", [b"{}", b"null", b"42", b'"events"', b"true", b'{"0": {}}'])
def test_a_body_that_is_not_an_array_is_400(data: bytes) -> None:
    with pytest.raises(web.HTTPError) as excinfo:
        parse_batch(data)
    assert status(excinfo) == 400
    assert "array" in message(excinfo)


def test_too_many_events_is_413() -> None:
    assert parse_batch(json.dumps([{}] * MAX_EVENTS).encode()) == ([], [])
    with pytest.raises(web.HTTPError) as excinfo:
        parse_batch(json.dumps([{}] * (MAX_EVENTS + 1)).encode())
    assert status(excinfo) == 413
    assert str(MAX_EVENTS) in message(excinfo)


def test_an_empty_batch() -> None:
    assert parse_batch(b"[]") == ([], [])


def test_malformed_spawn_events_are_skipped_and_good_ones_kept() -> None:
    events: list[Any] = [
        event(0),
        event(1, decision_id="not an id"),
        event(2, path="versahub/deploy/decision"),  # another path: ignored, not skipped
        "not an event",
        event(4, result={"allowed": False, "deny": [{"id": "bad id"}]}),  # the hub denied it
        event(5, input=None),
        event(6, timestamp="yesterday"),
        event(7, result=None),  # undefined: a denial, kept
        event(8, path="system/log/mask", decision_id=None),
        event(9),
    ]
    records, skipped = parse_batch(json.dumps(events).encode())
    assert [r.decision_id for r in records] == [
        event(0)["decision_id"], event(4)["decision_id"], event(7)["decision_id"],
        event(9)["decision_id"],
    ]  # fmt: skip
    assert [r.user for r in records] == ["user0", "user4", "user7", "user9"]
    assert [r.outcome for r in records] == ["denied"] * 4
    assert records[1].deny == ("policy-engine-unavailable",)
    assert [line.split(":")[0] for line in skipped] == [
        "event 1", "event 3", "event 5", "event 6",
    ]  # fmt: skip
    assert skipped[0].startswith("event 1: decision_id: ")
    assert skipped[1] == "event 3: event: expected an object, got str"
    assert skipped[2].startswith("event 5: input: ")
    assert skipped[3].startswith("event 6: timestamp: ")


def test_a_skipped_line_never_carries_a_long_or_hostile_value() -> None:
    evil = "\x1b[2J" + "x" * 50_000
    _, skipped = parse_batch(json.dumps([event(0, decision_id=evil)]).encode())
    assert len(skipped) == 1 and len(skipped[0]) < 200 and "\x1b" not in skipped[0]


def test_an_event_with_an_impossible_time_is_skipped_not_fatal() -> None:
    events = [event(0), event(1, timestamp="2026-02-30T16:22:25Z"), event(2)]
    records, skipped = parse_batch(json.dumps(events).encode())
    assert len(records) == 2
    assert len(skipped) == 1 and skipped[0].startswith("event 1: timestamp: ")


# --- gzip_events --------------------------------------------------------------------------


def test_gzip_events_round_trip() -> None:
    events = [event(0), event(1, path="other/path"), event(2)]
    body = gzip_events(events)
    assert body[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(body)) == events
    records, skipped = parse_batch(decompress(body, "gzip"))
    assert [r.user for r in records] == ["user0", "user2"] and skipped == []
    assert parse_batch(decompress(gzip_events([]), "gzip")) == ([], [])


def test_gzip_events_keeps_non_ascii_text() -> None:
    events = [event(0, input={"user": {"name": "zoë", "groups": ["équipe"]}})]
    [record], _ = parse_batch(decompress(gzip_events(events), "gzip"))
    assert (record.user, record.groups) == ("zoë", ("équipe",))
