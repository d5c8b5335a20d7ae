"""Decision records: OPA's nanosecond times, spawn decision-log events as records (and the
hostile ones refused naming the field), and what a report may show of a record."""

from __future__ import annotations

import copy
import datetime as _dt
import json
from typing import Any

import pytest

from versahub.errors import InputError
from versahub.policy.decision import UNAVAILABLE_ID, MalformedDecision, validate_decision
from versahub.policy.records import (
    DECISION_PATH,
    DecisionRecord,
    iso,
    parse_time,
    record_from_event,
    report_view,
)

MOUNT_PATH = "/home/jovyan/secret-thesis"
URLPATH = "lab/tree/private/notes.ipynb"
REFERRER = "https://lms.example.edu/course/42?session=t0k3n"
MESSAGE = "You asked for 32 GiB of memory for /home/jovyan/secret-thesis, alice."
INPUT: dict[str, Any] = {
    "spec": {
        "repo": "https://github.com/binder-examples/requirements",
        "ref": "v1.2", "urlpath": URLPATH, "server_name": "analysis", "provider": "gh",
        "source": {"scheme": "https", "host": "github.com", "port": None},
        "spec_id": "0123456789abcdef",
        "mounts": [{"volume": "home", "path": MOUNT_PATH, "mode": "rw"},
                   {"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"}],
        "collaborators": ["bob", "group:ds101-teachers"],
        "public_readonly": False, "credentials": True, "internet": False,
        "resources": {"memory": "32G", "cpu": None, "max_duration": "8h", "idle_timeout": None},
        "limits": {"memory_bytes": 34359738368, "cpu": None,
                   "max_duration_seconds": 28800, "idle_timeout_seconds": None},
    },
    "user": {"name": "alice", "groups": ["ds101", "alpha", "ds101"], "admin": False},
    "origin": {"external": True, "referrer": REFERRER},
    "directory": {"users": ["alice", "bob"], "groups": ["ds101", "ds101-teachers"]},
    "site": {"name": "Hub A", "hub_url": "https://a.example.org"},
}  # fmt: skip


def finding(ident: str, message: str = MESSAGE) -> dict[str, str]:
    return {"id": ident, "severity": "medium", "title": "A title", "message": message,
            "mitigation": "Do something else."}  # fmt: skip


def event(**changes: Any) -> dict[str, Any]:
    """A spawn decision-log event as OPA uploads it (``changes`` replace or, as None,
    remove top-level keys)."""
    doc: dict[str, Any] = {
        "labels": {"id": "0b6d2ab6-1f9e-4e63-9a7b-1d2f0c3e4a5b", "version": "0.70.0"},
        "decision_id": "4ca636c1-55e4-417a-b1d8-4aceb67960d1",
        "path": DECISION_PATH,
        "input": copy.deepcopy(INPUT),
        "result": {"allowed": False,
                   "deny": [finding("resources-over-cap"), finding("mount-denied"),
                            finding("resources-over-cap")],
                   "warn": [finding("internet-egress")]},
        "requested_by": "127.0.0.1:50152",
        "timestamp": "2026-11-29T16:22:25.123456789Z",
        "metrics": {"timer_rego_query_eval_ns": 123456},
        "req_id": 7,
    }  # fmt: skip
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def field_of(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return excinfo.value.field


# --- parse_time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T16:22:25.123456789Z", _dt.datetime(2026, 11, 29, 16, 22, 25, 123456)),
        ("2026-11-29T16:22:25Z", _dt.datetime(2026, 11, 29, 16, 22, 25)),
        ("2026-11-29T16:22:25.5Z", _dt.datetime(2026, 11, 29, 16, 22, 25, 500000)),
        ("2026-11-29T16:22:25.000001Z", _dt.datetime(2026, 11, 29, 16, 22, 25, 1)),
        # truncated, never rounded (no carry into the next second)
        ("2026-11-29T16:22:25.9999999Z", _dt.datetime(2026, 11, 29, 16, 22, 25, 999999)),
        ("2026-11-29T17:22:25.123456789+01:00", _dt.datetime(2026, 11, 29, 16, 22, 25, 123456)),
        ("2026-11-29T10:52:25-05:30", _dt.datetime(2026, 11, 29, 16, 22, 25)),
        ("2026-11-30T01:22:25+09:00", _dt.datetime(2026, 11, 29, 16, 22, 25)),  # day before
        ("2026-11-29T16:22:25-00:00", _dt.datetime(2026, 11, 29, 16, 22, 25)),
        ("2026-12-31T23:30:00-01:00", _dt.datetime(2027, 1, 1, 0, 30)),  # year after
    ],
)
def test_opa_times_become_aware_utc_datetimes(text: str, expected: _dt.datetime) -> None:
    got = parse_time(text)
    assert got == expected.replace(tzinfo=_dt.UTC)
    assert got.utcoffset() == _dt.timedelta(0) and got.tzinfo == _dt.UTC


