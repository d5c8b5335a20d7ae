"""The rule docs of the audit page (versahub/policy/rule_docs.py): read from a real OPA serving
the repository's policies, the parse of a hand-written module list, and the errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from versahub.policy import records
from versahub.policy.rule_docs import (
    RULE_ID_PATTERN,
    RuleDoc,
    RuleDocsError,
    load_rule_docs,
    rule_docs_from_policies,
)
from versahub.policy.server import POLICY_DIR, OpaNotFound, OpaProcess, find_opa, free_loopback_port


@pytest.fixture(scope="module")
def opa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        binary = find_opa()
    except OpaNotFound as err:
        pytest.skip(str(err))
    log = tmp_path_factory.mktemp("opa") / "opa.log"
    with OpaProcess(POLICY_DIR, None, log_path=log, opa=binary) as proc:
        yield proc.url


def spawn_rule_ids() -> set[str]:
    """Every ``custom.id`` in the METADATA of policies/versahub/spawn/*.rego (no tests)."""
    ids = set()
    for path in (POLICY_DIR / "versahub" / "spawn").glob("*.rego"):
        if not path.name.endswith("_test.rego"):
            ids |= set(re.findall(r"^#\s+id:\s*(\S+)\s*$", path.read_text(), re.MULTILINE))
    return ids


def test_every_spawn_rule_is_documented(opa_url: str) -> None:
    docs = load_rule_docs(opa_url)
    expected = spawn_rule_ids()
    assert len(expected) > 20 and "origin-external-link" in expected
    assert expected <= set(docs)
    for ident in expected:
        doc = docs[ident]
        assert doc.title and doc.description and doc.severity, ident
        assert doc.kind in ("deny", "warn"), ident
        assert doc.file.startswith("versahub/spawn/") and not doc.file.endswith("_test.rego")
        line = (POLICY_DIR / doc.file).read_text().splitlines()[doc.row - 1]
        assert re.fullmatch(rf"#\s*id:\s*{re.escape(ident)}\s*", line), (ident, line)
    origin = docs["origin-external-link"]
    assert origin == RuleDoc(
        id="origin-external-link", title="Link from outside the hub",
        description=origin.description, severity="medium",
        mitigation="Review the settings below; if you did not expect this link, cancel.",
        file="versahub/spawn/origin.rego", row=origin.row, kind="warn",
    )  # fmt: skip
    assert "example-id" not in docs  # lib_test.rego's sample rule: tests are left out


def test_rule_id_pattern_is_the_records_one() -> None:
    assert records._RULE_ID.pattern == rf"^{RULE_ID_PATTERN}\Z"


def test_parse_of_a_module_list() -> None:
    raw = "package p\n\n# METADATA\n# title: T\n# custom:\n#   id: r-1\n#   severity: low\n"
    rule = {
        "head": {"ref": [{"type": "var", "value": "deny"}]},
        "annotations": [{"title": "T", "description": " D ", "scope": "rule",
                         "custom": {"id": "r-1", "severity": "low", "mitigation": "M"}}],
    }  # fmt: skip
    other = {"head": {"name": "helper"}, "annotations": [{"title": "no id", "custom": {}}]}
    modules = [
        {"id": "srv/policies/versahub/x.rego", "raw": raw, "ast": {"rules": [rule, other]}},
        {"id": "srv/policies/versahub/x_test.rego", "raw": raw, "ast": {"rules": [rule]}},
        {"id": "broken", "ast": None},
        "not a module",
    ]
    docs = rule_docs_from_policies(modules)
    assert docs == {
        "r-1": RuleDoc(id="r-1", title="T", description="D", severity="low", mitigation="M",
                       file="versahub/x.rego", row=6, kind="deny"),
    }  # fmt: skip
    with pytest.raises(ValueError):
        rule_docs_from_policies({"result": []})


def test_errors_name_opa() -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    with pytest.raises(RuleDocsError, match=re.escape(url)):
        load_rule_docs(url, timeout=1.0)


def test_one_policy_dir() -> None:
    from versahub.app import up
    from versahub.cli import policy
    from versahub.deploy import kubernetes_policy

    assert up.POLICY_DIR is policy.POLICY_DIR is kubernetes_policy.POLICY_DIR is POLICY_DIR
    assert (POLICY_DIR / "versahub" / "spawn" / "decision.rego").is_file()


def test_docs_of_a_policy_folder_elsewhere(tmp_path: Path) -> None:
    """OPA names modules by the path it loaded: the file is shown from ``versahub/`` on."""
    module = {"id": str(tmp_path / "etc/opa/policies/versahub/spawn/y.rego").lstrip("/"),
              "raw": "#   id: y\n", "ast": {"rules": [{"head": {"name": "warn"},
              "annotations": [{"title": "Y", "custom": {"id": "y"}}]}]}}  # fmt: skip
    (doc,) = rule_docs_from_policies([module]).values()
    assert (doc.file, doc.row, doc.kind) == ("versahub/spawn/y.rego", 1, "warn")
