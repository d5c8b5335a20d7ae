"""Launches through the hub with the Kubernetes backend, against the real API server.

The site runs exactly as ``versahub up`` starts it (``SiteUnderTest``: real OPA with the
shipped policies, the real hub and proxy) with ``hub.spawner: kubernetes`` — the "hub on a
host, servers in the cluster of ``KUBECONFIG``" mode — and the local control plane
(``scripts/k8s-cluster.sh``: kube-apiserver, etcd, controller-manager, scheduler and a kwok
node). kwok takes pods to Running without running a process, so a launch is followed up to
its pod Running with the right spec; the server never answers (covered on real clusters
by ``scripts/k8s-smoke.sh``). Each launch is then stopped and must leave nothing behind.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

from versahub.hub.kubernetes import SERVER_LABEL, server_id
from versahub.policy import confirmation_hash

pytestmark = [pytest.mark.integration, pytest.mark.docker]
NAMESPACE = "vh-spawn"


class KubeHub(HubUnderTest):
    """The test hub with servers on Kubernetes (everything else as ``versahub up``)."""


@pytest.fixture(scope="module")
def hub(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeHub]:
    seed_cached_image()
    cluster.namespace(NAMESPACE)
    hub = KubeHub(
        tmp_path_factory.mktemp("kube-hub"),
        volumes={
            "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
            "teaching": {"kind": "shared", "read": {"users": ["*"]}, "write": {"users": ["admin"]}},
        },
        env={"KUBECONFIG": str(cluster.kubeconfig)},
    )
    hub.doc["hub"]["spawner"] = "kubernetes"
    hub.doc["kubernetes"] = {"namespace": NAMESPACE, "pull_policy": "Never"}
    hub.doc["hub"]["public_copies"] = {"max_per_server": 2, "max_total": 5, "per_minute": 10}
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


CLAIM = f"""
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {NAMESPACE}-volumes}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteMany]
  storageClassName: ""
  hostPath: {{path: /srv/versahub-test/{NAMESPACE}}}
  claimRef: {{namespace: {NAMESPACE}, name: versahub-volumes}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: versahub-volumes, namespace: {NAMESPACE}}}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: {NAMESPACE}-volumes
  resources: {{requests: {{storage: 1Gi}}}}
"""


@pytest.fixture
def claim(cluster: Any) -> None:
    """The site's volume claim, as the Pulumi ``Storage`` component makes it (hostPath)."""
    cluster.kubectl("apply", "-f", "-", input=CLAIM, check=True)


def get(cluster: Any, kind: str, name: str) -> dict[str, Any] | None:
    r = cluster.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json")
    return json.loads(r.stdout) if r.returncode == 0 else None


def launch(hub: KubeHub, token: str, spec: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"spec": spec}
    r = hub.api("POST", "/versahub/launch", token=token, json=body, timeout=120)
    if r.status_code == 409 and r.json().get("status") == "confirmation-required":
        answer = r.json()
        body["confirmation"] = confirmation_hash(
            answer["spec_id"], [f["id"] for f in answer["decision"]["warn"]]
        )
        r = hub.api("POST", "/versahub/launch", token=token, json=body, timeout=120)
    assert r.status_code in (200, 202), r.text
    return r.json()


def wait_pod_running(cluster: Any, owner: str, server: str, timeout: float = 90) -> dict:
    selector = f"{SERVER_LABEL}={server_id(owner, server)}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "json")
        items = json.loads(r.stdout)["items"] if r.returncode == 0 else []
        if items and items[0]["status"].get("phase") == "Running":
            return items[0]
        time.sleep(0.5)
    raise AssertionError(f"no Running pod for {owner}/{server}")


def stop(hub: KubeHub, token: str, owner: str, server: str) -> None:
    r = hub.api("DELETE", f"/users/{owner}/servers/{server}", token=token, json={"remove": True})
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server not in hub.api("GET", f"/users/{owner}").json().get("servers", {}):
            return
        time.sleep(0.5)
    raise AssertionError(f"{owner}/{server} did not stop")


