"""The ``pulumi_env`` fixture runs the Pulumi CLI offline against the local control plane.

A throwaway Python program (not VersaHub's, which has its own tests) goes through the whole
cycle the real one needs: a stack in the ``file://`` backend, a secret encrypted with the
passphrase, the locally built kubernetes provider (no download), ``pulumi up`` waiting for a
Deployment that kwok makes ready, a second ``up`` with no change, and ``destroy``.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # k8s_support: --import-mode=importlib
from k8s_support import Cluster, kubernetes_plugin_version, run_pulumi, wait_until

PROGRAM = """\
import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
ns = k8s.core.v1.Namespace("ns", metadata={"name": config.require("namespace")})
cm = k8s.core.v1.ConfigMap(
    "cm", metadata={"name": "probe", "namespace": ns.metadata.name}, data={"k": "v"}
)
labels = {"app": "probe"}
k8s.apps.v1.Deployment(
    "web",
    metadata={"name": "web", "namespace": ns.metadata.name},
    spec={
        "replicas": 1,
        "selector": {"match_labels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]},
        },
    },
)
pulumi.export("configmap", cm.metadata.name)
pulumi.export("token", config.require_secret("token"))
"""


def test_pulumi_up_and_destroy_offline(
    pulumi_env: dict[str, str], cluster: Cluster, tmp_path: Path
) -> None:
    project = tmp_path / "probe"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: probe\nruntime:\n  name: python\n")
    (project / "__main__.py").write_text(PROGRAM)
    namespace = f"pulumi-{secrets.token_hex(3)}"

    def pulumi(*args: str, check: bool = True):
        return run_pulumi(pulumi_env, *args, cwd=project, check=check)

    pulumi("stack", "init", "test")
    pulumi("config", "set", "namespace", namespace)
    pulumi("config", "set", "--secret", "token", "not-for-your-eyes")
    assert "not-for-your-eyes" not in (project / "Pulumi.test.yaml").read_text()

    up = pulumi("up", "--yes", "--skip-preview")
    assert "get.pulumi.com" not in up.stdout + up.stderr
    deployment = cluster.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert deployment["status"]["readyReplicas"] == 1
    assert cluster.kubectl_json("get", "configmap", "probe", "-n", namespace)["data"] == {"k": "v"}
    outputs = json.loads(pulumi("stack", "output", "--json").stdout)
    assert outputs == {"configmap": "probe", "token": "[secret]"}
    plugins = json.loads(pulumi("plugin", "ls", "--json").stdout)
    installed = {(p["name"], p["kind"], p["version"]) for p in plugins}
    assert ("kubernetes", "resource", kubernetes_plugin_version()) in installed

    pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")

    pulumi("destroy", "--yes", "--skip-preview")
    wait_until(
        lambda: cluster.kubectl("get", "namespace", namespace).returncode != 0,
        f"namespace {namespace} deleted",
        timeout=120,
    )
    pulumi("stack", "rm", "test", "--yes")
