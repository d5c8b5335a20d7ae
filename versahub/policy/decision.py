"""The policy decision as typed values, its validation, and the confirmation hash.

Pure. ``validate_decision`` turns OPA's raw ``data.versahub.spawn.decision`` into a
:class:`Decision` or raises :class:`MalformedDecision`; ``unavailable`` builds the fail-closed
denial. Nothing here may ever produce ``allowed=True`` from anything but a well-formed decision
that says so, and a confirmation only counts for the exact spec and the exact warning ids.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
UNAVAILABLE_ID = "policy-engine-unavailable"
FINDING_KEYS = ("id", "severity", "title", "message", "mitigation")
# A finding's id: the one pattern for decisions, decision records, rule pages and routes.
FINDING_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}"
_ID_RE = re.compile(rf"^{FINDING_ID_PATTERN}\Z")
MAX_TEXT = 4000
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2069\ufeff]"
)
MAX_FINDINGS = 200


class MalformedDecision(ValueError):
    """OPA answered, but not with a decision document of the agreed shape."""


@dataclass(frozen=True)
class Finding:
    """One reason to deny or to warn: ``id`` names the rule, the rest is for people."""

    id: str
    severity: str
    title: str
    message: str
    mitigation: str

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in FINDING_KEYS}


def confirmation_hash(spec_id: str, warn_ids: Iterable[str]) -> str:
    """Return the hex sha256 binding a confirmation to one spec and one set of warnings.

    The hashed text is ``spec_id`` followed by the sorted unique warning ids, each on its
    own line (``"<spec_id>\\n<id1>\\n<id2>"``), so the browser can show what it confirms
    and the hub can recompute it. Neither part may contain a newline.
    """
    ids = sorted(set(warn_ids))
    if "\n" in spec_id or any("\n" in i for i in ids):
        raise ValueError("spec_id and finding ids must not contain newlines")
    text = "\n".join([spec_id, *ids])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    """OPA's answer for one requested configuration.

    ``decision_id`` is OPA's id of this decision in its decision log (``None`` when the
    engine did not answer); it is not part of the decision's value.
    """

    allowed: bool
    deny: tuple[Finding, ...] = ()
    warn: tuple[Finding, ...] = ()
    decision_id: str | None = field(default=None, compare=False)

    @property
    def warn_ids(self) -> tuple[str, ...]:
        return tuple(sorted({f.id for f in self.warn}))

    @property
    def requires_confirmation(self) -> bool:
        """True when the launch may go ahead only after the user confirmed the warnings."""
        return self.allowed and bool(self.warn)

    def confirmation_token(self, spec_id: str) -> str:
        """The hash a confirmation must carry for this decision and ``spec_id``."""
        return confirmation_hash(spec_id, self.warn_ids)

    def is_confirmed_by(self, confirmation: str | None, spec_id: str) -> bool:
        """May this spec start with this confirmation? Never when denied.

        Allowed without warnings needs no confirmation; allowed with warnings needs the hash
        of exactly this ``spec_id`` and exactly these warning ids.
        """
        if not self.allowed:
            return False
        if not self.warn:
            return True
        if not isinstance(confirmation, str) or not confirmation:
            return False
        return hmac.compare_digest(confirmation, self.confirmation_token(spec_id))

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "deny": [f.to_dict() for f in self.deny],
            "warn": [f.to_dict() for f in self.warn],
        }


def unavailable(reason: str) -> Decision:
    """The fail-closed denial: the policy engine could not give a usable decision."""
    return Decision(
        allowed=False,
        deny=(
            Finding(
                id=UNAVAILABLE_ID,
                severity="critical",
                title="Policy engine unavailable",
                message=f"Denied because the policy engine gave no usable decision: {reason}.",
                mitigation=(
                    "Try again in a minute; if it persists, ask the hub's operators to check "
                    "the OPA server (versahub status) and its policy files."
                ),
            ),
        ),
    )


def _finding(raw: Any, where: str) -> Finding:
    if not isinstance(raw, Mapping):
        raise MalformedDecision(f"{where} is not an object")
    values: dict[str, str] = {}
    for key in FINDING_KEYS:
        value = raw.get(key)
        if not isinstance(value, str):
            raise MalformedDecision(f"{where}.{key} is missing or not a string")
        if len(value) > MAX_TEXT:
            raise MalformedDecision(f"{where}.{key} is longer than {MAX_TEXT} characters")
        # a message may quote a value from the input: never pass a control or invisible
        # character on to a terminal or a page as it is
        values[key] = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode(), value)
    if not _ID_RE.match(values["id"]):
        raise MalformedDecision(f"{where}.id {values['id'][:40]!r} is not a valid finding id")
    if values["severity"] not in SEVERITIES:
        raise MalformedDecision(
            f"{where}.severity {values['severity'][:20]!r} is not one of {', '.join(SEVERITIES)}"
        )
    if not values["title"] or not values["message"]:
        raise MalformedDecision(f"{where} has an empty title or message")
    return Finding(**values)


def _findings(raw: Mapping[str, Any], key: str) -> tuple[Finding, ...]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise MalformedDecision(f"{key} is missing or not a list")
    if len(value) > MAX_FINDINGS:
        raise MalformedDecision(f"{key} has more than {MAX_FINDINGS} findings")
    found = [_finding(item, f"{key}[{i}]") for i, item in enumerate(value)]
    return tuple(sorted(found, key=lambda f: (-SEVERITIES.index(f.severity), f.id)))


def validate_decision(raw: Any, decision_id: str | None = None) -> Decision:
    """Return the :class:`Decision` in ``raw`` or raise :class:`MalformedDecision`.

    ``allowed`` must be a real boolean; an allowed decision must have no ``deny``; a denied
    one must say why (at least one ``deny``). Findings are ordered most severe first.
    Unknown keys are ignored, so a policy may add fields for its own tooling.
    """
    if not isinstance(raw, Mapping):
        raise MalformedDecision(f"the decision is a {type(raw).__name__}, not an object")
    allowed = raw.get("allowed")
    if not isinstance(allowed, bool):
        raise MalformedDecision("allowed is missing or not a boolean")
    deny = _findings(raw, "deny")
    warn = _findings(raw, "warn")
    if allowed and deny:
        raise MalformedDecision("allowed is true although deny is not empty")
    if not allowed and not deny:
        raise MalformedDecision("allowed is false but deny gives no reason")
    return Decision(allowed=allowed, deny=deny, warn=warn, decision_id=decision_id)