def gone(cluster: Any, owner: str, server: str, timeout: float = 60) -> list[str]:
    """What is left of ``owner/server`` in the namespace after ``timeout`` (empty: nothing)."""
    selector = f"{SERVER_LABEL}={server_id(owner, server)}"
    deadline = time.monotonic() + timeout
    left: list[str] = []
    while time.monotonic() < deadline:
        r = cluster.kubectl(
            "get", "pods,secrets,networkpolicies", "-n", NAMESPACE, "-l", selector, "-o", "name"
        )
        left = r.stdout.split()
        if not left:
            return []
        time.sleep(0.5)
    return left


def test_missing_volume_claim_refuses_at_once_and_leaves_nothing(
    hub: KubeHub, cluster: Any
) -> None:
    token = hub.user_token("carol")
    body = {"spec": {"repo": REPO, "ref": COMMIT, "server_name": "noclaim"}}
    r = hub.api("POST", "/versahub/launch", token=token, json=body, timeout=60)
    if r.status_code == 409:  # confirm the warnings, as the dialog would
        answer = r.json()
        body["confirmation"] = confirmation_hash(
            answer["spec_id"], [f["id"] for f in answer["decision"]["warn"]]
        )
        r = hub.api("POST", "/versahub/launch", token=token, json=body, timeout=60)
    assert r.status_code == 503, r.text
    assert "volume claim versahub-volumes does not exist" in r.json()["message"]
    assert gone(cluster, "carol", "noclaim", timeout=5) == []
    deadline = time.monotonic() + 15
    while "noclaim" in hub.api("GET", "/users/carol").json().get("servers", {}):
        assert time.monotonic() < deadline, "the refused server's entry stayed"
        time.sleep(0.3)


@pytest.mark.usefixtures("claim")
def test_offline_server_with_credentials_and_readonly_mount(hub: KubeHub, cluster: Any) -> None:
    token = hub.user_token("alice")
    spec = {
        "repo": REPO, "ref": COMMIT, "server_name": "course", "internet": False,
        "credentials": True, "resources": {"memory": "1G", "cpu": 1},
        "mounts": [{"volume": "teaching", "path": "/home/jovyan/teaching", "mode": "ro"}],
    }  # fmt: skip
    launch(hub, token, spec)
    pod = wait_pod_running(cluster, "alice", "course")
    name = pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]
    # the plan, as the API server stored it
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/jovyan/teaching"]["readOnly"] is True
    assert mounts["/home/jovyan/teaching"]["subPath"] == "shared/teaching"
    assert mounts["/home/jovyan"]["subPath"] == "home/alice"
    assert mounts["/home/jovyan"].get("readOnly") in (None, False)
    assert mounts["/run/secrets/versahub"]["readOnly"] is True
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1073741824"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VERSAHUB_INTERNET"] == "0"
    assert env["VERSAHUB_CREDENTIALS_FILE"] == "/run/secrets/versahub/credentials.json"
    # the server's NetworkPolicy: no way out but the hub and DNS
    policy = get(cluster, "networkpolicy", name)
    assert policy is not None
    egress = policy["spec"]["egress"]
    # the hub runs on this host (versahub up): its address, its port, and DNS — nothing else
    hub_block = {"ipBlock": {"cidr": f"{hub.hub_ip}/32"}}
    assert egress[0] == {"to": [hub_block], "ports": [{"protocol": "TCP", "port": hub.hub_port}]}
    assert [p["port"] for p in egress[1]["ports"]] == [53, 53] and len(egress) == 2
    assert policy["spec"]["ingress"][0]["from"] == [hub_block]
    # the credentials Secret holds a working hub token of alice (checked against the hub)
    secret = get(cluster, "secret", f"{name}-credentials")
    assert secret is not None
    import base64

    doc = json.loads(base64.b64decode(secret["data"]["credentials.json"]))
    who = hub.api("GET", "/user", token=doc["hub"]["token"])
    assert who.status_code == 200 and who.json()["name"] == "alice"
    stop(hub, token, "alice", "course")
    assert gone(cluster, "alice", "course") == []
    # the token died with the server
    assert hub.api("GET", "/user", token=doc["hub"]["token"]).status_code == 403


