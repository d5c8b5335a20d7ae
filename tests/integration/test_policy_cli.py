"""``versahub policy check|test|lint`` and the shipped policies, against a real OPA."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from versahub.cli import EXIT_BAD_INPUT, EXIT_DENIED, main
from versahub.cli.policy import policy_group
from versahub.policy import UNAVAILABLE_ID, PolicyClient, build_input
from versahub.policy.server import OpaProcess, free_loopback_port

sys.path.insert(0, str(Path(__file__).parent))  # opa_fixtures.py: --import-mode=importlib
import opa_fixtures as fx
from opa_fixtures import spec_dict, user

pytestmark = pytest.mark.integration

# fixtures that start a real OPA (see opa_fixtures.py)
opa_bin, repo_opa = fx.opa_bin, fx.repo_opa


def _children() -> set[int]:
    """PIDs of this process's direct children (Linux /proc)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        pids.update(int(p) for p in text)
    return pids


# --- the shipped policies ------------------------------------------------------------------


async def test_shipped_policies_allow_trusted_repo_without_risks(repo_opa: OpaProcess) -> None:
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide(build_input(spec_dict(), user(), {"external": False}))
    assert decision.allowed, decision
    assert decision.warn == (), decision.warn_ids


async def test_shipped_policies_warn(repo_opa: OpaProcess) -> None:
    spec = spec_dict("https://gitlab.com/x/y", internet=True)
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide(build_input(spec, user(), {"external": True}))
    assert decision.allowed and decision.requires_confirmation
    assert len(decision.warn_ids) >= 2
    assert decision.is_confirmed_by(
        decision.confirmation_token("0123456789abcdef"), "0123456789abcdef"
    )


async def test_shipped_policies_deny(repo_opa: OpaProcess) -> None:
    spec = spec_dict("http://169.254.169.254/latest/meta-data")
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide(build_input(spec, user(), None))
    assert not decision.allowed
    assert UNAVAILABLE_ID not in {f.id for f in decision.deny}
    assert any("169.254.169.254" in f.message for f in decision.deny)


async def test_shipped_policies_reject_malformed_input_by_denial(repo_opa: OpaProcess) -> None:
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide({"spec": {"repo": 3}})
    assert not decision.allowed


# --- versahub policy check -----------------------------------------------------------------


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text("repo: https://github.com/binder-examples/requirements\ninternet: false\n")
    return path


def test_check_allowed(repo_opa: OpaProcess, spec_file: Path) -> None:
    result = CliRunner().invoke(
        policy_group, ["check", str(spec_file), "--user", "alice", "--opa", repo_opa.url]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Decision: ALLOWED")


def test_check_warned_json(repo_opa: OpaProcess, spec_file: Path) -> None:
    url = "https://hub.example.org/v2/gl/x%2Fy/HEAD?internet=true&collaborator=bob"
    args = ["check", url, "--user", "alice", "--external", "--referrer", "https://evil.example/",
            "--opa", repo_opa.url, "--json"]  # fmt: skip
    result = CliRunner().invoke(policy_group, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["allowed"] is True and out["warn"]
    assert len(out["confirmation"]) == 64 and out["spec_id"] and out["decision_id"]


def test_check_denied_exit_3(repo_opa: OpaProcess) -> None:
    url = "https://hub.example.org/v2/git/http%3A%2F%2F10.0.0.5%2Frepo/HEAD"
    result = CliRunner().invoke(policy_group, ["check", url, "--user", "alice",
                                               "--opa", repo_opa.url])  # fmt: skip
    assert result.exit_code == EXIT_DENIED, result.output
    assert "Decision: DENIED" in result.output


def test_check_starts_and_stops_a_temporary_opa(spec_file: Path) -> None:
    before = _children()
    closed = f"http://127.0.0.1:{free_loopback_port()}"
    result = CliRunner().invoke(
        policy_group, ["check", str(spec_file), "--user", "alice", "--opa", closed, "--json"]
    )
    if "holds no Rego" in result.output:  # pragma: no cover
        pytest.skip("no shipped policies yet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["allowed"] is True
    assert _children() <= before  # the temporary OPA is gone


def test_check_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(tmp_path / "missing.yaml")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("versahub: error: file:") and err.count("\n") == 1


def test_check_bad_opa_url_exit_2(spec_file: Path) -> None:
    assert main(["policy", "check", str(spec_file), "--opa", "ftp://x"]) == EXIT_BAD_INPUT


# --- versahub policy test / lint -----------------------------------------------------------

POLICY = """package demo

allow if input.user == "alice"

deny if input.user == "mallory"
"""
TESTS = """package demo_test

import data.demo

test_allow if demo.allow with input as {"user": "alice"}
"""


def _tree(tmp_path: Path, policy: str = POLICY, tests: str = TESTS) -> Path:
    root = tmp_path / "pol"
    root.mkdir()
    (root / "demo.rego").write_text(policy)
    (root / "demo_test.rego").write_text(tests)
    return root


def test_policy_test_reports_coverage(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = CliRunner().invoke(policy_group, ["test", "--policies", str(root),
                                               "--coverage-min", "10"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output and "coverage:" in result.output


def test_policy_test_fails_under_minimum(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    result = CliRunner().invoke(policy_group, ["test", "--policies", str(root)])
    assert result.exit_code == 1
    assert "is under 90%" in result.output


def test_policy_test_names_failing_tests(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, tests=TESTS + '\ntest_broken if demo.allow with input as {"user": "x"}\n'
    )
    result = CliRunner().invoke(policy_group, ["test", "--policies", str(root),
                                               "--coverage-min", "0"])  # fmt: skip
    assert result.exit_code == 1
    assert "FAIL data.demo_test.test_broken" in result.output


def test_repo_policies_pass_their_tests() -> None:
    result = CliRunner().invoke(policy_group, ["test"])
    if "no policy tests found" in result.output:  # pragma: no cover
        pytest.skip("no shipped policy tests yet")
    assert result.exit_code == 0, result.output


def test_policy_lint(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert CliRunner().invoke(policy_group, ["lint", "--policies", str(root)]).exit_code == 0
    (root / "ugly.rego").write_text("package ugly\nx:=1\n")
    result = CliRunner().invoke(policy_group, ["lint", "--policies", str(root)])
    assert result.exit_code == 1
    assert "ugly.rego" in result.output


def test_check_missing_site_file_exit_2(spec_file: Path, tmp_path: Path) -> None:
    args = ["policy", "check", str(spec_file), "--site", str(tmp_path / "site.yaml")]
    assert main(args) == EXIT_BAD_INPUT


def test_check_site_file_feeds_temporary_opa(spec_file: Path, tmp_path: Path) -> None:
    spec_file.write_text("repo: https://gitlab.com/x/y\ninternet: false\n")
    closed = f"http://127.0.0.1:{free_loopback_port()}"
    base = ["check", str(spec_file), "--user", "alice", "--opa", closed, "--json"]
    site = tmp_path / "site.yaml"
    site.write_text("policy:\n  trusted_repos: ['https://gitlab.com/x/*']\n")
    untrusted = json.loads(CliRunner().invoke(policy_group, base).stdout)
    trusted = json.loads(CliRunner().invoke(policy_group, [*base, "--site", str(site)]).stdout)
    assert len(trusted["warn"]) < len(untrusted["warn"])
