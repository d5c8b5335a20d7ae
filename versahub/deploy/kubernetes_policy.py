"""Check rendered manifests against the deploy policies (``data.versahub.deploy``) with OPA.

The Pulumi program calls :func:`check_manifests` with every manifest it is about to create,
before it creates any, and fails the preview or update with the findings; tests call it
on single manifests. The real ``opa`` binary evaluates the repository's Rego
(``opa eval --stdin-input``); no Rego is re-implemented in Python. It fails closed: an OPA
that cannot be found, fails, or answers something that is not a decision is an error,
never a pass.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from versahub.policy.server import POLICY_DIR, find_opa

QUERY = "data.versahub.deploy.decision"


class DeployPolicyError(RuntimeError):
    """The deploy policies could not be evaluated (OPA missing, failing, or undefined)."""


@dataclass(frozen=True)
class Violation:
    """One finding of the deploy policies: ``message`` names the object and the field."""

    id: str
    severity: str
    message: str
    mitigation: str

    def __str__(self) -> str:
        return f"[{self.id}] {self.message}"


def policy_input(manifests: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The policy input: ``{"objects": [manifest, …]}`` (secrets' values never needed)."""
    return {"objects": [_redacted(m) for m in manifests]}


def _redacted(manifest: Mapping[str, Any]) -> dict[str, Any]:
    doc = dict(manifest)
    for key in ("data", "stringData"):
        if doc.get("kind") == "Secret" and isinstance(doc.get(key), Mapping):
            doc[key] = {name: "<redacted>" for name in doc[key]}
    return doc


def check_manifests(
    manifests: Iterable[Mapping[str, Any]],
    *,
    policy_dir: Path = POLICY_DIR,
    opa: str | None = None,
    timeout: float = 60.0,
) -> list[Violation]:
    """The deploy policies' findings for ``manifests`` (empty: everything is allowed)."""
    binary = opa or find_opa()
    cmd = [
        binary,
        "eval",
        "--format=json",
        "--stdin-input",
        "--ignore=*_test.rego",
        "--data",
        str(policy_dir),
        QUERY,
    ]
    text = json.dumps(policy_input(manifests), default=_unserialisable)
    try:
        run = subprocess.run(
            cmd, input=text, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DeployPolicyError(f"opa eval could not run: {err}") from None
    if run.returncode != 0:
        raise DeployPolicyError(f"opa eval failed: {run.stderr.strip()[:2000]}")
    try:
        decision = json.loads(run.stdout)["result"][0]["expressions"][0]["value"]
        findings = decision["deny"]
        allowed = decision["allowed"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise DeployPolicyError(f"{QUERY} is undefined or malformed: {run.stdout[:500]}") from None
    violations = [
        Violation(f["id"], f["severity"], f["message"], f["mitigation"]) for f in findings
    ]
    if not allowed and not violations:
        raise DeployPolicyError(f"{QUERY} refused without a finding")
    return violations


def _unserialisable(value: Any) -> str:
    """A value OPA cannot be given (a Pulumi Output in a Secret): only secrets hold them."""
    return "<unknown>"


def format_violations(violations: Iterable[Violation]) -> str:
    """One line per finding, for the error that stops ``pulumi up``."""
    lines = [f"  - {v}" for v in violations]
    return "the deploy policies refuse these manifests:\n" + "\n".join(lines)