def test_iso_is_utc_to_the_microsecond_and_round_trips() -> None:
    moment = parse_time("2026-11-29T17:22:25.1234Z")
    assert iso(moment) == "2026-11-29T17:22:25.123400Z"
    assert iso(parse_time("2026-11-29T17:22:25+01:00")) == "2026-11-29T16:22:25.000000Z"
    assert parse_time(iso(moment)) == moment
    paris = _dt.timezone(_dt.timedelta(hours=1))
    assert iso(_dt.datetime(2026, 1, 1, 0, 0, tzinfo=paris)) == "2025-12-31T23:00:00.000000Z"


@pytest.mark.parametrize(
    "value",
    [
        None, 1764433345, 1764433345.5, b"2026-11-29T16:22:25Z", ["2026-11-29T16:22:25Z"],
        {"t": 1}, True, "", "yesterday", "2026-11-29",
        "2026-11-29T16:22:25",  # no zone: ambiguous
        "2026-11-29T16:22:25.123",  # no zone either
        "2026-11-29 16:22:25Z", "2026-11-29T16:22Z", "2026-11-29T16:22:25.Z",
        "2026-11-29T16:22:25+0100", "2026-11-29T16:22:25+01", "2026-11-29T16:22:25 Z",
        "2026-11-29T16:22:25Z\n", " 2026-11-29T16:22:25Z", "2026-11-29T16:22:25ZZ",
        "2026-11-29T16:22:25UTC", "26-11-29T16:22:25Z", "2026-11-29T16:22:25\x1b[31mZ",
    ],
)  # fmt: skip
def test_garbage_times_are_input_errors_naming_the_field(value: Any) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_time(value)
    assert field_of(excinfo) == "timestamp"
    assert "RFC 3339" in str(excinfo.value) and "\x1b" not in str(excinfo.value)
    with pytest.raises(InputError, match=r"^when: ") as excinfo:
        parse_time(value, "when")
    assert field_of(excinfo) == "when"


def test_a_huge_time_value_gives_a_short_message() -> None:
    with pytest.raises(InputError) as excinfo:
        parse_time("2026-11-29T16:22:25Z" + "9" * 100_000)
    assert len(str(excinfo.value)) < 200


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-29T23:59:60Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T16:22:25+24:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "\u0662\u0660\u0662\u0666-11-29T16:22:25Z",  # Arabic-Indic digits match \d
    ],
)
def test_impossible_times_are_input_errors_naming_the_field(value: str) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_time(value)
    assert field_of(excinfo) == "timestamp"


# --- record_from_event --------------------------------------------------------------------


def test_a_denied_spawn_event_becomes_a_record() -> None:
    record = record_from_event(event())
    assert record is not None
    assert record.to_dict() == {
        "decision_id": "4ca636c1-55e4-417a-b1d8-4aceb67960d1",
        "time": "2026-11-29T16:22:25.123456Z",
        "user": "alice",
        "groups": ["alpha", "ds101"],  # sorted, unique
        "repo": "https://github.com/binder-examples/requirements",
        "outcome": "denied",
        "deny": ["mount-denied", "resources-over-cap"],  # sorted, unique
        "warn": ["internet-egress"],
    }
    # the record keeps the whole input and result (to replay them), the summary does not
    assert record.input == INPUT and record.result["deny"][0]["message"] == MESSAGE
    summary = json.dumps(record.to_dict())
    for secret in (MOUNT_PATH, URLPATH, REFERRER, MESSAGE):
        assert secret not in summary
    assert isinstance(record.groups, tuple) and isinstance(record.deny, tuple)


@pytest.mark.parametrize(
    ("result", "outcome", "deny", "warn"),
    [
        ({"allowed": True, "deny": [], "warn": []}, "allowed", (), ()),
        ({"allowed": True, "deny": [],
          "warn": [finding("large-request"), finding("internet-egress"),
                   finding("large-request")]},
         "warned", (), ("internet-egress", "large-request")),
        ({"allowed": False, "deny": [finding("repo-banned")], "warn": [finding("b.x:y-z")]},
         "denied", ("repo-banned",), ("b.x:y-z",)),
        # fail closed: only a real true allows
        ({"allowed": "true", "deny": [], "warn": []}, "denied", (UNAVAILABLE_ID,), ()),
        ({"allowed": 1, "deny": None, "warn": None}, "denied", (UNAVAILABLE_ID,), ()),
        ({}, "denied", (UNAVAILABLE_ID,), ()),
    ],
)  # fmt: skip
def test_outcomes_and_finding_ids(
    result: dict[str, Any], outcome: str, deny: tuple[str, ...], warn: tuple[str, ...]
) -> None:
    record = record_from_event(event(result=result))
    assert record is not None
    assert (record.outcome, record.deny, record.warn) == (outcome, deny, warn)


