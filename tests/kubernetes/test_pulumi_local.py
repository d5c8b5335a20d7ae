"""``pulumi up`` of the local stack against the local control plane, with the real CLI, the
Python language host and the kubernetes provider, offline (file:// backend, passphrase).

In order: a configuration error and a deploy-policy violation stop ``preview``/``up`` before
anything reaches the cluster; ``up`` creates every component's objects with the expected
properties (read back with kubectl) and waits for the Deployments (kwok makes their pods
Ready; no container runs); a second ``up`` changes nothing; a policy change in site.yaml
updates only ConfigMaps (OPA and the hub reload it, no pod restarts); ``destroy`` removes it
all. The times of ``up`` and ``destroy`` are printed (``-s``) for docs/deploy-kubernetes.md.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers: --import-mode=importlib
from k8s_support import NODE, Cluster, run_pulumi, wait_until
from pulumi_support import (
    COOKIE_SECRET,
    DEMO_PASSWORD,
    PROXY_TOKEN,
    Project,
    copy_project,
)

COMPONENTS = ("Hub", "Proxy", "PolicyEngine", "Registry", "Builder", "Storage",
              "NetworkPolicies", "Culler")  # fmt: skip


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, pulumi_env: dict[str, str]
) -> Iterator[Project]:
    """A copy of the project with its own stack (secrets set as secrets) and namespace;
    destroyed and removed at the end whatever the tests did."""
    proj = copy_project(tmp_path_factory.mktemp("pulumi-local") / "project")
    run_pulumi(pulumi_env, "stack", "init", proj.stack, cwd=proj.dir)
    for key, value in (("proxyAuthToken", PROXY_TOKEN), ("cookieSecret", COOKIE_SECRET),
                       ("demoPassword", DEMO_PASSWORD)):  # fmt: skip
        run_pulumi(pulumi_env, "config", "set", "--secret", f"versahub:{key}", value,
                   cwd=proj.dir)  # fmt: skip
    yield proj
    run_pulumi(pulumi_env, "destroy", "--yes", "--skip-preview", cwd=proj.dir, check=False)
    run_pulumi(pulumi_env, "stack", "rm", "--yes", "--force", proj.stack, cwd=proj.dir,
               check=False)  # fmt: skip


def pulumi(env: dict[str, str], project: Project, *args: str, check: bool = True):
    return run_pulumi(env, *args, "--stack", project.stack, cwd=project.dir, check=check)


def get(cluster: Cluster, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    args = ["get", kind, name] + (["-n", namespace] if namespace else [])
    return cluster.kubectl_json(*args)


def exists(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> bool:
    args = ["get", kind, name] + (["-n", namespace] if namespace else [])
    return cluster.kubectl(*args).returncode == 0


def refused(env: dict[str, str], project: Project, message: str) -> None:
    """``preview`` and ``up`` both stop with ``message``, no traceback, nothing created."""
    for command in (["preview"], ["up", "--yes", "--skip-preview"]):
        proc = pulumi(env, project, *command, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        assert message in out, out
        assert "Traceback" not in out, out


def test_a_config_error_fails_with_its_key_before_apply(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project
) -> None:
    # checked by the program (versahub/deploy/kubernetes_settings.py)
    for key, value, message in [
        ("versahub:nodePort", "80", "versahub:nodePort: 80 is not a node port (30000-32767)"),
        ("versahub:nodeport", "30080", "versahub:nodeport: unknown key"),
        ("versahub:storage", "nfs", "versahub:storage: 'nfs' is not one of: hostPath, "
         "storageClass"),
        ("versahub:builderImage", "docker:latest", "versahub:builderImage: 'docker:latest' "
         "is not pinned"),
    ]:  # fmt: skip
        pulumi(pulumi_env, project, "config", "set", key, value)
        refused(pulumi_env, project, f"configuration error: {message}")
        pulumi(pulumi_env, project, "config", "rm", key)
    # an optional secret set in plain text (the program), a declared one (the CLI)
    pulumi(pulumi_env, project, "config", "set", "--plaintext", "versahub:demoPassword", "pw")
    refused(pulumi_env, project, "configuration error: versahub:demoPassword: must be a "
            "secret: pulumi config set --secret versahub:demoPassword <value>")  # fmt: skip
    pulumi(pulumi_env, project, "config", "set", "--secret", "versahub:demoPassword",
           DEMO_PASSWORD)  # fmt: skip
    pulumi(pulumi_env, project, "config", "set", "--plaintext", "versahub:cookieSecret",
           COOKIE_SECRET)  # fmt: skip
    refused(pulumi_env, project, "configuration key 'versahub:cookieSecret' must be encrypted")
    pulumi(pulumi_env, project, "config", "set", "--secret", "versahub:cookieSecret",
           COOKIE_SECRET)  # fmt: skip
    # types declared in Pulumi.yaml are checked by the CLI itself
    pulumi(pulumi_env, project, "config", "set", "versahub:nodePort", "http")
    refused(pulumi_env, project, "configuration key 'versahub:nodePort' must be of type 'integer'")
    pulumi(pulumi_env, project, "config", "set", "versahub:nodePort", str(project.node_port))
    assert not exists(cluster, "namespace", project.namespace)
    assert kubernetes_resources(pulumi_env, project) == []


def kubernetes_resources(env: dict[str, str], project: Project) -> list[str]:
    """The Kubernetes objects in the stack's state (a failed run may leave the root stack)."""
    state = json.loads(pulumi(env, project, "stack", "export").stdout)
    resources = state["deployment"].get("resources") or []
    return [r["urn"] for r in resources if r["type"].startswith("kubernetes:")]


