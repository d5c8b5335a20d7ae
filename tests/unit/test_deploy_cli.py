"""``versahub deploy``: the ansible-playbook command line and the one-line input errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from versahub.deploy.cli import PLAYBOOK, playbook_argv

REPO = Path(__file__).resolve().parents[2]
HAVE_ANSIBLE = (Path(sys.executable).parent / "ansible-inventory").exists()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "versahub", "deploy", *args],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=120,
    )  # fmt: skip


def test_playbook_argv_passes_every_option() -> None:
    argv = playbook_argv(
        PLAYBOOK, Path("inv"), check=True, diff=True, tags=("hub", "opa"), skip_tags=("docker",),
        limit="hub1", extra_vars=("a=1", "@vars.yml"), verbose=2, ansible_playbook="ap",
    )  # fmt: skip
    assert argv == [
        "ap", "-i", "inv", str(PLAYBOOK), "--check", "--diff", "--tags", "hub,opa",
        "--skip-tags", "docker", "--limit", "hub1", "--extra-vars", "a=1",
        "--extra-vars", "@vars.yml", "-vv",
    ]  # fmt: skip


def test_playbook_argv_minimal() -> None:
    argv = playbook_argv(
        PLAYBOOK, Path("inv"), check=False, diff=False, tags=(), skip_tags=(), limit=None,
        extra_vars=(), verbose=0,
    )  # fmt: skip
    assert argv == ["ansible-playbook", "-i", "inv", str(PLAYBOOK)]


def test_missing_inventory_is_one_line_exit_2() -> None:
    proc = run("-i", "/nonexistent/inventory")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "versahub: error: -i/--inventory: no inventory at '/nonexistent/inventory'"
    ]


@pytest.mark.skipif(not HAVE_ANSIBLE, reason="ansible is not installed in this venv")
@pytest.mark.parametrize(
    ("site", "expected"),
    [
        pytest.param({"hub": {"url": "ftp://hub"}}, "versahub_site: hub.url:", id="bad-url"),
        pytest.param(
            {"policy": {"caps": {"default": {"memory": []}}}},
            "versahub_site: policy.caps.default.memory",
            id="bad-cap",
        ),
    ],
)
def test_bad_inventory_value_fails_before_anything_runs(tmp_path: Path, site, expected) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"hub": {"hosts": {"h1": None}}}}})
    )
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump({"versahub_site": site}))
    proc = run("-i", str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert "host h1" in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # ansible-playbook never started


@pytest.mark.skipif(not HAVE_ANSIBLE, reason="ansible is not installed in this venv")
def test_inventory_without_hub_group_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"storage": {"hosts": {"h1": None}}}}})
    )
    proc = run("-i", str(tmp_path / "hosts.yml"))
    assert proc.returncode == 2
    assert "no host in group 'hub'" in proc.stderr


@pytest.mark.skipif(not HAVE_ANSIBLE, reason="ansible is not installed in this venv")
@pytest.mark.parametrize("name", ["local", "example"])
def test_shipped_inventories_pass_the_check(name: str) -> None:
    from versahub.deploy.cli import ansible_env, find_tool
    from versahub.deploy.inventory import check_inventory, load_inventory

    inv = load_inventory(
        REPO / "inventories" / name, find_tool("ansible-inventory"), ansible_env(PLAYBOOK, None)
    )
    check_inventory(inv)
    assert inv.groups["hub"]