def test_an_undefined_result_is_recorded_as_denied() -> None:
    ev = event()
    del ev["result"]  # OPA leaves out the result of an undefined decision
    record = record_from_event(ev)
    assert record is not None
    assert (record.outcome, record.deny, record.warn) == ("denied", (UNAVAILABLE_ID,), ())
    assert record.result == {}
    explicit = record_from_event({**event(), "result": None})
    assert explicit is not None and explicit.outcome == "denied"


@pytest.mark.parametrize(
    "result",
    [
        {"allowed": True},  # deny and warn missing
        {"allowed": True, "deny": [finding("repo-banned")], "warn": []},  # allowed despite deny
        {"allowed": True, "deny": None, "warn": []},
    ],
)
def test_a_result_the_hub_denies_is_recorded_as_denied(result: dict[str, Any]) -> None:
    with pytest.raises(MalformedDecision):
        validate_decision(result)  # the hub denies this launch (policy-engine-unavailable)
    try:
        record = record_from_event(event(result=result))
    except InputError:
        return  # refusing the event is fine too
    assert record is not None and record.outcome == "denied"


def test_an_undefined_result_is_attributed_to_the_unavailable_engine() -> None:
    record = record_from_event(event(result=None))
    assert record is not None and record.deny == (UNAVAILABLE_ID,)


def test_missing_user_spec_and_groups_give_empty_values() -> None:
    for doc in ({}, {"user": "alice", "spec": "x"}, {"user": {"groups": "ds101"}, "spec": {}}):
        record = record_from_event(event(input=doc))
        assert record is not None
        assert (record.user, record.groups, record.repo) == ("", (), "")
    odd = record_from_event(event(input={"user": {"name": "u", "groups": [3, "b", 3]}}))
    assert odd is not None and odd.groups == ("3", "b")


def test_records_compare_by_their_summary_not_their_documents() -> None:
    a = record_from_event(event())
    b = record_from_event(event(input={**INPUT, "site": {}}))
    assert a is not None and b is not None and a == b
    assert isinstance(a, DecisionRecord)
    with pytest.raises(AttributeError):
        a.outcome = "allowed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [
        {"path": "versahub/deploy/decision"},
        {"path": "system/log/mask"},
        {"path": "versahub/spawn"},
        {"path": "versahub/spawn/decision/allowed"},
        {"path": "/versahub/spawn/decision"},
        {"path": ["versahub/spawn/decision"]},
        {"path": None},
        # another path is ignored even when the rest is malformed
        {"path": "versahub/spawn/preview", "decision_id": "a b", "input": None, "result": 7},
    ],
)
def test_other_paths_are_ignored(changes: dict[str, Any]) -> None:
    assert record_from_event(event(**changes)) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"decision_id": "4ca636c1 55e4"}, "decision_id"),
        ({"decision_id": "x" * 101}, "decision_id"),
        ({"decision_id": ""}, "decision_id"),
        ({"decision_id": 42}, "decision_id"),
        ({"decision_id": ["a"]}, "decision_id"),
        ({"decision_id": None}, "decision_id"),
        ({"decision_id": "abc\n"}, "decision_id"),
        ({"decision_id": "abc/../x"}, "decision_id"),
        ({"decision_id": "d\u00e9cision"}, "decision_id"),
        ({"decision_id": "a';DROP TABLE decisions;--"}, "decision_id"),
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": "now"}, "timestamp"),
        ({"timestamp": 1764433345}, "timestamp"),
        ({"input": None}, "input"),
        ({"input": ["spec"]}, "input"),
        ({"input": "{}"}, "input"),
        ({"result": "denied"}, "result"),
        ({"result": [{"allowed": True}]}, "result"),
        ({"result": False}, "result"),
    ],
)
def test_malformed_spawn_events_are_input_errors_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    ev = event()
    ev.update(changes)
    with pytest.raises(InputError) as excinfo:
        record_from_event(ev)
    assert field_of(excinfo) == field
    assert str(excinfo.value).startswith(f"{field}: ")


