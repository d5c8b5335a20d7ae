"""Fixtures for the Kubernetes tests: a real local control plane and the Pulumi CLI, offline.

Every test in this folder is marked ``kubernetes`` and needs the toolchain that
``scripts/k8s-toolchain.sh`` builds (``make setup`` runs it). Without it the tests fail loudly;
they are skipped only when ``VERSAHUB_SKIP_K8S=1`` says so (setup.sh then did not build it).

Fixtures (see docs/kubernetes-local-cluster.md):

- ``cluster`` (session): a control plane started by ``scripts/k8s-cluster.sh up`` in its own
  folder on free ports, stopped at the end (``down``, checked to leave no process). Its
  ``.kubeconfig``, ``.env``, ``.kubectl(*args, input=None, check=False)``,
  ``.kubectl_json(*args)``, ``.api()`` (sync client, ``api.core.read_namespace(...)``),
  ``.async_client()``, ``.namespace(name)`` (created if missing; no name: a fresh
  ``test-<random>`` one). ``VERSAHUB_TEST_K8S_DIR=<dir>`` uses the running
  cluster of ``make cluster-up`` (``VERSAHUB_K8S_DIR``) instead and leaves it running.
- ``k8s_namespace``: a fresh namespace for one test, deleted after it.
- ``pulumi_offline_env`` (session): an environment for the ``pulumi`` CLI with no network and
  no account (the local kubernetes plugin, a ``file://`` backend logged in, a passphrase).
- ``pulumi_env`` (session): the same plus the cluster's KUBECONFIG.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # k8s_support: --import-mode=importlib
from k8s_support import (
    Cluster,
    attach_cluster,
    missing_tools,
    start_cluster,
    toolchain_message,
)
from k8s_support import pulumi_env as make_pulumi_env

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in item.path.resolve().parents]
    if not mine:
        return
    missing = missing_tools()
    skip = bool(missing) and os.environ.get("VERSAHUB_SKIP_K8S") == "1"
    for item in mine:
        item.add_marker(pytest.mark.kubernetes)
        if skip:
            reason = f"VERSAHUB_SKIP_K8S=1, no Kubernetes toolchain (missing: {', '.join(missing)})"
            item.add_marker(pytest.mark.skip(reason=reason))


def missing_message() -> str:
    return toolchain_message(missing_tools())


@pytest.fixture(scope="session", autouse=True)
def k8s_toolchain() -> None:
    """Fail every test here, loudly, when the toolchain is missing (no silent skip)."""
    if missing_tools():
        pytest.fail(missing_message(), pytrace=False)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    existing = os.environ.get("VERSAHUB_TEST_K8S_DIR")
    if existing:
        shared = attach_cluster(Path(existing).resolve())
        yield shared
        shared.close()
        return
    started = start_cluster(tmp_path_factory.mktemp("k8s"))
    print(f"\nlocal control plane up in {started.startup_seconds:.1f} s: {started.dir}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def k8s_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) after it."""
    prefix = request.node.name.removeprefix("test_").replace("_", "-").lower()
    prefix = "".join(c for c in prefix if c.isalnum() or c == "-").strip("-")[:40] or "test"
    name = cluster.namespace(prefix=prefix)
    yield name
    cluster.delete_namespace(name)


@pytest.fixture(scope="session")
def pulumi_offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pulumi")
    return make_pulumi_env(base / "home", base / "state")


@pytest.fixture(scope="session")
def pulumi_env(pulumi_offline_env: dict[str, str], cluster: Cluster) -> dict[str, str]:
    return {**pulumi_offline_env, "KUBECONFIG": str(cluster.kubeconfig)}
