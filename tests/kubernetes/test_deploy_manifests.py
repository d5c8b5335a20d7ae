"""Every manifest the Pulumi program renders, for both stacks, is accepted by the real API
server (``kubectl apply --dry-run=server``: validation, defaulting, admission) and passes the
deploy policies through the real OPA; a manifest that breaks a deploy policy is refused,
naming the object and the field, and stops the program before anything is registered."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers: --import-mode=importlib
from k8s_support import Cluster
from pulumi_support import CERT, KEY, REPO_ROOT, render_program, site_document

from versahub.deploy.kubernetes_policy import check_manifests

pulumi = pytest.importorskip("pulumi")

STACKS = {
    "local": {"versahub:hubUrl": "http://127.0.0.1:30080"},
    "cloud": {
        "versahub:tlsCertificate": CERT,
        "versahub:tlsKey": KEY,
        "versahub:stateStorageClass": "standard",
    },
}


def rendered(stack: str, namespace: str, tmp_path: Path) -> list[dict[str, Any]]:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(site_document(namespace)))
    stack_file = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    config = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in
              stack_file.items()}  # fmt: skip
    config.update(STACKS[stack], **{"versahub:siteFile": str(site)})
    return render_program(REPO_ROOT, stack, config)


def dry_run(cluster: Cluster, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``kubectl apply --dry-run=server`` of all manifests at once; the objects as the API
    server would store them."""
    doc = {"apiVersion": "v1", "kind": "List", "items": manifests}
    proc = cluster.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-",
                           input=json.dumps(doc))  # fmt: skip
    assert proc.returncode == 0, f"the API server refused:\n{proc.stderr}"
    answer = json.loads(proc.stdout)
    return answer["items"] if answer.get("kind") == "List" else [answer]


@pytest.mark.parametrize("stack", ["local", "cloud"])
def test_every_rendered_manifest_is_admitted_and_allowed(
    cluster: Cluster, stack: str, tmp_path: Path
) -> None:
    namespace = cluster.namespace(prefix=f"deploy-{stack}")
    manifests = rendered(stack, namespace, tmp_path)
    kinds = {m["kind"] for m in manifests}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "Secret", "NetworkPolicy",
            "PersistentVolumeClaim", "ServiceAccount", "Role", "RoleBinding"} <= kinds  # fmt: skip
    assert check_manifests(manifests) == []
    stored = dry_run(cluster, manifests)
    assert len(stored) == len(manifests)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in stored}
    # the server filled in its defaults and kept ours
    hub = by_name[("Deployment", "hub")]["spec"]["template"]["spec"]
    assert hub["containers"][1]["securityContext"]["privileged"] is True
    assert hub["containers"][0]["securityContext"]["runAsNonRoot"] is True
    assert hub["containers"][0]["terminationMessagePath"] == "/dev/termination-log"  # defaulted
    public = by_name[("Service", "proxy-public")]["spec"]
    if stack == "local":
        assert public["type"] == "NodePort" and public["ports"][0]["nodePort"] == 30080
        assert ("PersistentVolume", f"{namespace}-volumes") in by_name
    else:
        assert public["type"] == "LoadBalancer"
        assert by_name[("Secret", "versahub-tls")]["type"] == "kubernetes.io/tls"
    # dry run: nothing was stored
    assert cluster.kubectl("get", "deployment", "hub", "-n", namespace).returncode != 0
    cluster.delete_namespace(namespace)


def _violating(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The proxy made privileged, unlimited and unpinned; a host folder in OPA's pod."""
    bad = copy.deepcopy(manifests)
    for obj in bad:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "proxy":
            container = obj["spec"]["template"]["spec"]["containers"][0]
            # (the API server itself refuses privileged without privilege escalation)
            container["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
            container["image"] = "quay.io/jupyterhub/configurable-http-proxy:latest"
            del container["resources"]["limits"]
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "opa":
            obj["spec"]["template"]["spec"]["volumes"].append(
                {"name": "host", "hostPath": {"path": "/var/run"}}
            )
    return [o for o in bad if not (o["kind"] == "NetworkPolicy"
                                   and o["metadata"]["name"] == "default-deny")]  # fmt: skip


def test_a_violating_manifest_is_refused_naming_object_and_field(
    cluster: Cluster, tmp_path: Path
) -> None:
    namespace = cluster.namespace(prefix="deploy-bad")
    manifests = rendered("local", namespace, tmp_path)
    found = {(v.id, v.message) for v in check_manifests(_violating(manifests))}
    field = "spec.template.spec.containers[0] (chp)"
    (opa,) = [o for o in manifests if o["kind"] == "Deployment" and o["metadata"]["name"] == "opa"]
    host = len(opa["spec"]["template"]["spec"]["volumes"])  # the added one is the last
    assert found == {
        ("deploy-privileged", f"Deployment {namespace}/proxy: {field} has "
         "securityContext.privileged: true; only the documented image builder (container "
         "builder of Deployment hub, image docker:<version>-dind) may be privileged."),
        ("deploy-limits", f"Deployment {namespace}/proxy: {field} has no resources.limits.cpu."),
        ("deploy-limits",
         f"Deployment {namespace}/proxy: {field} has no resources.limits.memory."),
        ("deploy-image-tag", f"Deployment {namespace}/proxy: {field} image "
         "\"quay.io/jupyterhub/configurable-http-proxy:latest\" is not pinned to a version tag "
         "(none, or latest)."),
        ("deploy-host-path", f"Deployment {namespace}/opa: spec.template.spec.volumes[{host}] "
         "(host) mounts the host folder /var/run."),
        ("deploy-default-deny", f"Namespace {namespace} has no default-deny NetworkPolicy "
         "(spec.podSelector {}, spec.policyTypes [Ingress, Egress], no rules)."),
    }  # fmt: skip
    # the API server alone would have admitted it: only the policies stand in the way
    dry_run(cluster, _violating(manifests))
    cluster.delete_namespace(namespace)


def test_the_program_stops_at_the_gate_before_registering_anything(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from versahub.deploy import kubernetes_services

    real = kubernetes_services.proxy_objects

    def privileged_proxy(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        objs = real(*args, **kwargs)
        objs[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"][
            "privileged"] = True  # fmt: skip
        return objs

    monkeypatch.setattr(kubernetes_services, "proxy_objects", privileged_proxy)
    with pytest.raises(pulumi.RunError) as err:
        rendered("local", "vh-never", tmp_path)
    assert str(err.value).startswith("the deploy policies refuse these manifests:\n")
    assert "[deploy-privileged] Deployment vh-never/proxy" in str(err.value)
    assert cluster.kubectl("get", "namespace", "vh-never").returncode != 0
