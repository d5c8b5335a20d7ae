"""The pure part of ``versahub policy impact``: outcomes of decision documents, the report
comparing two replays, its text, and one line per example spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from versahub.policy.decision import UNAVAILABLE_ID, MalformedDecision, validate_decision
from versahub.policy.impact import (
    CHANGES,
    Outcome,
    describe,
    impact_report,
    outcome_of,
    render_text,
)
from versahub.policy.records import DecisionRecord, report_view

MOUNT_PATH = "/home/jovyan/secret-thesis"
URLPATH = "lab/tree/private.ipynb"
REFERRER = "https://lms.example.edu/c/42?token=s3cr3t"
MESSAGE = "You asked for 32 GiB for /home/jovyan/secret-thesis."


def finding(ident: str) -> dict[str, str]:
    return {"id": ident, "severity": "high", "title": "T", "message": MESSAGE,
            "mitigation": "M"}  # fmt: skip


def ok(*warn: str) -> Outcome:
    return Outcome(True, frozenset(), frozenset(warn))


def no(*deny: str, warn: tuple[str, ...] = ()) -> Outcome:
    return Outcome(False, frozenset(deny), frozenset(warn))


def rec(
    ident: str,
    *,
    user: str = "alice",
    groups: tuple[str, ...] = ("ds101",),
    repo: str = "https://github.com/a/b",
    memory: str = "2G",
    recorded: Outcome | None = None,
    time: str = "2026-11-29T10:00:00.000000Z",
) -> DecisionRecord:
    """A record whose recorded result is ``recorded`` (default: allowed)."""
    was = recorded or ok()
    result = {"allowed": was.allowed, "deny": [finding(d) for d in sorted(was.deny)],
              "warn": [finding(w) for w in sorted(was.warn)]}  # fmt: skip
    doc = {
        "spec": {"repo": repo, "ref": "main", "urlpath": URLPATH,
                 "mounts": [{"volume": "home", "path": MOUNT_PATH, "mode": "rw"}],
                 "collaborators": ["bob"], "credentials": False, "public_readonly": False,
                 "internet": True, "resources": {"memory": memory, "cpu": None}},
        "user": {"name": user, "groups": list(groups)},
        "origin": {"external": True, "referrer": REFERRER},
    }  # fmt: skip
    return DecisionRecord(ident, time, user, groups, repo, was.label, tuple(sorted(was.deny)),
                          tuple(sorted(was.warn)), doc, result)  # fmt: skip


# --- outcome_of ---------------------------------------------------------------------------


def test_outcomes_of_well_formed_decisions() -> None:
    assert outcome_of({"allowed": True, "deny": [], "warn": []}) == ok()
    warned = {"allowed": True, "deny": [], "warn": [finding("b"), finding("a"), finding("b")]}
    assert outcome_of(warned) == ok("a", "b")
    denied = {"allowed": False, "deny": [finding("x"), finding("y")], "warn": [finding("w")]}
    assert outcome_of(denied) == no("x", "y", warn=("w",))
    assert ok().label == "allowed" and ok("w").label == "warned"
    assert no("x").label == "denied" and no("x", warn=("w",)).label == "denied"


@pytest.mark.parametrize(
    "result",
    [None, "denied", 0, [], ["allowed"], True],
)
def test_undefined_or_non_object_decisions_are_the_unavailable_denial(result: Any) -> None:
    assert outcome_of(result) == Outcome(False, frozenset({UNAVAILABLE_ID}))
    assert outcome_of(result).label == "denied"


@pytest.mark.parametrize(
    "result",
    [
        {"allowed": False, "deny": "repo-banned", "warn": []},
        {"allowed": False, "deny": {"id": "x"}, "warn": []},
        {"allowed": "yes", "deny": 5, "warn": []},
    ],
)
def test_findings_that_are_no_list_are_the_unavailable_denial(result: Any) -> None:
    got = outcome_of(result)
    assert not got.allowed and UNAVAILABLE_ID in got.deny


def test_only_a_real_true_allows() -> None:
    for allowed in ("true", 1, None, [True], {"x": 1}):
        assert not outcome_of({"allowed": allowed, "deny": [], "warn": []}).allowed
    assert not outcome_of({"deny": [], "warn": []}).allowed


@pytest.mark.parametrize(
    "result",
    [
        {"allowed": True},
        {"allowed": True, "deny": None, "warn": None},
        {"allowed": True, "deny": [finding("repo-banned")], "warn": []},
        {"allowed": True, "deny": [], "warn": "internet-egress"},
    ],
)
def test_malformed_decisions_the_hub_denies_are_denials(result: Any) -> None:
    with pytest.raises(MalformedDecision):
        validate_decision(result)
    assert outcome_of(result) == Outcome(False, frozenset({UNAVAILABLE_ID}))


@pytest.mark.parametrize(
    "result",
    [
        {"allowed": False, "deny": [], "warn": []},
        {"allowed": False, "deny": [{"message": MESSAGE}], "warn": []},
        {"allowed": "false", "deny": [finding("x")], "warn": []},
    ],
)
def test_malformed_denials_are_attributed_to_the_unavailable_engine(result: Any) -> None:
    with pytest.raises(MalformedDecision):
        validate_decision(result)
    assert outcome_of(result) == Outcome(False, frozenset({UNAVAILABLE_ID}))


def test_a_proposed_policy_the_hub_cannot_use_denies_every_launch() -> None:
    records = [rec("r1"), rec("r2", recorded=ok("w"))]
    proposed = [outcome_of({"allowed": True}), outcome_of({"allowed": True, "warn": []})]
    report = impact_report(records, [ok(), ok("w")], proposed)
    assert report["newly_denied"]["count"] == 2


# --- impact_report ------------------------------------------------------------------------


def test_no_change() -> None:
    records = [rec("r1"), rec("r2", recorded=ok("w")), rec("r3", recorded=no("x"))]
    before = [ok(), ok("w"), no("x")]
    report = impact_report(records, before, list(before))
    assert report["replayed"] == 3 and report["changed"] == 0
    assert report["recorded_differs"] == 0 and report["decisions"] == []
    for kind in CHANGES:
        assert report[kind] == {"count": 0, "rules": {}}
    assert impact_report([], [], []) == {
        "replayed": 0, "changed": 0, "recorded_differs": 0, "decisions": [],
        **{kind: {"count": 0, "rules": {}} for kind in CHANGES},
    }  # fmt: skip


def test_newly_denied_is_attributed_to_the_new_deny_ids() -> None:
    records = [
        rec("r1", user="bob", groups=("staff", "ds101")),
        rec("r2", user="alice", groups=("ds101",), recorded=no("old")),
        rec("r3", user="alice", groups=()),
    ]
    before = [ok(), no("old"), ok("w")]
    after = [no("cap", "mount"), no("old", "cap"), no("cap", warn=("w",))]
    report = impact_report(records, before, after)
    block = report["newly_denied"]
    assert block["count"] == 2  # r2 was denied already: a denial_changed, not newly denied
    assert set(block["rules"]) == {"cap", "mount"}
    assert block["rules"]["cap"]["count"] == 2
    assert block["rules"]["cap"]["users"] == ["alice", "bob"]
    assert block["rules"]["cap"]["groups"] == ["ds101", "staff"]
    assert block["rules"]["mount"] == {
        "count": 1, "users": ["bob"], "groups": ["ds101", "staff"],
        "examples": [report_view(records[0].input)],
    }  # fmt: skip
    assert report["denial_changed"]["count"] == 1
    assert set(report["denial_changed"]["rules"]) == {"cap"}
    # a denied launch shows no new warnings
    assert report["new_warnings"]["count"] == 0 and report["dropped_warnings"]["count"] == 0


def test_newly_denied_by_rules_the_baseline_also_listed() -> None:
    # allowed before although the baseline listed a deny id (odd): attribute to after.deny
    report = impact_report([rec("r")], [Outcome(True, frozenset({"x"}))], [no("x")])
    assert set(report["newly_denied"]["rules"]) == {"x"}


def test_newly_allowed_is_attributed_to_the_dropped_deny_ids() -> None:
    records = [rec("r1", recorded=no("cap", "mount")), rec("r2", recorded=no("cap"))]
    before = [no("cap", "mount"), no("cap")]
    after = [ok(), ok()]
    report = impact_report(records, before, after)
    assert report["newly_allowed"]["count"] == 2
    assert {r: e["count"] for r, e in report["newly_allowed"]["rules"].items()} == {
        "cap": 2, "mount": 1,
    }  # fmt: skip
    assert report["newly_denied"]["count"] == 0 and report["changed"] == 2
    assert [d["before"] + ">" + d["after"] for d in report["decisions"]] == [
        "denied>allowed", "denied>allowed",
    ]  # fmt: skip


def test_still_denied_for_other_reasons() -> None:
    report = impact_report([rec("r", recorded=no("a", "b"))], [no("a", "b")], [no("b", "c")])
    assert report["denial_changed"]["count"] == 1
    assert set(report["denial_changed"]["rules"]) == {"a", "c"}  # what differs
    assert report["newly_denied"]["count"] == report["newly_allowed"]["count"] == 0
    assert report["decisions"][0]["changes"] == {"denial_changed": ["a", "c"]}
    # still denied for the same reasons, warnings changed: no change at all
    same = impact_report([rec("s", recorded=no("a"))], [no("a", warn=("w",))], [no("a")])
    assert same["changed"] == 0


def test_new_warnings_only_count_for_launches_still_allowed() -> None:
    records = [rec("r1"), rec("r2", recorded=ok("w1")), rec("r3"), rec("r4")]
    before = [ok(), ok("w1"), ok(), ok()]
    after = [ok("w1", "w2"), ok("w1", "w2"), no("d", warn=("w3",)), ok()]
    report = impact_report(records, before, after)
    block = report["new_warnings"]
    assert block["count"] == 2  # r1 and r2; r3 is denied now
    assert {r: e["count"] for r, e in block["rules"].items()} == {"w1": 1, "w2": 2}
    assert "w3" not in block["rules"]
    assert report["newly_denied"]["count"] == 1 and report["changed"] == 3


def test_a_newly_allowed_launch_is_not_also_a_new_warning() -> None:
    back = impact_report([rec("b", recorded=no("d"))], [no("d")], [ok("w")])
    assert back["newly_allowed"]["count"] == 1
    assert back["new_warnings"]["count"] == 0
    assert back["decisions"][0]["changes"] == {"newly_allowed": ["d"]}


def test_dropped_warnings() -> None:
    records = [rec("r1", recorded=ok("w1", "w2")), rec("r2", recorded=ok("w1"))]
    before = [ok("w1", "w2"), ok("w1")]
    after = [ok("w2", "w3"), no("d")]
    report = impact_report(records, before, after)
    assert report["dropped_warnings"]["count"] == 1  # r2 is denied now, not "dropped"
    assert set(report["dropped_warnings"]["rules"]) == {"w1"}
    assert set(report["new_warnings"]["rules"]) == {"w3"}
    assert report["decisions"][0]["changes"] == {
        "new_warnings": ["w3"], "dropped_warnings": ["w1"],
    }  # fmt: skip


def test_users_and_groups_are_sorted_and_unique() -> None:
    users = ["zoe", "alice", "mia", "alice", "zoe"]
    records = [rec(f"r{i}", user=u, groups=("g2", "g1") if i % 2 else ("g3",))
               for i, u in enumerate(users)]  # fmt: skip
    report = impact_report(records, [ok()] * 5, [no("x")] * 5)
    entry = report["newly_denied"]["rules"]["x"]
    assert entry["count"] == 5
    assert entry["users"] == ["alice", "mia", "zoe"]
    assert entry["groups"] == ["g1", "g2", "g3"]
    json.dumps(report)  # sets are gone: the CLI prints it as JSON


def test_examples_are_capped_and_deduplicated() -> None:
    records = [rec(f"r{i}", memory=m) for i, m in enumerate(["1G", "1G", "2G", "1G", "3G", "4G"])]
    report = impact_report(records, [ok()] * 6, [no("x")] * 6)
    examples = report["newly_denied"]["rules"]["x"]["examples"]
    assert [e["resources"]["memory"] for e in examples] == ["1G", "2G", "3G"]
    two = impact_report(records, [ok()] * 6, [no("x")] * 6, examples=2)
    assert len(two["newly_denied"]["rules"]["x"]["examples"]) == 2
    none = impact_report(records, [ok()] * 6, [no("x")] * 6, examples=0)
    assert none["newly_denied"]["rules"]["x"]["examples"] == []
    assert none["newly_denied"]["rules"]["x"]["count"] == 6


def test_decisions_list_exactly_the_changed_records_and_nothing_personal() -> None:
    records = [rec("same"), rec("gone", user="bob"), rec("same2", recorded=no("a")),
               rec("back", recorded=no("a"))]  # fmt: skip
    before = [ok(), ok(), no("a"), no("a")]
    after = [ok(), no("b"), no("a"), ok()]
    report = impact_report(records, before, after)
    assert report["changed"] == 2
    assert [d["decision_id"] for d in report["decisions"]] == ["gone", "back"]
    gone = report["decisions"][0]
    assert gone == {
        **records[1].to_dict(), "before": "allowed", "after": "denied",
        "changes": {"newly_denied": ["b"]}, "spec": report_view(records[1].input),
    }  # fmt: skip
    shown = json.dumps(report)
    for secret in (MOUNT_PATH, URLPATH, REFERRER, "lms.example.edu", MESSAGE):
        assert secret not in shown


def test_recorded_differs_counts_records_the_baseline_decides_otherwise() -> None:
    records = [
        rec("r1"),  # recorded allowed, baseline allowed
        rec("r2"),  # recorded allowed, baseline warned
        rec("r3", recorded=no("x")),  # recorded denied, baseline allowed
        rec("r4", recorded=no("x")),  # recorded denied, baseline denied for another rule
        rec("r5", recorded=ok("w")),  # recorded warned, baseline warned for another
    ]
    before = [ok(), ok("w"), ok(), no("y"), ok("v")]
    report = impact_report(records, before, list(before))
    assert report["recorded_differs"] == 2  # by outcome (label), not by rule ids
    assert report["changed"] == 0


def test_decisions_are_listed_newest_first() -> None:
    records = [rec("old", time="2026-11-20T10:00:00.000000Z"),
               rec("new", time="2026-11-29T10:00:00.000000Z")]  # fmt: skip
    report = impact_report(records, [ok(), ok()], [no("x"), no("x")])  # as the CLI: oldest first
    assert [d["decision_id"] for d in report["decisions"]] == ["new", "old"]


def test_one_outcome_per_record_and_policy_set() -> None:
    with pytest.raises(ValueError, match="one outcome per record"):
        impact_report([rec("r")], [ok()], [])
    with pytest.raises(ValueError):
        impact_report([rec("r")], [], [ok()])
    with pytest.raises(ValueError):
        impact_report([], [ok()], [ok()])


# --- render_text and describe -------------------------------------------------------------


def test_text_without_changes() -> None:
    report = impact_report([rec("r")], [ok()], [ok()])
    text = render_text(report, baseline="policies at git HEAD", proposed="policies (work tree)",
                       since="2026-11-22T00:00:00.000000Z")  # fmt: skip
    assert text.splitlines() == [
        "Replayed 1 recorded decisions since 2026-11-22T00:00:00.000000Z",
        "  baseline: policies at git HEAD",
        "  proposed: policies (work tree)",
        "",
        "No recorded decision would change.",
    ]


def test_text_notes_records_the_baseline_decides_otherwise() -> None:
    report = impact_report([rec("r"), rec("s")], [no("x"), ok()], [no("x"), ok()])
    text = render_text(report, baseline="b", proposed="p", since="s")
    assert "note: the baseline decides 1 of them differently" in text
    assert text.endswith("No recorded decision would change.")


def test_text_has_one_block_per_kind_and_one_line_per_rule() -> None:
    records = [rec(f"r{i}", user=f"user{i:02}", groups=(f"g{i % 3}",)) for i in range(12)]
    records.append(rec("back", user="zed", groups=(), recorded=no("old")))
    records.append(rec("more", user="yan", groups=("g9",)))
    before = [ok()] * 12 + [no("old"), ok()]
    after = [no("cap")] * 12 + [ok(), ok("net")]
    after[0] = no("cap", "mount")
    report = impact_report(records, before, after)
    text = render_text(report, baseline="B", proposed="P", since="S")
    lines = text.splitlines()
    assert lines[0] == "Replayed 14 recorded decisions since S"
    assert "Newly DENIED (allowed by the baseline): 12 launch(es)" in lines
    assert "Newly allowed (denied by the baseline): 1 launch(es)" in lines
    assert "New warnings: 1 launch(es)" in lines
    assert "Still denied, for other reasons" not in text
    assert "Warnings no longer shown" not in text
    # blocks in the order of CHANGES; within a block, most launches first
    assert text.index("Newly DENIED") < text.index("Newly allowed") < text.index("New warn")
    cap = next(line for line in lines if line.lstrip().startswith("cap "))
    mount = next(line for line in lines if line.lstrip().startswith("mount "))
    assert lines.index(cap) < lines.index(mount)
    assert " 12 " in cap
    # at most ten users, then an ellipsis; groups listed
    assert "users: user00, user01, user02, user03, user04, user05, user06, user07, user08, " in cap
    assert "user09 …" in cap and "user10" not in cap and "groups: g0, g1, g2" in cap
    assert "users: zed   groups: -" in text and "users: yan   groups: g9" in text
    # examples: deduplicated (all 12 have the same spec) and described
    assert text.count("e.g. https://github.com/a/b @ main") == 4  # cap, mount, old, net
    for secret in (MOUNT_PATH, URLPATH, REFERRER, MESSAGE):
        assert secret not in text


def test_rules_with_equal_counts_are_listed_by_name() -> None:
    report = impact_report([rec("r")], [ok()], [no("zz", "aa", "mm")], examples=0)
    text = render_text(report, baseline="B", proposed="P", since="S")
    order = [line.split()[0] for line in text.splitlines() if line.startswith("  ")][2:]
    assert order == ["aa", "mm", "zz"]


def test_describe_an_example_spec() -> None:
    view = report_view(rec("r").input)
    assert describe(view) == (
        "https://github.com/a/b @ main · mounts home:rw · memory=2G · 1 collaborator(s)"
        " · external link"
    )
    assert describe({"repo": "r"}) == "r @ HEAD"
    assert describe({"repo": "r", "ref": "", "mounts": [], "resources": {}}) == "r @ HEAD"
    assert describe({
        "repo": "r", "ref": "v2", "mounts": ["home:rw", "data:ro"],
        "resources": {"memory": "8G", "cpu": 4}, "credentials": True,
        "public_readonly": True, "internet": False, "collaborators": 3, "external_link": False,
    }) == (
        "r @ v2 · mounts home:rw data:ro · cpu=4 memory=8G · credentials · public_readonly"
        " · no-internet · 3 collaborator(s)"
    )  # fmt: skip
    # internet unknown (None) is not "no-internet"
    assert "no-internet" not in describe({"repo": "r", "internet": None})
