"""What a policy change would change: recorded decisions replayed through two policy sets.

``versahub policy impact`` (docs/policies.md#policy-impact) replays the inputs of recorded
decisions (``versahub.policy.decision_store``) through the policies in force (*baseline*)
and the proposed ones, each in a temporary OPA with the same site data, and compares the
answers. :func:`impact_report` is pure; :class:`Replayer` is the thin I/O (a real ``opa run``
per policy set, one keep-alive connection, no decision log). Reports never show a mount
path, a message or a query (``versahub.policy.records.report_view``).
"""

from __future__ import annotations

import http.client
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.policy.data import write_site_data
from versahub.policy.decision import UNAVAILABLE_ID, MalformedDecision, validate_decision
from versahub.policy.records import DecisionRecord, report_view
from versahub.policy.server import OpaProcess

DECISION_URL = "/v1/data/versahub/spawn/decision"
CHANGES = ("newly_denied", "newly_allowed", "denial_changed", "new_warnings", "dropped_warnings")
EXAMPLES = 3


@dataclass(frozen=True)
class Outcome:
    """The part of a decision a change is measured on."""

    allowed: bool
    deny: frozenset[str] = frozenset()
    warn: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        if not self.allowed:
            return "denied"
        return "warned" if self.warn else "allowed"


def outcome_of(result: Any) -> Outcome:
    """The outcome of OPA's decision document as the hub judges it
    (``validate_decision``): undefined or malformed is a denial by
    ``policy-engine-unavailable`` (fail closed), so a proposal that breaks the decision
    document shows up as newly denying every launch."""
    try:
        decision = validate_decision(result)
    except MalformedDecision:
        return Outcome(False, frozenset({UNAVAILABLE_ID}))
    return Outcome(
        decision.allowed,
        frozenset(f.id for f in decision.deny),
        frozenset(f.id for f in decision.warn),
    )


def _changes(before: Outcome, after: Outcome) -> dict[str, frozenset[str]]:
    """Per kind of change, the rule ids it is attributed to (empty: no such change)."""
    out: dict[str, frozenset[str]] = {}
    if before.allowed and not after.allowed:
        out["newly_denied"] = (after.deny - before.deny) or after.deny
    elif not before.allowed and after.allowed:
        out["newly_allowed"] = (before.deny - after.deny) or before.deny
    elif not before.allowed and before.deny != after.deny:
        out["denial_changed"] = before.deny ^ after.deny
    if before.allowed and after.allowed and after.warn - before.warn:
        out["new_warnings"] = after.warn - before.warn
    if before.allowed and after.allowed and before.warn - after.warn:
        out["dropped_warnings"] = before.warn - after.warn
    return out


def impact_report(
    records: Sequence[DecisionRecord],
    before: Sequence[Outcome],
    after: Sequence[Outcome],
    *,
    examples: int = EXAMPLES,
) -> dict[str, Any]:
    """Compare the replays; per kind of change and rule id: how many launches, which users
    and groups, a few example specs; plus every changed decision (newest first)."""
    if not len(records) == len(before) == len(after):
        raise ValueError("one outcome per record and policy set")
    summary: dict[str, dict[str, Any]] = {c: {"count": 0, "rules": {}} for c in CHANGES}
    changed: list[dict[str, Any]] = []
    recorded_differs = 0
    for record, old, new in zip(records, before, after, strict=True):
        if record.outcome != old.label:
            recorded_differs += 1
        changes = _changes(old, new)
        if not changes:
            continue
        changed.append({
            **record.to_dict(),
            "before": old.label, "after": new.label,
            "changes": {kind: sorted(rules) for kind, rules in changes.items()},
            "spec": report_view(record.input),
        })  # fmt: skip
        for kind, rules in changes.items():
            summary[kind]["count"] += 1
            for rule in sorted(rules):
                entry = summary[kind]["rules"].setdefault(
                    rule, {"count": 0, "users": set(), "groups": set(), "examples": []}
                )
                entry["count"] += 1
                entry["users"].add(record.user)
                entry["groups"].update(record.groups)
                view = report_view(record.input)
                if len(entry["examples"]) < examples and view not in entry["examples"]:
                    entry["examples"].append(view)
    changed.sort(key=lambda d: d["time"], reverse=True)
    for kind in summary.values():
        for entry in kind["rules"].values():
            entry["users"] = sorted(entry["users"])
            entry["groups"] = sorted(entry["groups"])
    return {
        "replayed": len(records),
        "changed": len(changed),
        "recorded_differs": recorded_differs,
        **summary,
        "decisions": changed,
    }


