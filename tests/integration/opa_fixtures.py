"""Fixtures that start a real OPA server (never a stand-in) for the policy integration tests.

``policy_tree`` writes a small Rego policy of our own into a temporary folder (package
``versahub.spawn``, the agreed decision shape) so the client's behaviour is tested apart from
the shipped rules; ``opa_server`` serves it. ``repo_opa`` serves the repository's real
``policies/`` with site data rendered from site.yaml's defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from versahub.policy.data import render_site_data, write_site_data
from versahub.policy.server import REPO_ROOT, OpaNotFound, OpaProcess, find_opa

T = TypeVar("T")

MINIMAL_POLICY = """\
package versahub.spawn

deny contains f if {
	input.spec.source.host == "169.254.169.254"
	f := {
		"id": "repo-host-internal",
		"severity": "critical",
		"title": "Internal repository host",
		"message": sprintf("The repository host %s is internal.", [input.spec.source.host]),
		"mitigation": "Use a repository on a public forge.",
	}
}

warn contains f if {
	input.spec.internet
	f := {
		"id": "internet-access",
		"severity": "medium",
		"title": "Internet access",
		"message": "The server can reach the internet.",
		"mitigation": "Launch without internet access.",
	}
}

warn contains f if {
	not _trusted
	f := {
		"id": "untrusted-repo",
		"severity": "high",
		"title": "Code from a repository the site does not vouch for",
		"message": sprintf("%s can take any action inside the server.", [input.spec.repo]),
		"mitigation": "Launch only repositories you trust.",
	}
}

_trusted if {
	some pattern in data.versahub.site.trusted_repos
	glob.match(pattern, ["/"], input.spec.repo)
}

decision := {
	"allowed": count(deny) == 0,
	"deny": [f | some f in deny],
	"warn": [f | some f in warn],
}
"""

TEST_SITE_POLICY: dict[str, Any] = {
    "trusted_repos": ["https://github.com/binder-examples/*"],
    "trusted_forges": ["github.com"],
    "allowed_forges": ["*"],
    "allowed_internal_hosts": [],
    "caps": {
        "default": {"memory": "4G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h"},
        "groups": {"staff": {"memory": "16G", "cpu": 8}},
    },
    "large_request": {"memory": "8G", "cpu": 4},
    "share": {"groups": "member"},
}
TEST_VOLUMES: dict[str, Any] = {
    "home": {
        "kind": "home",
        "read": {"users": ["*"], "groups": []},
        "write": {"users": ["*"], "groups": []},
    },
    "ds101-shared": {
        "kind": "shared",
        "read": {"users": [], "groups": ["ds101"]},
        "write": {"users": [], "groups": ["ds101-teachers"]},
    },
}


def spec_dict(
    repo: str = "https://github.com/binder-examples/requirements",
    *,
    internet: bool = False,
    mounts: list[dict[str, str]] | None = None,
    collaborators: list[str] | None = None,
    credentials: bool = False,
    public_readonly: bool = False,
    memory: str | None = "2G",
    cpu: float | None = 1.0,
) -> dict[str, Any]:
    """A normalised spec as ``ServerSpec.to_dict()`` returns it (docs/architecture.md)."""
    from urllib.parse import urlsplit

    parts = urlsplit(repo)
    return {
        "repo": repo,
        "ref": "HEAD",
        "urlpath": "lab",
        "server_name": "analysis",
        "mounts": mounts if mounts is not None else [],
        "collaborators": collaborators or [],
        "public_readonly": public_readonly,
        "credentials": credentials,
        "internet": internet,
        "resources": {"memory": memory, "cpu": cpu, "max_duration": "8h", "idle_timeout": "1h"},
        "provider": "gh" if parts.hostname == "github.com" else "git",
        "source": {
            "scheme": parts.scheme,
            "host": parts.hostname or "",
            "port": parts.port or (443 if parts.scheme == "https" else 80),
        },
        "spec_id": "0123456789abcdef",
    }


def user(name: str = "alice", groups: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "groups": groups or [], "admin": False}


@dataclass
class PolicyTree:
    policies: Path
    data: Path

    def write_policy(self, name: str, text: str) -> Path:
        """Write a policy file the way an editor does: temp file, then rename."""
        target = self.policies / "versahub" / "spawn" / name
        tmp = target.with_name(f".{name}.swp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, target)
        return target


@pytest.fixture(scope="session")
def opa_bin() -> str:
    try:
        return find_opa()
    except OpaNotFound as err:  # pragma: no cover - the CI image ships OPA
        pytest.fail(f"the policy integration tests need a real OPA: {err}")


@pytest.fixture
def policy_tree(tmp_path: Path) -> PolicyTree:
    tree = PolicyTree(tmp_path / "policies", tmp_path / "data")
    (tree.policies / "versahub" / "spawn").mkdir(parents=True)
    tree.write_policy("decision.rego", MINIMAL_POLICY)
    write_site_data(render_site_data(TEST_SITE_POLICY, TEST_VOLUMES), tree.data)
    return tree


@pytest.fixture
def opa_server(policy_tree: PolicyTree, tmp_path: Path, opa_bin: str) -> Iterator[OpaProcess]:
    proc = OpaProcess(
        policy_tree.policies, policy_tree.data, log_path=tmp_path / "opa.log", opa=opa_bin
    )
    proc.start(timeout=15)
    try:
        yield proc
    finally:
        if proc.pid is not None:  # a test may have stopped it
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        proc.stop()


@pytest.fixture
def repo_opa(tmp_path: Path, opa_bin: str) -> Iterator[OpaProcess]:
    """The repository's real policies with site data rendered from site.yaml's defaults
    plus the test site's trusted repositories and volumes."""
    spawn = REPO_ROOT / "policies" / "versahub" / "spawn"
    if not any(p.suffix == ".rego" for p in spawn.glob("*.rego")):
        pytest.skip("policies/versahub/spawn holds no Rego yet")
    from versahub.site import site_from_mapping

    site = site_from_mapping({"policy": TEST_SITE_POLICY, "volumes": TEST_VOLUMES})
    write_site_data(render_site_data(site.policy, site.volumes), tmp_path / "data")
    proc = OpaProcess(
        REPO_ROOT / "policies", tmp_path / "data", log_path=tmp_path / "opa.log", opa=opa_bin
    )
    proc.start(timeout=15)
    try:
        yield proc
    finally:
        proc.stop()


async def poll(
    produce: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float = 5.0,
    interval: float = 0.05,
) -> T:
    """Await ``produce()`` until ``until(value)`` holds or ``timeout`` passes; return the last."""
    deadline = time.monotonic() + timeout
    while True:
        value = await produce()
        if until(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