def test_a_missing_decision_id_or_input_names_the_field() -> None:
    for key in ("decision_id", "timestamp", "input"):
        with pytest.raises(InputError) as excinfo:
            record_from_event(event(**{key: None}))
        assert field_of(excinfo) == key


def test_a_hostile_decision_id_is_shown_short_and_escaped() -> None:
    with pytest.raises(InputError) as excinfo:
        record_from_event(event(decision_id="\x1b[31m" + "A" * 10_000))
    text = str(excinfo.value)
    assert "\x1b" not in text and len(text) < 200 and "\\x1b" in text


def test_a_decision_id_of_100_characters_is_fine() -> None:
    record = record_from_event(event(decision_id="a-" * 50))
    assert record is not None and record.decision_id == "a-" * 50


@pytest.mark.parametrize("value", [None, [], ["path"], "versahub/spawn/decision", 3, b"{}"])
def test_an_event_that_is_no_object_is_an_input_error(value: Any) -> None:
    with pytest.raises(InputError) as excinfo:
        record_from_event(value)
    assert field_of(excinfo) == "event"


# --- report_view --------------------------------------------------------------------------


def test_the_report_view_shows_the_settings_and_nothing_personal() -> None:
    record = record_from_event(event())
    assert record is not None
    view = report_view(record.input)
    assert view == {
        "repo": "https://github.com/binder-examples/requirements",
        "ref": "v1.2",
        "mounts": ["home:rw", "ds101-shared:ro"],
        "collaborators": 2,
        "public_readonly": False,
        "credentials": True,
        "internet": False,
        "resources": {"memory": "32G", "max_duration": "8h"},  # None dropped
        "external_link": True,
    }
    shown = json.dumps(view)
    for secret in (MOUNT_PATH, "/home/jovyan/shared", URLPATH, REFERRER, "lms.example.edu",
                   "session", MESSAGE, "alice", "bob", "ds101-teachers", "analysis",
                   "0123456789abcdef", "34359738368", "Hub A"):  # fmt: skip
        assert secret not in shown, secret


def test_the_report_view_of_a_sparse_input() -> None:
    assert report_view({}) == {
        "repo": None, "ref": None, "mounts": [], "collaborators": 0, "public_readonly": None,
        "credentials": None, "internet": None, "resources": {}, "external_link": False,
    }  # fmt: skip
    view = report_view({
        "spec": {"repo": "r", "mounts": ["home", {"volume": "v"}, None],
                 "collaborators": "bob", "resources": None},
        "origin": "external",
    })  # fmt: skip
    assert view["mounts"] == ["v:None"] and view["collaborators"] == 0
    assert view["resources"] == {} and view["external_link"] is False
    assert report_view({"spec": "x", "origin": {"external": "yes"}})["external_link"] is True


@pytest.mark.parametrize(
    "spec",
    [{"mounts": 5}, {"resources": "32G"}, {"resources": [["memory", "2G", "x"]]}],
)
def test_a_recorded_input_can_always_be_shown(spec: dict[str, Any]) -> None:
    try:
        record = record_from_event(event(input={"spec": {"repo": "r", **spec}}))
    except InputError:
        return  # refused at the door: fine
    assert record is not None
    assert report_view(record.input)["repo"] == "r"


@pytest.mark.parametrize(
    "result",
    [
        {"allowed": False, "deny": [{"id": "a b"}]},
        {"allowed": False, "deny": [{"id": "-x"}]},
        {"allowed": False, "deny": [{"id": ""}]},
        {"allowed": False, "deny": [{"id": 5}]},
        {"allowed": False, "deny": [{"id": "x" * 101}]},
        {"allowed": False, "deny": [{"message": MESSAGE}]},
        {"allowed": False, "deny": ["repo-banned"]},
        {"allowed": False, "deny": {"id": "repo-banned"}},
        {"allowed": False, "deny": "repo-banned"},
        {"allowed": True, "deny": [], "warn": [{"id": "x\u202ey"}]},
        {"allowed": True, "deny": [], "warn": [None]},
        {"allowed": True, "deny": [], "warn": 3},
        {"allowed": True, "warn": []},
        {"allowed": True, "deny": [{"id": "x"}], "warn": []},
        {"allowed": False, "deny": [], "warn": []},
    ],
)
def test_a_result_the_hub_refuses_is_a_denial_by_the_unavailable_engine(result: dict) -> None:
    """As the hub judges it (validate_decision): malformed is denied, fail closed."""
    record = record_from_event({**event(), "result": result})
    assert record is not None
    assert (record.outcome, record.deny, record.warn) == ("denied", (UNAVAILABLE_ID,), ())
