"""The deploy-policy gate (versahub/deploy/kubernetes_policy.py) fails closed and never hands a
secret's value to OPA. A stand-in ``opa`` script answers here; the real OPA evaluates the
real policies in tests/kubernetes/test_deploy_manifests.py and in `versahub policy test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from versahub.deploy.kubernetes_policy import (
    DeployPolicyError,
    Violation,
    check_manifests,
    format_violations,
    policy_input,
)

FINDING = {
    "id": "deploy-limits",
    "severity": "high",
    "title": "Container without limits",
    "message": "Deployment ns/web: spec.template.spec.containers[0] (app) has no "
    "resources.limits.cpu.",
    "mitigation": "Set limits.",
}


def fake_opa(tmp_path: Path, stdout: str, status: int = 0) -> str:
    """An ``opa`` that saves its input and prints ``stdout``."""
    script = tmp_path / "opa"
    (tmp_path / "answer").write_text(stdout)
    script.write_text(
        "#!/bin/sh\n"
        f"cat > {tmp_path / 'input.json'}\n"
        f'echo "$@" > {tmp_path / "args"}\n'
        f"cat {tmp_path / 'answer'}\n"
        f"exit {status}\n"
    )
    script.chmod(0o755)
    return str(script)


def answer(value: object) -> str:
    return json.dumps({"result": [{"expressions": [{"value": value, "text": "q"}]}]})


def test_findings_come_back_as_violations_and_the_query_is_the_decision(tmp_path: Path) -> None:
    opa = fake_opa(tmp_path, answer({"allowed": False, "deny": [FINDING]}))
    found = check_manifests([{"kind": "ConfigMap"}], policy_dir=tmp_path, opa=opa)
    assert found == [Violation("deploy-limits", "high", FINDING["message"], "Set limits.")]
    args = (tmp_path / "args").read_text().split()
    assert args[-1] == "data.versahub.deploy.decision"
    assert "--stdin-input" in args and "--ignore=*_test.rego" in args
    assert format_violations(found) == (
        f"the deploy policies refuse these manifests:\n  - [deploy-limits] {FINDING['message']}"
    )


def test_allowed_means_no_violation(tmp_path: Path) -> None:
    opa = fake_opa(tmp_path, answer({"allowed": True, "deny": []}))
    assert check_manifests([], policy_dir=tmp_path, opa=opa) == []


@pytest.mark.parametrize(
    ("stdout", "status", "reason"),
    [
        pytest.param(json.dumps({"result": []}), 0, "undefined or malformed", id="undefined"),
        pytest.param(answer({"deny": []}), 0, "undefined or malformed", id="no-allowed"),
        pytest.param("not json", 0, "undefined or malformed", id="garbage"),
        pytest.param("", 1, "opa eval failed", id="opa-error"),
        pytest.param(answer({"allowed": False, "deny": []}), 0, "refused without a finding",
                     id="refused-silently"),
    ],
)  # fmt: skip
def test_it_fails_closed(tmp_path: Path, stdout: str, status: int, reason: str) -> None:
    opa = fake_opa(tmp_path, stdout, status)
    with pytest.raises(DeployPolicyError, match=reason):
        check_manifests([{"kind": "ConfigMap"}], policy_dir=tmp_path, opa=opa)


def test_a_missing_opa_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DeployPolicyError, match="could not run"):
        check_manifests([], policy_dir=tmp_path, opa=str(tmp_path / "no-such-opa"))


def test_secrets_values_never_reach_opa(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"token": "hunter2"}, "data": {"key": "aHVudGVyMg=="}}  # fmt: skip
    assert policy_input([secret])["objects"][0]["stringData"] == {"token": "<redacted>"}
    opa = fake_opa(tmp_path, answer({"allowed": True, "deny": []}))

    class Unknown:  # what a Pulumi Output looks like to json
        pass

    check_manifests([secret, {"kind": "ConfigMap", "data": {"x": Unknown()}}],
                    policy_dir=tmp_path, opa=opa)  # fmt: skip
    sent = (tmp_path / "input.json").read_text()
    assert "hunter2" not in sent and "aHVudGVyMg==" not in sent
    assert json.loads(sent)["objects"][1]["data"] == {"x": "<unknown>"}