def render_text(report: Mapping[str, Any], *, baseline: str, proposed: str, since: str) -> str:
    """The report for people: one block per kind of change, one line per rule."""
    titles = {
        "newly_denied": "Newly DENIED (allowed by the baseline)",
        "newly_allowed": "Newly allowed (denied by the baseline)",
        "denial_changed": "Still denied, for other reasons",
        "new_warnings": "New warnings",
        "dropped_warnings": "Warnings no longer shown",
    }
    lines = [
        f"Replayed {report['replayed']} recorded decisions since {since}",
        f"  baseline: {baseline}",
        f"  proposed: {proposed}",
    ]
    if report["recorded_differs"]:
        lines.append(
            f"  note: the baseline decides {report['recorded_differs']} of them differently "
            "from what was recorded (site data or policies changed since)"
        )
    if not report["changed"]:
        lines += ["", "No recorded decision would change."]
        return "\n".join(lines)
    for kind in CHANGES:
        block = report[kind]
        if not block["count"]:
            continue
        lines += ["", f"{titles[kind]}: {block['count']} launch(es)"]
        for rule, entry in sorted(block["rules"].items(), key=lambda kv: (-kv[1]["count"], kv[0])):
            users = ", ".join(entry["users"][:10]) + (" …" if len(entry["users"]) > 10 else "")
            groups = ", ".join(entry["groups"][:10]) or "-"
            lines.append(f"  {rule:<34} {entry['count']:>5}   users: {users}   groups: {groups}")
            for view in entry["examples"]:
                lines.append(f"      e.g. {describe(view)}")
    return "\n".join(lines)


def describe(view: Mapping[str, Any]) -> str:
    """One line of an example spec (``report_view``)."""
    resources = view.get("resources") or {}
    parts = [f"{view.get('repo')} @ {view.get('ref') or 'HEAD'}"]
    if view.get("mounts"):
        parts.append("mounts " + " ".join(view["mounts"]))
    if resources:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(resources.items())))
    flags = [k for k in ("credentials", "public_readonly") if view.get(k)]
    if view.get("internet") is False:
        flags.append("no-internet")
    if view.get("collaborators"):
        flags.append(f"{view['collaborators']} collaborator(s)")
    if view.get("external_link"):
        flags.append("external link")
    return " · ".join(parts + flags)


class Replayer:
    """A temporary OPA with one policy set and the site data; ``decide`` many inputs."""

    def __init__(self, policy_dir: Path, site_data: Mapping[str, Any], *, opa: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="versahub-replay-")
        folder = Path(self._tmp.name)
        write_site_data(site_data, folder / "data")
        self.policy_dir = policy_dir
        self.proc = OpaProcess(
            policy_dir, folder / "data", log_path=folder / "opa.log", opa=opa,
            decision_log_console=False,
        )  # fmt: skip
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Replayer:
        try:
            self.proc.start(timeout=20.0)
        except Exception:
            self._tmp.cleanup()
            raise
        host, port = self.proc.addr.rsplit(":", 1)
        self._conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
        self.proc.stop()
        self._tmp.cleanup()

    def decide(self, doc: Mapping[str, Any]) -> Outcome:
        assert self._conn is not None, "use Replayer as a context manager"
        body = json.dumps({"input": doc})
        self._conn.request("POST", DECISION_URL, body, {"Content-Type": "application/json"})
        response = self._conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(
                f"OPA with {self.policy_dir} answered {response.status}: {payload[:300]!r}"
            )
        return outcome_of(json.loads(payload).get("result"))


def replay(
    records: Iterable[DecisionRecord],
    baseline: Path,
    proposed: Path,
    site_data: Mapping[str, Any],
    *,
    opa: str,
) -> tuple[list[DecisionRecord], list[Outcome], list[Outcome]]:
    """Decide every record's input with both policy sets (two temporary OPAs)."""
    kept = list(records)
    with (
        Replayer(baseline, site_data, opa=opa) as old,
        Replayer(proposed, site_data, opa=opa) as new,
    ):
        before = [old.decide(r.input) for r in kept]
        after = [new.decide(r.input) for r in kept]
    return kept, before, after
