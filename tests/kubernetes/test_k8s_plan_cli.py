"""``versahub k8s plan``: judged by the real OPA, accepted by the real API server.

The CLI runs as an operator runs it (a subprocess, the repository's policies, a temporary
OPA because no site is up). Its YAML for a table of specs is applied with ``kubectl apply
--dry-run=server`` to the local control plane: the API server's validation and admission
accept every object and store none. A denied spec prints no object and exits 3; bad input
exits 2 naming the field.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VERSAHUB = [str(ROOT / ".venv" / "bin" / "versahub")]
NAMESPACE = "vh-plan"
REPO = "https://github.com/binder-examples/requirements"

SITE = {
    "volumes": {
        "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
        "teaching": {"kind": "shared", "read": {"users": ["*"]}, "write": {"users": ["admin"]}},
    },
    "kubernetes": {"namespace": NAMESPACE},
    "policy": {
        "trusted_repos": ["https://github.com/binder-examples/*"],
        "trusted_forges": ["github.com"],
    },
}

SPECS = {
    "default": {"repo": REPO, "ref": "main"},
    "offline-credentials-ro-mount": {
        "repo": REPO, "ref": "main", "server_name": "course", "internet": False,
        "credentials": True, "resources": {"memory": "1G", "cpu": 0.5},
        "mounts": [{"volume": "teaching", "path": "/home/jovyan/teaching", "mode": "ro"}],
    },
    "public": {"repo": REPO, "ref": "main", "server_name": "demo", "public_readonly": True},
}  # fmt: skip


def plan(tmp_path: Path, spec: dict[str, Any], *extra: str) -> subprocess.CompletedProcess:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({**SITE, "state_dir": str(tmp_path / "state")}))
    source = tmp_path / "spec.yaml"
    source.write_text(yaml.safe_dump(spec))
    return subprocess.run(
        [*VERSAHUB, "k8s", "plan", str(source), "--user", "alice", "--site", str(site),
         "--opa", "http://127.0.0.1:9", *extra],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("case", sorted(SPECS))
def test_every_rendered_object_passes_server_side_validation(
    case: str, tmp_path: Path, cluster: Any
) -> None:
    cluster.namespace(NAMESPACE)
    out = plan(tmp_path, SPECS[case])
    assert out.returncode == 0, out.stderr
    objects = list(yaml.safe_load_all(out.stdout))
    kinds = sorted(o["kind"] for o in objects)
    expected = ["NetworkPolicy", "Pod"] + (["Secret"] if SPECS[case].get("credentials") else [])
    assert kinds == sorted(expected)
    applied = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=out.stdout)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("(server dry run)") == len(objects), applied.stdout
    stored = cluster.kubectl("get", "pods,networkpolicies,secrets", "-n", NAMESPACE, "-o", "name")
    assert "jupyter-alice" not in stored.stdout


def test_denied_spec_prints_no_object(tmp_path: Path) -> None:
    out = plan(tmp_path, {"repo": REPO, "ref": "main", "resources": {"memory": "512G"}})
    assert out.returncode == 3, out.stderr
    assert out.stdout == ""
    assert "DENIED" in out.stderr


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    out = plan(tmp_path, {"repo": REPO, "ref": "--upload-pack=x"})
    assert out.returncode == 2
    assert "ref" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