@pytest.mark.usefixtures("claim")
def test_internet_on_blocks_only_metadata(hub: KubeHub, cluster: Any) -> None:
    token = hub.user_token("bob")
    launch(hub, token, {"repo": REPO, "ref": COMMIT, "server_name": "web"})
    pod = wait_pod_running(cluster, "bob", "web")
    policy = get(cluster, "networkpolicy", pod["metadata"]["name"])
    assert policy is not None
    blocks = [p["ipBlock"] for rule in policy["spec"]["egress"] for p in rule.get("to", [])
              if "ipBlock" in p]  # fmt: skip
    assert blocks == [
        {"cidr": f"{hub.hub_ip}/32"},
        {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]},
    ]
    assert get(cluster, "secret", f"{pod['metadata']['name']}-credentials") is None
    stop(hub, token, "bob", "web")
    assert gone(cluster, "bob", "web") == []


def test_denied_spec_creates_nothing(hub: KubeHub, cluster: Any) -> None:
    token = hub.user_token("carol")
    body = {"spec": {"repo": REPO, "ref": COMMIT, "server_name": "big",
                     "resources": {"memory": "64G"}}}  # fmt: skip
    r = hub.api("POST", "/versahub/launch", token=token, json=body, timeout=60)
    assert r.status_code == 403, r.text
    r = cluster.kubectl("get", "pods,secrets,networkpolicies", "-n", NAMESPACE, "-o", "name")
    assert "carol" not in r.stdout
    assert "big" not in hub.api("GET", "/users/carol").json().get("servers", {})


@pytest.mark.usefixtures("claim")
def test_public_readonly_copy_is_a_readonly_pod_without_home_or_credentials(
    hub: KubeHub, cluster: Any
) -> None:
    import html
    import re

    import requests

    token = hub.user_token("alice")
    spec = {
        "repo": REPO, "ref": COMMIT, "server_name": "demo", "public_readonly": True,
        "mounts": [{"volume": "teaching", "path": "/home/jovyan/teaching", "mode": "ro"}],
    }  # fmt: skip
    launch(hub, token, spec)
    wait_pod_running(cluster, "alice", "demo")
    link = f"{hub.url}/hub/versahub/public/alice/demo"
    visitor = requests.Session()
    page = visitor.get(link, timeout=30)
    assert page.status_code == 200, page.text[:300]
    fields = {
        n: html.unescape(v)
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    answer = visitor.post(link, data=fields, allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:500]
    where = answer.headers["Location"]
    guest = re.fullmatch(r"/hub/spawn-pending/([^/]+)/public-alice-demo", where)
    assert guest, answer.headers["Location"]
    copy = wait_pod_running(cluster, guest.group(1), "public-alice-demo")
    assert copy["metadata"]["labels"]["versahub.org/public"] == "true"
    mounts = {m["mountPath"]: m for m in copy["spec"]["containers"][0]["volumeMounts"]}
    # every spec mount read-only, nobody's home, no credentials
    assert set(mounts) == {"/home/jovyan/teaching"}
    assert mounts["/home/jovyan/teaching"]["readOnly"] is True
    assert get(cluster, "secret", f"{copy['metadata']['name']}-credentials") is None
    assert get(cluster, "networkpolicy", copy["metadata"]["name"]) is not None
    stop(hub, hub.token, guest.group(1), "public-alice-demo")
    stop(hub, token, "alice", "demo")
    assert gone(cluster, guest.group(1), "public-alice-demo") == []
    assert gone(cluster, "alice", "demo") == []
