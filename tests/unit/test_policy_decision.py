"""validate_decision, the fail-closed denial and the confirmation hash (pure)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from versahub.policy.decision import (
    UNAVAILABLE_ID,
    Decision,
    Finding,
    MalformedDecision,
    confirmation_hash,
    unavailable,
    validate_decision,
)


def finding(**over: Any) -> dict[str, Any]:
    base = {
        "id": "internet-access",
        "severity": "medium",
        "title": "Internet access",
        "message": "The server can reach the internet.",
        "mitigation": "Launch without internet.",
    }
    return base | over


GOOD = [
    pytest.param({"allowed": True, "deny": [], "warn": []}, True, (), (), id="allowed"),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding()]},
        True,
        (),
        ("internet-access",),
        id="warned",
    ),
    pytest.param(
        {
            "allowed": False,
            "deny": [finding(id="repo-host-internal", severity="critical")],
            "warn": [finding()],
        },
        False,
        ("repo-host-internal",),
        ("internet-access",),
        id="denied-with-warnings",
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding()], "extra": 1},
        True,
        (),
        ("internet-access",),
        id="unknown-top-level-key-ignored",
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(rule="x")]},
        True,
        (),
        ("internet-access",),
        id="unknown-finding-key-ignored",
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(mitigation="")]},
        True,
        (),
        ("internet-access",),
        id="empty-mitigation",
    ),
]


@pytest.mark.parametrize(("raw", "allowed", "deny_ids", "warn_ids"), GOOD)
def test_validate_good(raw: Any, allowed: bool, deny_ids: tuple, warn_ids: tuple) -> None:
    decision = validate_decision(raw, decision_id="abc")
    assert decision.allowed is allowed
    assert tuple(f.id for f in decision.deny) == deny_ids
    assert decision.warn_ids == warn_ids
    assert decision.decision_id == "abc"


BAD = [
    pytest.param(None, "not an object", id="null"),
    pytest.param([], "not an object", id="list"),
    pytest.param({}, "allowed", id="empty"),
    pytest.param({"allowed": "true", "deny": [], "warn": []}, "allowed", id="allowed-string"),
    pytest.param({"allowed": 1, "deny": [], "warn": []}, "allowed", id="allowed-int"),
    pytest.param({"allowed": True, "warn": []}, "deny", id="deny-missing"),
    pytest.param({"allowed": True, "deny": [], "warn": {}}, "warn", id="warn-object"),
    pytest.param(
        {"allowed": True, "deny": [finding()], "warn": []},
        "deny is not empty",
        id="allowed-with-deny",
    ),
    pytest.param({"allowed": False, "deny": [], "warn": []}, "no reason", id="denied-no-reason"),
    pytest.param({"allowed": True, "deny": [], "warn": ["x"]}, "warn[0]", id="finding-string"),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(severity="HIGH")]},
        "severity",
        id="severity-case",
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(severity="info")]},
        "severity",
        id="severity-unknown",
    ),
    pytest.param({"allowed": True, "deny": [], "warn": [finding(id="")]}, "id", id="id-empty"),
    pytest.param({"allowed": True, "deny": [], "warn": [finding(id="a b")]}, "id", id="id-space"),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(id="a\nb")]}, "id", id="id-newline"
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(title=None)]}, "title", id="title-null"
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(message="")]}, "empty", id="message-empty"
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [{"id": "x"}]}, "severity", id="finding-incomplete"
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding(message="m" * 5000)]},
        "longer",
        id="message-huge",
    ),
    pytest.param(
        {"allowed": True, "deny": [], "warn": [finding()] * 201},
        "more than",
        id="too-many-findings",
    ),
]


@pytest.mark.parametrize(("raw", "words"), BAD)
def test_validate_bad(raw: Any, words: str) -> None:
    with pytest.raises(MalformedDecision, match=re.escape(words)):
        validate_decision(raw)


def test_findings_most_severe_first() -> None:
    raw = {
        "allowed": True,
        "deny": [],
        "warn": [
            finding(id="b", severity="low"),
            finding(id="c", severity="critical"),
            finding(id="a", severity="low"),
        ],
    }
    assert [f.id for f in validate_decision(raw).warn] == ["c", "a", "b"]


def test_unavailable_is_a_critical_denial() -> None:
    decision = unavailable("OPA at http://127.0.0.1:1 did not answer within 1.0 s")
    assert decision.allowed is False
    assert [(f.id, f.severity) for f in decision.deny] == [(UNAVAILABLE_ID, "critical")]
    assert "did not answer within 1.0 s" in decision.deny[0].message
    assert decision.deny[0].mitigation
    assert not decision.is_confirmed_by(decision.confirmation_token("s"), "s")


def test_confirmation_hash_is_documented_sha256() -> None:
    expected = hashlib.sha256(b"0123abcd\na-id\nb-id").hexdigest()
    assert confirmation_hash("0123abcd", ["b-id", "a-id", "b-id"]) == expected


def test_confirmation_hash_rejects_newlines() -> None:
    with pytest.raises(ValueError):
        confirmation_hash("a\nb", [])


@given(st.lists(st.sampled_from(["x", "y", "z", "internet-access"]), max_size=6))
def test_confirmation_hash_ignores_order_and_duplicates(ids: list[str]) -> None:
    assert confirmation_hash("s", ids) == confirmation_hash("s", sorted(set(ids), reverse=True))


def warned(*ids: str) -> Decision:
    return Decision(True, (), tuple(Finding(i, "medium", "t", "m", "") for i in ids))


@pytest.mark.parametrize(
    ("decision", "confirmation", "spec_id", "ok"),
    [
        pytest.param(warned(), None, "s1", True, id="nothing-to-confirm"),
        pytest.param(warned("a"), None, "s1", False, id="missing"),
        pytest.param(warned("a"), "", "s1", False, id="empty"),
        pytest.param(warned("a", "b"), confirmation_hash("s1", ["a", "b"]), "s1", True, id="exact"),
        pytest.param(
            warned("a", "b"), confirmation_hash("s2", ["a", "b"]), "s1", False, id="other-spec"
        ),
        pytest.param(
            warned("a", "b"), confirmation_hash("s1", ["a"]), "s1", False, id="fewer-warnings"
        ),
        pytest.param(
            warned("a"), confirmation_hash("s1", ["a", "b"]), "s1", False, id="more-warnings"
        ),
        pytest.param(
            Decision(False, (Finding("d", "high", "t", "m", ""),), ()),
            confirmation_hash("s1", []),
            "s1",
            False,
            id="denied-never",
        ),
    ],
)
def test_is_confirmed_by(
    decision: Decision, confirmation: str | None, spec_id: str, ok: bool
) -> None:
    assert decision.is_confirmed_by(confirmation, spec_id) is ok


def test_requires_confirmation() -> None:
    assert warned("a").requires_confirmation
    assert not warned().requires_confirmation
    assert not Decision(
        False, (Finding("d", "high", "t", "m", ""),), (Finding("a", "low", "t", "m", ""),)
    ).requires_confirmation


def test_to_dict_round_trips() -> None:
    raw = {"allowed": True, "deny": [], "warn": [finding()]}
    assert validate_decision(validate_decision(raw).to_dict()) == validate_decision(raw)
