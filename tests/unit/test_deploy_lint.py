"""yamllint and ansible-lint (production profile) are clean on playbooks/ and inventories/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in this venv")
    return str(path)


def test_yamllint_is_clean() -> None:
    proc = subprocess.run(
        [_tool("yamllint"), "-s", "playbooks", "inventories", ".yamllint", ".ansible-lint"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ansible-lint"), "--profile", "production", "--nocolor", "playbooks", "inventories"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