def test_a_policy_violation_fails_before_apply(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project, tmp_path: Path
) -> None:
    """The program as shipped, with the proxy's builder changed to make it privileged,
    unlimited and unpinned (what a careless edit of the builders would do)."""
    main = project.dir / "pulumi" / "__main__.py"
    original = main.read_text()
    main.write_text(
        "import versahub.deploy.kubernetes_services as services\n"
        "_real = services.proxy_objects\n"
        "def _bad(*args, **kwargs):\n"
        "    objs = _real(*args, **kwargs)\n"
        "    c = objs[0]['spec']['template']['spec']['containers'][0]\n"
        "    c['securityContext']['privileged'] = True\n"
        "    c['image'] = 'quay.io/jupyterhub/configurable-http-proxy:latest'\n"
        "    del c['resources']['limits']\n"
        "    return objs\n"
        "services.proxy_objects = _bad\n" + original
    )
    try:
        proc = pulumi(pulumi_env, project, "up", "--yes", check=False)
    finally:
        main.write_text(original)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "the deploy policies refuse these manifests" in out, out
    assert f"[deploy-privileged] Deployment {project.namespace}/proxy" in out
    assert "[deploy-limits]" in out and "[deploy-image-tag]" in out
    assert not exists(cluster, "namespace", project.namespace)
    assert kubernetes_resources(pulumi_env, project) == []


