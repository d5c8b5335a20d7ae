"""The local control plane is a real one: the API server answers /readyz, validates and
admits objects itself, the scheduler places pods on the simulated node, kwok takes them to
Running, and ``scripts/k8s-cluster.sh down`` leaves no process behind."""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiException
from kubespawner.objects import make_pod

sys.path.insert(0, str(Path(__file__).resolve().parent))  # k8s_support: --import-mode=importlib
from k8s_support import (
    COMPONENTS,
    NODE,
    Cluster,
    live_processes,
    pid_files,
    run_cluster_script,
    start_cluster,
    wait_until,
)


def spawner_pod(name: str = "jupyter-alice", **overrides):
    """A pod as KubeSpawner builds it (its own ``make_pod``), hardened as VersaHub asks."""
    kwargs = dict(
        name=name,
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image="quay.io/jupyter/base-notebook:2025-12-01",
        image_pull_policy="IfNotPresent",
        uid=1000,
        gid=100,
        fs_gid=100,
        env={"JUPYTERHUB_API_TOKEN": "not-a-secret", "JUPYTERHUB_USER": "alice"},
        labels={
            "app": "jupyterhub",
            "component": "singleuser-server",
            "hub.jupyter.org/username": "alice",
        },
        cpu_limit=1.0,
        cpu_guarantee=0.1,
        mem_limit="1G",
        mem_guarantee="512M",
        volumes=[{"name": "data", "emptyDir": {}}],
        volume_mounts=[{"name": "data", "mountPath": "/home/jovyan/data", "readOnly": True}],
        container_security_context={
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    )
    kwargs.update(overrides)
    return make_pod(**kwargs)


def manifest(cluster: Cluster, namespace: str, pod) -> str:
    body = cluster.api().sanitize(pod)
    body.update(apiVersion="v1", kind="Pod")
    body["metadata"]["namespace"] = namespace
    return json.dumps(body)


def test_api_server_ready(cluster: Cluster) -> None:
    assert cluster.kubectl("get", "--raw", "/readyz", check=True).stdout.strip() == "ok"
    verbose = cluster.kubectl("get", "--raw", "/readyz?verbose", check=True).stdout
    assert "readyz check passed" in verbose
    version = cluster.api().version.get_code()
    assert (version.major, version.minor) == ("1", "36")


def test_node_ready(cluster: Cluster) -> None:
    node = cluster.kubectl_json("get", "node", NODE)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["status"]["allocatable"]["cpu"] == "32"
    assert not node["spec"].get("taints")


def test_spawner_pod_accepted_by_server_dry_run_and_not_stored(
    cluster: Cluster, k8s_namespace: str
) -> None:
    pod = manifest(cluster, k8s_namespace, spawner_pod())
    proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", "-o", "json", input=pod)
    assert proc.returncode == 0, proc.stderr
    admitted = json.loads(proc.stdout)
    # what the server's defaulting and admission plugins add: a real API server answered
    spec = admitted["spec"]
    assert spec["serviceAccountName"] == "default"  # ServiceAccount admission
    assert spec["priority"] == 0  # Priority admission
    tolerated = {t["key"]: t.get("tolerationSeconds") for t in spec["tolerations"]}
    assert tolerated["node.kubernetes.io/not-ready"] == 300  # DefaultTolerationSeconds
    assert admitted["status"]["qosClass"] == "Burstable"
    container = spec["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"  # defaulting
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1G"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    stored = cluster.kubectl_json("get", "pods", "-n", k8s_namespace)
    assert stored["items"] == []

    # the same through the Python client KubeSpawner uses
    api = cluster.api()
    body = json.loads(pod)
    api.core.create_namespaced_pod(k8s_namespace, body, dry_run="All")
    assert api.core.list_namespaced_pod(k8s_namespace).items == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"name": "Jupyter_Alice"},
            'Invalid value: "Jupyter_Alice": a lowercase RFC 1123 subdomain',
            id="bad-name",
        ),
        pytest.param(
            {"mem_limit": "1Gx"},
            "quantities must match the regular expression",
            id="bad-quantity",
        ),
    ],
)
def test_invalid_pod_refused_by_the_server(
    cluster: Cluster, k8s_namespace: str, overrides: dict, message: str
) -> None:
    pod = manifest(cluster, k8s_namespace, spawner_pod(**overrides))
    proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=pod)
    assert proc.returncode != 0
    assert message in proc.stderr
    with pytest.raises(ApiException) as refused:
        cluster.api().core.create_namespaced_pod(k8s_namespace, json.loads(pod), dry_run="All")
    assert refused.value.status in (400, 422)
    assert message in json.loads(refused.value.body)["message"]
    assert cluster.kubectl_json("get", "pods", "-n", k8s_namespace)["items"] == []


def test_pod_runs_on_the_kwok_node_and_is_deleted(cluster: Cluster, k8s_namespace: str) -> None:
    pod = manifest(cluster, k8s_namespace, spawner_pod())
    cluster.kubectl("apply", "-f", "-", input=pod, check=True)

    def running() -> dict | None:
        got = cluster.kubectl_json("get", "pod", "jupyter-alice", "-n", k8s_namespace)
        return got if got["status"].get("phase") == "Running" else None

    got = wait_until(running, "pod jupyter-alice Running", timeout=90)
    assert got["spec"]["nodeName"] == NODE
    assert ipaddress.ip_address(got["status"]["podIP"]) in ipaddress.ip_network("10.0.0.0/24")
    (status,) = got["status"]["containerStatuses"]
    assert status["ready"] is True and "running" in status["state"]

    cluster.kubectl("delete", "pod", "jupyter-alice", "-n", k8s_namespace, "--wait=true",
                    "--timeout=90s", check=True)  # fmt: skip
    assert cluster.kubectl_json("get", "pods", "-n", k8s_namespace)["items"] == []


def test_script_up_is_idempotent_and_down_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A second control plane of its own (the session's stays up for the other tests)."""
    own = start_cluster(tmp_path_factory.mktemp("k8s-own"))
    try:
        pids = pid_files(own.dir)
        assert set(pids) == set(COMPONENTS)
        assert live_processes(own.dir, pids) == pids

        again = own.script("up")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert pid_files(own.dir) == pids  # nothing restarted

        status = own.script("status")
        assert status.returncode == 0, status.stdout
        assert "/readyz                  ok" in status.stdout

        env = own.script("env")
        assert f"export KUBECONFIG={own.kubeconfig}" in env.stdout.splitlines()
    finally:
        down = own.script("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert live_processes(own.dir, pids) == {}
    assert pid_files(own.dir) == {}
    for port in own.ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    assert own.script("status").returncode == 1
    again = run_cluster_script("down", own.dir, None)
    assert again.returncode == 0
    assert "not running" in again.stdout
