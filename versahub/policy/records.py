"""Decision records: OPA's decision-log events for spawn decisions, as typed values.

Pure. OPA uploads its decision-log events (masked by ``policies/system/log/mask.rego``) to
the hub (``versahub.web.decisions``); :func:`record_from_event` keeps the ones of the spawn
decision and checks their shape. :func:`report_view` is what any report shows of a record
(``versahub policy decisions|impact``, the audit page): the repository and the settings,
never a mount path, a URL path, a referrer's path or query, or a finding's message (which
may quote a name) — the record itself keeps the whole input so that it can be replayed.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from versahub.errors import InputError, shorten
from versahub.policy.decision import _ID_RE as _RULE_ID
from versahub.policy.decision import UNAVAILABLE_ID, MalformedDecision

DECISION_PATH = "versahub/spawn/decision"
OUTCOMES = ("allowed", "warned", "denied")
MAX_EVENTS = 10_000  # per upload; OPA sends far smaller batches
_DECISION_ID = re.compile(r"^[A-Za-z0-9-]{1,100}\Z")


@dataclass(frozen=True)
class DecisionRecord:
    """One spawn decision as OPA logged it."""

    decision_id: str
    time: str  # UTC, ISO 8601 to the microsecond: "2026-11-29T16:22:25.123456Z"
    user: str
    groups: tuple[str, ...]
    repo: str
    outcome: str  # allowed | warned | denied
    deny: tuple[str, ...]
    warn: tuple[str, ...]
    input: Mapping[str, Any] = field(compare=False)
    result: Mapping[str, Any] = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "time": self.time,
            "user": self.user,
            "groups": list(self.groups),
            "repo": self.repo,
            "outcome": self.outcome,
            "deny": list(self.deny),
            "warn": list(self.warn),
        }


def parse_time(value: Any, field_name: str = "timestamp") -> _dt.datetime:
    """An RFC 3339 time (OPA writes nanoseconds) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise InputError(field_name, f"expected an RFC 3339 time, got {shorten(value)}")
    match = re.fullmatch(
        r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})",
        value,
    )
    if not match:
        raise InputError(field_name, f"expected an RFC 3339 time, got {shorten(value)}")
    base, fraction, zone = match.groups()
    text = base + (f".{(fraction or '0')[:6]:0<6}") + ("+00:00" if zone == "Z" else zone)
    try:
        return _dt.datetime.fromisoformat(text).astimezone(_dt.UTC)
    except (ValueError, OverflowError):
        raise InputError(field_name, f"{shorten(value)} is not a real time") from None


def iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ids(result: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    findings = result.get(kind)
    if not isinstance(findings, list):
        raise MalformedDecision(f"{kind} is missing or not a list")
    ids = set()
    for finding in findings:
        ident = finding.get("id") if isinstance(finding, Mapping) else None
        if not isinstance(ident, str) or not _RULE_ID.match(ident):
            raise MalformedDecision(f"{kind} has a finding without a valid id")
        ids.add(ident)
    return tuple(sorted(ids))


def judged(result: Any) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """``(allowed, deny ids, warn ids)`` of a recorded decision, judged as the hub judges it
    (``versahub.policy.decision.validate_decision``, on the masked findings: an id each):
    undefined or malformed is a denial by ``policy-engine-unavailable``."""
    try:
        if not isinstance(result, Mapping):
            raise MalformedDecision("undefined")
        allowed = result.get("allowed")
        if not isinstance(allowed, bool):
            raise MalformedDecision("allowed is missing or not a boolean")
        deny, warn = _ids(result, "deny"), _ids(result, "warn")
        if allowed == bool(deny):
            raise MalformedDecision("allowed contradicts deny")
    except MalformedDecision:
        return False, (UNAVAILABLE_ID,), ()
    return allowed, deny, warn


def outcome_label(allowed: bool, warn: tuple[str, ...]) -> str:
    if not allowed:
        return "denied"
    return "warned" if warn else "allowed"


def record_from_event(event: Any) -> DecisionRecord | None:
    """The record of one decision-log event, or ``None`` for another path than the spawn
    decision; raises ``InputError`` (naming the field) for a malformed spawn event."""
    if not isinstance(event, Mapping):
        raise InputError("event", f"expected an object, got {type(event).__name__}")
    if event.get("path") != DECISION_PATH:
        return None
    decision_id = event.get("decision_id")
    if not isinstance(decision_id, str) or not _DECISION_ID.match(decision_id):
        raise InputError("decision_id", f"expected an OPA decision id, got {shorten(decision_id)}")
    moment = parse_time(event.get("timestamp"))
    doc = event.get("input")
    if not isinstance(doc, Mapping):
        raise InputError("input", "expected the decision's input document")
    result = event.get("result")
    if result is not None and not isinstance(result, Mapping):
        raise InputError("result", "expected the decision document")
    allowed, deny, warn = judged(result)
    result = dict(result or {})
    user = doc.get("user") if isinstance(doc.get("user"), Mapping) else {}
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    groups = user.get("groups") if isinstance(user.get("groups"), list) else []
    return DecisionRecord(
        decision_id=decision_id,
        time=iso(moment),
        user=str(user.get("name", "")),
        groups=tuple(sorted({str(g) for g in groups})),
        repo=str(spec.get("repo", "")),
        outcome=outcome_label(allowed, warn),
        deny=deny,
        warn=warn,
        input=dict(doc),
        result=result,
    )


def report_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a report shows of a decision input (the example spec): never a user name (the
    reports list users apart), a path, a query or a message."""
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    origin = doc.get("origin") if isinstance(doc.get("origin"), Mapping) else {}
    raw_mounts = spec.get("mounts")
    mounts = [
        f"{m.get('volume')}:{m.get('mode')}"
        for m in (raw_mounts if isinstance(raw_mounts, list) else [])
        if isinstance(m, Mapping)
    ]
    resources = spec.get("resources")
    collaborators = spec.get("collaborators") or []
    view = {
        "repo": spec.get("repo"),
        "ref": spec.get("ref"),
        "mounts": mounts,
        "collaborators": len(collaborators) if isinstance(collaborators, list) else 0,
        "public_readonly": spec.get("public_readonly"),
        "credentials": spec.get("credentials"),
        "internet": spec.get("internet"),
        "resources": {
            str(k): v
            for k, v in (resources.items() if isinstance(resources, Mapping) else ())
            if v is not None
        },
        "external_link": bool(origin.get("external")),
    }
    return view
