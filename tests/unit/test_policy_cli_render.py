"""The text form of a decision printed by ``versahub policy check`` (pure)."""

from __future__ import annotations

from versahub.cli.policy import render_table
from versahub.policy.decision import Decision, Finding, confirmation_hash, unavailable

WARN = Finding("internet-egress", "medium", "Internet access", "It can reach the web.", "Off.")
DENY = Finding("repo-internal-host", "critical", "Internal host", "10.0.0.5 is internal.", "")


def test_allowed() -> None:
    text = render_table(Decision(True, (), (), "d-1"), "abc")
    assert text.splitlines() == ["Decision: ALLOWED  (spec abc)", "", "decision id: d-1"]


def test_warned_shows_confirmation() -> None:
    text = render_table(Decision(True, (), (WARN,)), "abc")
    assert text.startswith("Decision: ALLOWED after the user confirms the warnings")
    assert "Warnings (1):" in text and "internet-egress" in text and "mitigation: Off." in text
    assert f"confirmation: {confirmation_hash('abc', ['internet-egress'])}" in text


def test_denied_lists_reasons_without_confirmation() -> None:
    text = render_table(Decision(False, (DENY,), (WARN,)), "abc")
    assert text.startswith("Decision: DENIED")
    assert text.index("Denied because (1):") < text.index("Warnings (1):")
    assert "confirmation" not in text and "mitigation: \n" not in text


def test_unavailable_says_why() -> None:
    text = render_table(unavailable("OPA at http://127.0.0.1:1 did not answer within 1.0 s"), None)
    assert "policy-engine-unavailable" in text and "did not answer within 1.0 s" in text
