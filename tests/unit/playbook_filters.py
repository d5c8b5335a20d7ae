"""The playbooks' controller-side filters (playbooks/filter_plugins/versahub.py), loaded as
Ansible loads them: from their file, not as a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "playbooks" / "filter_plugins" / "versahub.py"


def playbook_filters() -> ModuleType:
    pytest.importorskip("ansible")
    spec = importlib.util.spec_from_file_location("versahub_filters", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