def test_up_creates_every_component(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project
) -> None:
    t0 = time.monotonic()
    pulumi(pulumi_env, project, "up", "--yes", "--skip-preview")
    print(f"\npulumi up (local stack, from nothing): {time.monotonic() - t0:.1f} s")
    ns = project.namespace

    outputs = json.loads(pulumi(pulumi_env, project, "stack", "output", "--json").stdout)
    assert outputs["hubUrl"] == f"http://127.0.0.1:{project.node_port}"
    assert outputs["adminSecret"] == "versahub-hub"
    assert outputs["namespace"] == ns
    assert set(outputs["components"]) == set(COMPONENTS)

    state = json.loads(pulumi(pulumi_env, project, "stack", "export").stdout)
    types = {r["type"] for r in state["deployment"]["resources"]}
    assert {f"versahub:kubernetes:{c}" for c in COMPONENTS} <= types
    admin = next(r for r in state["deployment"]["resources"]
                 if r["type"] == "kubernetes:core/v1:Secret")  # fmt: skip
    assert PROXY_TOKEN not in json.dumps(admin)  # encrypted in the state

    # Deployments: available, pods Running on the simulated node, restricted containers
    for name in ("hub", "proxy", "opa", "registry"):
        dep = get(cluster, "deployment", name, ns)
        assert dep["status"].get("availableReplicas") == 1, (name, dep["status"])
    pods = cluster.kubectl_json("get", "pods", "-n", ns)["items"]
    assert len(pods) == 4
    for pod in pods:
        assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == NODE
        for c in pod["spec"]["containers"]:
            assert c["resources"]["limits"].keys() >= {"cpu", "memory"}
            if c["name"] != "builder":
                assert c["securityContext"]["runAsNonRoot"] is True
                assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}

    # Services: the in-cluster names and ports, the node port
    ports = {name: [p["port"] for p in get(cluster, "service", name, ns)["spec"]["ports"]]
             for name in ("hub", "proxy-api", "proxy-public", "opa", "registry")}  # fmt: skip
    assert ports == {"hub": [8081], "proxy-api": [8001], "proxy-public": [80], "opa": [8181],
                     "registry": [5000]}  # fmt: skip
    public = get(cluster, "service", "proxy-public", ns)["spec"]
    assert public["type"] == "NodePort" and public["ports"][0]["nodePort"] == project.node_port

    # Storage: host-folder volumes bound to their claims
    for claim, volume in (("versahub-volumes", f"{ns}-volumes"),
                          ("versahub-hub-state", f"{ns}-hub-state"),
                          ("versahub-registry", f"{ns}-registry")):  # fmt: skip
        pvc = get(cluster, "pvc", claim, ns)
        assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["volumeName"] == volume
        pv = get(cluster, "pv", volume, None)
        assert pv["spec"]["hostPath"]["path"].startswith(str(project.dir / "node"))
    assert get(cluster, "pvc", "versahub-volumes", ns)["spec"]["accessModes"] == ["ReadWriteMany"]

    # the site the hub reads, the admin secret, the hub's narrow role
    site = yaml.safe_load(get(cluster, "configmap", "versahub-hub", ns)["data"]["site.yaml"])
    assert site["opa"]["address"] == "opa:8181" and site["state_dir"] == "/srv/versahub"
    assert site["hub"]["spawner"] == "kubernetes" and site["kubernetes"]["namespace"] == ns
    secret = get(cluster, "secret", "versahub-hub", ns)["data"]
    assert base64.b64decode(secret["proxy-auth-token"]).decode() == PROXY_TOKEN
    assert base64.b64decode(secret["demo-password"]).decode() == DEMO_PASSWORD
    # OPA uploads its decision log to the hub with a token derived from the cookie secret
    token = base64.b64decode(secret["decision-log-token"]).decode()
    opa_secret = get(cluster, "secret", "versahub-opa", ns)["data"]
    opa_config = json.loads(base64.b64decode(opa_secret["config.json"]))
    assert opa_config["services"]["hub"]["url"] == "http://hub:8081/hub/api/versahub/decision-log"
    assert opa_config["services"]["hub"]["credentials"]["bearer"]["token"] == token
    assert opa_config["decision_logs"]["mask_decision"] == "/system/log/mask"
    key = json.loads(base64.b64decode(opa_secret["data.json"]))["key"]
    assert len(token) == len(key) == 64 and token != key and COOKIE_SECRET not in (token, key)
    opa_pod = get(cluster, "deployment", "opa", ns)["spec"]["template"]["spec"]
    assert "--config-file=/config/config.json" in opa_pod["containers"][0]["args"]
    hub_env = {e["name"]: e for e in get(cluster, "deployment", "hub", ns)["spec"]["template"]
               ["spec"]["containers"][0]["env"]}  # fmt: skip
    assert hub_env["VERSAHUB_DECISION_LOG_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "versahub-hub", "key": "decision-log-token"}  # fmt: skip
    rules = get(cluster, "role", "versahub-hub", ns)["rules"]
    assert {r for rule in rules for r in rule["resources"]} == {
        "pods", "secrets", "persistentvolumeclaims", "events", "networkpolicies"}  # fmt: skip
    can = cluster.kubectl("auth", "can-i", "create", "pods", "-n", ns,
                          f"--as=system:serviceaccount:{ns}:versahub-hub")  # fmt: skip
    assert can.stdout.strip() == "yes"
    cannot = cluster.kubectl("auth", "can-i", "create", "deployments", "-n", ns,
                             f"--as=system:serviceaccount:{ns}:versahub-hub")  # fmt: skip
    assert cannot.stdout.strip() == "no"
    elsewhere = cluster.kubectl("auth", "can-i", "list", "pods", "-n", "kube-system",
                                f"--as=system:serviceaccount:{ns}:versahub-hub")  # fmt: skip
    assert elsewhere.stdout.strip() == "no"

    # OPA's policies and data, the network policies
    policies = get(cluster, "configmap", "versahub-opa-policies", ns)["data"]
    assert "versahub.spawn.decision.rego" in policies and "system.log.mask.rego" in policies
    assert not [k for k in policies if k.endswith("_test.rego")]
    names = {p["metadata"]["name"] for p in
             cluster.kubectl_json("get", "networkpolicy", "-n", ns)["items"]}  # fmt: skip
    assert names == {"default-deny", "allow-dns", "proxy", "hub", "opa", "registry",
                     "singleuser-servers"}  # fmt: skip


def test_a_second_up_changes_nothing(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project
) -> None:
    pulumi(pulumi_env, project, "preview", "--expect-no-changes")
    t0 = time.monotonic()
    pulumi(pulumi_env, project, "up", "--yes", "--expect-no-changes")
    print(f"\npulumi up (no changes): {time.monotonic() - t0:.1f} s")


def test_a_policy_change_updates_configmaps_only(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project
) -> None:
    ns = project.namespace
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in
              cluster.kubectl_json("get", "pods", "-n", ns)["items"]}  # fmt: skip
    doc = yaml.safe_load(project.site_file.read_text())
    doc["policy"]["trusted_forges"] = [*doc["policy"]["trusted_forges"], "codeberg.org"]
    project.site_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    preview = json.loads(pulumi(pulumi_env, project, "preview", "--json").stdout)
    changed = {s["urn"].split("::")[-1] for s in preview["steps"] if s["op"] != "same"}
    assert changed == {"configmap-versahub-opa-data", "configmap-versahub-hub"}, changed
    pulumi(pulumi_env, project, "up", "--yes", "--skip-preview")
    data = json.loads(get(cluster, "configmap", "versahub-opa-data", ns)["data"]["data.json"])
    assert "codeberg.org" in data["trusted_forges"]
    after = {p["metadata"]["name"]: p["metadata"]["uid"] for p in
             cluster.kubectl_json("get", "pods", "-n", ns)["items"]}  # fmt: skip
    assert after == before  # no pod was restarted: OPA (--watch) and the hub re-read the files


def test_destroy_removes_everything(
    cluster: Cluster, pulumi_env: dict[str, str], project: Project
) -> None:
    ns = project.namespace
    t0 = time.monotonic()
    pulumi(pulumi_env, project, "destroy", "--yes", "--skip-preview")
    print(f"\npulumi destroy (local stack): {time.monotonic() - t0:.1f} s")
    wait_until(lambda: not exists(cluster, "namespace", ns), f"namespace {ns} gone", timeout=120)
    for volume in ("volumes", "hub-state", "registry"):
        assert not exists(cluster, "pv", f"{ns}-{volume}")
    assert kubernetes_resources(pulumi_env, project) == []
