"""Issue 11's policy holes, closed against a real OPA with the shipped policies.

* A volume mounted over the repository folder (``images.target_repo_dir``) or over the
  image's software is *denied* (``storage-protected-path``), with the site's own repository
  folder carried from ``site.yaml`` into the site data OPA reads.
* ``versahub policy check`` against a site OPA that accepts connections but is hung
  (SIGSTOP) denies with "policy engine unavailable" (exit 3) instead of silently answering
  from a temporary OPA; a temporary OPA is used only when nothing listens, and it says so.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from versahub.cli import EXIT_DENIED
from versahub.cli.policy import policy_group, site_policy_data
from versahub.policy import UNAVAILABLE_ID, PolicyClient, build_input
from versahub.policy.server import OpaProcess, free_loopback_port
from versahub.site import load_site

sys.path.insert(0, str(Path(__file__).parent))  # opa_fixtures.py: --import-mode=importlib
import opa_fixtures as fx
from opa_fixtures import TEST_SITE_POLICY, TEST_VOLUMES, spec_dict, user

pytestmark = pytest.mark.integration

# fixtures that start a real OPA (see opa_fixtures.py)
opa_bin, repo_opa = fx.opa_bin, fx.repo_opa


def _children() -> set[int]:
    """PIDs of this process's direct children (Linux /proc)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        pids.update(int(p) for p in (task / "children").read_text().split())
    return pids


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    """A site whose images keep the repository in /workspace/repo (not the default)."""
    path = tmp_path / "site.yaml"
    doc = {
        "policy": TEST_SITE_POLICY,
        "volumes": TEST_VOLUMES,
        "images": {"target_repo_dir": "/workspace/repo"},
        "opa": {"address": f"127.0.0.1:{free_loopback_port()}"},  # no site OPA runs there
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def _spec(tmp_path: Path, mount_path: str) -> Path:
    path = tmp_path / f"spec-{abs(hash(mount_path))}.yaml"
    path.write_text(
        "repo: https://github.com/binder-examples/requirements\ninternet: false\n"
        f"mounts:\n  - {{volume: home, path: {mount_path}, mode: rw}}\n"
    )
    return path


# --- mounts over the repository folder and the image's software -----------------------------


@pytest.mark.parametrize("path", ["/srv/repo", "/srv/repo/data", "/srv/conda", "/usr/local/x"])
async def test_mount_over_what_the_image_needs_is_denied(repo_opa: OpaProcess, path: str) -> None:
    mount = {"volume": "home", "path": path, "mode": "rw"}
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide(build_input(spec_dict(mounts=[mount]), user(), None))
    assert not decision.allowed
    (finding,) = [f for f in decision.deny if f.id == "storage-protected-path"]
    assert finding.severity == "high"
    assert f"mounted at {path}," in finding.message
    assert "home folder" in finding.mitigation


async def test_mount_in_the_home_folder_is_allowed(repo_opa: OpaProcess) -> None:
    mount = {"volume": "home", "path": "/home/jovyan/work", "mode": "ro"}
    async with PolicyClient(repo_opa.url) as client:
        decision = await client.decide(build_input(spec_dict(mounts=[mount]), user(), None))
    assert decision.allowed, decision.deny


def test_site_repository_folder_reaches_the_policy(site_file: Path, tmp_path: Path) -> None:
    assert site_policy_data(load_site(site_file))["repo_dir"] == "/workspace/repo"
    args = ["check", str(_spec(tmp_path, "/workspace")), "--user", "alice", "--site",
            str(site_file), "--json"]  # fmt: skip
    result = CliRunner().invoke(policy_group, args)
    assert result.exit_code == EXIT_DENIED, result.output
    assert "/workspace/repo, which this server needs to run" in result.stdout
    ok = CliRunner().invoke(
        policy_group,
        ["check", str(_spec(tmp_path, "/home/jovyan/work")), "--user", "alice",
         "--site", str(site_file), "--json"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output


# --- versahub policy check and a hung site OPA ----------------------------------------------


def test_check_denies_when_the_site_opa_is_hung(
    repo_opa: OpaProcess, site_file: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "/home/jovyan/work")
    assert repo_opa.pid is not None
    os.kill(repo_opa.pid, signal.SIGSTOP)
    try:
        before = _children()
        result = CliRunner().invoke(
            policy_group,
            ["check", str(spec), "--user", "alice", "--site", str(site_file),
             "--opa", repo_opa.url, "--timeout", "0.5", "--json"],
        )  # fmt: skip
        assert _children() <= before  # no temporary OPA was started in its place
    finally:
        os.kill(repo_opa.pid, signal.SIGCONT)
    assert result.exit_code == EXIT_DENIED, result.output
    assert [f["id"] for f in yaml.safe_load(result.stdout)["deny"]] == [UNAVAILABLE_ID]
    assert "policy engine unavailable" in result.stderr
    assert "temporary" not in result.stderr


def test_check_uses_a_temporary_opa_only_when_none_runs(site_file: Path, tmp_path: Path) -> None:
    # site.yaml's opa.address is a free port: no site is running, so a temporary OPA answers
    result = CliRunner().invoke(
        policy_group,
        ["check", str(_spec(tmp_path, "/home/jovyan/work")), "--user", "alice",
         "--site", str(site_file), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no OPA is running at" in result.stderr and "temporary" in result.stderr
