"""Controller-side artefacts of the deploy are reproducible (so a re-run changes nothing),
and the controller-side filters reuse VersaHub's own validation."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import pytest

from versahub.deploy.policies import pack, policy_files
from versahub.deploy.wheel import build_wheel

REPO = Path(__file__).resolve().parents[2]


def _filters():
    pytest.importorskip("ansible")
    spec = importlib.util.spec_from_file_location(
        "versahub_filters", REPO / "playbooks" / "filter_plugins" / "versahub.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _policy_tree(root: Path) -> Path:
    (root / "versahub" / "spawn").mkdir(parents=True)
    (root / "versahub" / "spawn" / "a.rego").write_text("package versahub.spawn\n")
    (root / "versahub" / "spawn" / "a_test.rego").write_text("package versahub.spawn_test\n")
    (root / "versahub" / ".swp.rego").write_text("x")
    (root / "data.json").write_text("{}")
    return root


def test_policy_tarball_is_reproducible_and_leaves_tests_out(tmp_path: Path) -> None:
    src = _policy_tree(tmp_path / "policies")
    first = pack(src, tmp_path / "one.tar").read_bytes()
    (src / "versahub" / "spawn" / "a.rego").touch()  # a newer mtime changes nothing
    second = pack(src, tmp_path / "two.tar").read_bytes()
    assert first == second
    with tarfile.open(tmp_path / "one.tar") as tar:
        assert tar.getnames() == ["data.json", "versahub/spawn/a.rego"]


def test_the_repository_policies_are_packed() -> None:
    names = [p.name for p in policy_files(REPO / "policies")]
    assert "decision.rego" in names
    assert not [n for n in names if n.endswith("_test.rego")]


@pytest.mark.slow
def test_wheel_is_reproducible(tmp_path: Path) -> None:
    one = build_wheel(REPO, tmp_path / "a").read_bytes()
    two = build_wheel(REPO, tmp_path / "b").read_bytes()
    assert one == two


def test_site_filter_fills_defaults_and_names_bad_keys() -> None:
    filters = _filters()
    doc = filters.versahub_site_document({"hub": {"url": "http://127.0.0.1:8000"}})
    assert doc["opa"]["address"] == "127.0.0.1:8181"
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=r"versahub_site: hub.url"):
        filters.versahub_site_document({"hub": {"url": "ftp://x"}})


def test_opa_command_filter_matches_versahub_up_and_refuses_public_addresses() -> None:
    filters = _filters()
    argv = filters.versahub_opa_command("/p", "/d", "127.0.0.1:8181", "/usr/local/bin/opa")
    assert argv[:3] == ["/usr/local/bin/opa", "run", "--server"]
    assert argv[-2:] == ["/p", "/d"]
    assert "decision_logs.console=true" in argv
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="not a loopback address"):
        filters.versahub_opa_command("/p", "/d", "0.0.0.0:8181", "opa")


def test_opa_data_filter_renders_site_data() -> None:
    data = _filters().versahub_opa_data({"volumes": {"home": {"kind": "home"}}})
    assert set(data["volumes"]) == {"home"}
    assert data["caps"]["default"]["memory_bytes"] == 4 * 1024**3
