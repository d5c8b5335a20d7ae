"""The Kubernetes manifests of a site (versahub/deploy/kubernetes*.py): pure builders, checked
field by field for the in-cluster contracts, the security context of every container, the
hub's narrow role, storage per stack, TLS, and the stack's configuration checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.deploy import kubernetes as kube
from versahub.deploy import kubernetes_services as services
from versahub.deploy.kubernetes_network import network_objects
from versahub.deploy.kubernetes_settings import (
    DeploySettings,
    declared_keys,
    resolve_values,
    stack_settings,
)
from versahub.deploy.kubernetes_site import cluster_site_document
from versahub.errors import InputError
from versahub.site.config import site_from_mapping

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "versahub:proxyAuthToken": "t" * 40,
    "versahub:cookieSecret": "ab" * 32,
    "versahub:demoPassword": "demo-pass",
}
SECRET_KEYS = frozenset(SECRETS) | {"versahub:tlsCertificate", "versahub:tlsKey"}
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def stack_file(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / f"Pulumi.{name}.yaml").read_text())["config"]


def settings_for(stack: str, extra: dict[str, Any] | None = None, *, demo: bool = True):
    given = {**stack_file(stack), **SECRETS, **(extra or {})}
    values, plain = resolve_values(declared_keys(REPO / "Pulumi.yaml"), given, SECRET_KEYS)
    return stack_settings(stack, values, plain, demo_login=demo)


LOCAL = settings_for("local")
CLOUD = settings_for("cloud", {"versahub:tlsSecretName": "hub-tls"})
SITE = site_from_mapping({"registry": {"enabled": True, "address": "127.0.0.1:5000"}})
DOC = cluster_site_document(SITE.data, LOCAL)
NS = DOC["kubernetes"]["namespace"]


def hub(settings: DeploySettings = LOCAL) -> list[dict[str, Any]]:
    return kube.hub_objects(settings, DOC, "site: {}\n", "config\n", kube.CullerPlan(60))


def everything(settings: DeploySettings) -> list[dict[str, Any]]:
    return [
        kube.namespace(NS),
        *network_objects(DOC),
        *kube.storage_objects(settings, NS, "versahub-volumes"),
        *kube.builder_objects(NS, "registry:5000"),
        *services.opa_objects(settings, NS, {"versahub/spawn/a.rego": "package a\n"}, {}),
        *services.registry_objects(settings, NS),
        kube.admin_secret(NS, {"proxy-auth-token": "x", "cookie-secret": "y"}),
        *hub(settings),
        *services.proxy_objects(settings, NS, "hub", 8081),
    ]


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def containers(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for obj in objs:
        if obj["kind"] == "Deployment":
            spec = obj["spec"]["template"]["spec"]
            for c in [*spec.get("initContainers", []), *spec["containers"]]:
                out.append((f"{obj['metadata']['name']}/{c['name']}", c))
    return out


# ---------------------------------------------------------------- the contracts


def test_services_have_the_names_and_ports_the_hub_settings_use() -> None:
    objs = everything(LOCAL)
    ports = {
        o["metadata"]["name"]: [p["port"] for p in o["spec"]["ports"]]
        for o in objs
        if o["kind"] == "Service"
    }
    assert ports == {
        "hub": [8081],
        "proxy-api": [8001],
        "proxy-public": [80],
        "opa": [8181],
        "registry": [5000],
    }
    public = find(objs, "Service", "proxy-public")
    assert public["spec"]["ports"][0]["targetPort"] == "http"
    proxy = find(objs, "Deployment", "proxy")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "http", "containerPort": 8000} in proxy["ports"]


def test_every_object_carries_the_app_and_component_labels() -> None:
    for obj in everything(LOCAL):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "versahub", obj["metadata"]["name"]
        assert labels["app.kubernetes.io/component"] in {
            "hub", "proxy", "opa", "registry", "storage", "builder", "network", "namespace"
        }  # fmt: skip
        if obj["kind"] == "Deployment":
            component = labels["app.kubernetes.io/component"]
            assert obj["spec"]["selector"]["matchLabels"] == kube.labels(component)
            assert obj["spec"]["template"]["metadata"]["labels"] == kube.labels(component)


def test_the_hub_mounts_site_config_state_and_volumes_where_its_settings_expect() -> None:
    deployment = find(hub(), "Deployment", "hub")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/etc/versahub"] == "config"
    assert mounts["/srv/versahub"] == "state"
    assert mounts["/srv/versahub/volumes"] == "volumes"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == kube.HUB_CONFIG_MAP
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == kube.HUB_STATE_CLAIM
    assert volumes["volumes"]["persistentVolumeClaim"]["claimName"] == "versahub-volumes"
    config = find(hub(), "ConfigMap", kube.HUB_CONFIG_MAP)
    assert set(config["data"]) == {"site.yaml", "jupyterhub_config.py"}
    assert container["command"] == ["jupyterhub", "--config", "/etc/versahub/jupyterhub_config.py"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CONFIGPROXY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": kube.ADMIN_SECRET, "key": "proxy-auth-token"}  # fmt: skip
    assert env["JPY_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "cookie-secret"
    assert env["VERSAHUB_DOCKER_SOCKET"]["value"] == "/var/run/dind/docker.sock"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one SQLite writer


def test_the_demo_password_is_copied_by_an_init_container_as_the_hub_user() -> None:
    pod = find(hub(), "Deployment", "hub")["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    assert "/srv/versahub/hub/demo-password" in init["command"][-1]
    assert init["securityContext"]["runAsUser"] == kube.HUB_UID
    no_demo = replace(LOCAL, demo_password=False)
    pod = find(hub(no_demo), "Deployment", "hub")["spec"]["template"]["spec"]
    assert pod["initContainers"] == []
    assert "demo-password" not in {v["name"] for v in pod["volumes"]}


def test_a_hub_settings_change_restarts_the_hub_and_a_policy_change_does_not() -> None:
    def digest(doc: dict[str, Any]) -> str:
        objs = kube.hub_objects(LOCAL, doc, "", "config\n", kube.CullerPlan(60))
        meta = find(objs, "Deployment", "hub")["spec"]["template"]["metadata"]
        return meta["annotations"]["versahub.io/hub-settings"]

    policy = {**DOC, "policy": {**DOC["policy"], "trusted_forges": ["example.org"]}}
    admins = {**DOC, "hub": {**DOC["hub"], "admin_users": ["root"]}}
    assert digest(policy) == digest(DOC)
    assert digest(admins) != digest(DOC)


# ---------------------------------------------------------------- security


@pytest.mark.parametrize("settings", [LOCAL, CLOUD], ids=["local", "cloud"])
def test_every_container_has_requests_limits_and_a_restricted_context(settings) -> None:
    seen = []
    for name, c in containers(everything(settings)):
        seen.append(name)
        for kind in ("requests", "limits"):
            assert set(c["resources"][kind]) == {"cpu", "memory"}, name
        if name == "hub/builder":
            continue
        ctx = c["securityContext"]
        assert ctx["runAsNonRoot"] is True, name
        assert ctx["allowPrivilegeEscalation"] is False, name
        assert ctx["privileged"] is False, name
        assert ctx["capabilities"] == {"drop": ["ALL"]}, name
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
    assert sorted(seen) == [
        "hub/builder", "hub/demo-password", "hub/hub", "opa/opa", "proxy/chp", "registry/registry"
    ]  # fmt: skip


def test_the_builder_is_the_one_privileged_container_and_listens_on_a_socket_only() -> None:
    builder = dict(containers(hub()))["hub/builder"]
    assert builder["securityContext"]["privileged"] is True
    assert builder["image"] == "docker:27.5.1-dind"
    assert builder["command"] == ["dind", "dockerd"]  # not the entrypoint: no TCP listener
    assert builder["args"] == ["--host=unix:///var/run/dind/docker.sock", "--group=1000"]
    assert "ports" not in builder
    storage = {v["name"]: v for v in find(hub(), "Deployment", "hub")["spec"]["template"]["spec"]
               ["volumes"]}["builder-storage"]  # fmt: skip
    assert storage == {"name": "builder-storage", "emptyDir": {"sizeLimit": "20Gi"}}
    [config] = kube.builder_objects(NS, "registry:5000")
    assert '"insecure-registries": [\n    "registry:5000"\n  ]' in config["data"]["daemon.json"]
    [no_registry] = kube.builder_objects(NS, None)
    assert "insecure-registries" not in no_registry["data"]["daemon.json"]


def test_only_the_hub_gets_an_api_token() -> None:
    for obj in everything(LOCAL):
        if obj["kind"] == "Deployment":
            mounted = obj["spec"]["template"]["spec"]["automountServiceAccountToken"]
            assert mounted is (obj["metadata"]["name"] == "hub"), obj["metadata"]["name"]


def test_the_hub_role_covers_only_its_namespace_and_the_servers_objects() -> None:
    objs = hub()
    role = find(objs, "Role", "versahub-hub")
    assert role["metadata"]["namespace"] == NS
    resources = {(g, r) for rule in role["rules"] for g in rule["apiGroups"]
                 for r in rule["resources"]}  # fmt: skip
    assert resources == {
        ("", "pods"), ("", "secrets"), ("", "persistentvolumeclaims"), ("", "events"),
        ("networking.k8s.io", "networkpolicies"),
    }  # fmt: skip
    events = next(r for r in role["rules"] if r["resources"] == ["events"])
    assert events["verbs"] == ["get", "list", "watch"]
    assert not [o for o in objs if o["kind"].startswith("Cluster")]
    binding = find(objs, "RoleBinding", "versahub-hub")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "versahub-hub", "namespace": NS}
    ]
    pod = find(objs, "Deployment", "hub")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "versahub-hub"


def test_network_policies_deny_first_and_block_the_metadata_address() -> None:
    objs = network_objects(DOC)
    deny = find(objs, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    hub_policy = find(objs, "NetworkPolicy", "hub")
    assert hub_policy["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}
    ]
    dns = find(objs, "NetworkPolicy", "allow-dns")["spec"]["egress"][0]["to"][0]
    assert dns == {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}}}  # fmt: skip
    for name in ("opa", "registry"):
        ingress = find(objs, "NetworkPolicy", name)["spec"]["ingress"]
        assert [peer for rule in ingress for peer in rule["from"]] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "hub"}}}
        ], name
    servers = find(objs, "NetworkPolicy", "singleuser-servers")["spec"]
    assert servers["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/component": "singleuser-server"}
    }
    # OPA reaches only the hub's port, for its decision log; the hub lets it in there
    hub_port = [{"protocol": "TCP", "port": 8081}]
    opa_selector = {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "opa"}}}
    assert find(objs, "NetworkPolicy", "opa")["spec"]["egress"] == [{
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "hub"}}}],
        "ports": hub_port}]  # fmt: skip
    assert {"from": [opa_selector], "ports": hub_port} in hub_policy["spec"]["ingress"]
    # servers may reach the hub and nothing more site-wide: their own policies add the rest
    assert servers["egress"] == [{
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "hub"}}}],
        "ports": [{"protocol": "TCP", "port": 8081}],
    }]  # fmt: skip


# ---------------------------------------------------------------- OPA


def test_opa_serves_configmaps_with_watch_and_a_health_probe() -> None:
    policies = {"versahub/spawn/repo.rego": "package versahub.spawn\n"}
    objs = services.opa_objects(LOCAL, NS, policies, {"caps": {}})
    assert find(objs, "ConfigMap", kube.OPA_POLICIES)["data"] == {
        "versahub.spawn.repo.rego": "package versahub.spawn\n"
    }
    assert find(objs, "ConfigMap", kube.OPA_DATA)["data"]["data.json"].startswith('{\n  "caps"')
    container = find(objs, "Deployment", "opa")["spec"]["template"]["spec"]["containers"][0]
    assert "--watch" in container["args"] and "--ignore=.*" in container["args"]
    assert "--addr=0.0.0.0:8181" in container["args"]
    assert container["args"][-2:] == ["/policies", "/data"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"policies": "/policies", "site-data": "/data/versahub/site"}
    template = find(objs, "Deployment", "opa")["spec"]["template"]["metadata"]
    assert "annotations" not in template  # a ConfigMap change must not restart OPA


def test_opa_uploads_its_decision_log_with_the_secret_when_given() -> None:
    values = {"config.json": '{"services": {}}', "data.json": '{"key": "k"}'}
    objs = services.opa_objects(LOCAL, NS, {}, {}, values)
    assert find(objs, "Secret", kube.OPA_SECRET)["stringData"] == values
    container = find(objs, "Deployment", "opa")["spec"]["template"]["spec"]["containers"][0]
    assert "--config-file=/config/config.json" in container["args"]
    assert container["args"][-2:] == ["/policies", "/data"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/config"
    assert mounts["decision-log-key"] == "/data/versahub/decision_log"  # data.versahub.decision_log
    hub = find(kube.hub_objects(LOCAL, DOC, "", "", kube.CullerPlan(60)), "Deployment", "hub")
    hub_env = {e["name"] for e in hub["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "VERSAHUB_DECISION_LOG_TOKEN" in hub_env
    assert kube.derived_secret("a" * 64, "x") != kube.derived_secret("a" * 64, "y")
    assert kube.derived_secret("a" * 64, "x") == kube.derived_secret("a" * 64, "x")


def test_two_policy_files_with_one_configmap_key_are_refused() -> None:
    with pytest.raises(ValueError, match=r"versahub\.a\.rego"):
        services.policy_config_map_data({"versahub/a.rego": "", "versahub.a.rego": ""})


# ---------------------------------------------------------------- stacks: storage, exposure, TLS


def test_local_storage_is_host_folders_bound_by_name() -> None:
    objs = kube.storage_objects(LOCAL, NS, "versahub-volumes")
    pvs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolume"}
    assert {n: pv["spec"]["hostPath"]["path"] for n, pv in pvs.items()} == {
        "versahub-volumes": "/srv/versahub/volumes",
        "versahub-hub-state": "/srv/versahub/hub",
        "versahub-registry": "/srv/versahub/registry",
    }
    assert all(pv["spec"]["hostPath"]["type"] == "Directory" for pv in pvs.values())
    claim = find(objs, "PersistentVolumeClaim", "versahub-volumes")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["volumeName"] == "versahub-volumes"
    assert claim["spec"]["storageClassName"] == ""
    state = find(hub(), "PersistentVolumeClaim", kube.HUB_STATE_CLAIM)
    assert state["spec"]["volumeName"] == "versahub-hub-state"


def test_cloud_storage_is_claims_on_storage_classes() -> None:
    [claim] = kube.storage_objects(CLOUD, NS, "versahub-volumes")
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "500Gi"}},
        "storageClassName": "nfs-client",
    }
    state = find(hub(CLOUD), "PersistentVolumeClaim", kube.HUB_STATE_CLAIM)
    assert "storageClassName" not in state["spec"]  # the cluster's default class
    assert "volumeName" not in state["spec"]
    fast = replace(CLOUD, storage=replace(CLOUD.storage, state_storage_class="ssd"))
    registry = find(services.registry_objects(fast, NS), "PersistentVolumeClaim",
                    kube.REGISTRY_CLAIM)  # fmt: skip
    assert registry["spec"]["storageClassName"] == "ssd"


def test_local_exposes_a_node_port_and_cloud_a_load_balancer_with_tls() -> None:
    local = find(services.proxy_objects(LOCAL, NS, "hub", 8081), "Service", "proxy-public")
    assert local["spec"]["type"] == "NodePort"
    assert local["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080}
    ]
    objs = services.proxy_objects(CLOUD, NS, "hub", 8081)
    cloud = find(objs, "Service", "proxy-public")
    assert cloud["spec"]["type"] == "LoadBalancer"
    assert [(p["port"], p["targetPort"]) for p in cloud["spec"]["ports"]] == [
        (443, "http"), (80, "redirect")]  # fmt: skip
    pod = find(objs, "Deployment", "proxy")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--ssl-cert=/etc/chp/tls/tls.crt" in args and "--redirect-to=443" in args
    assert pod["volumes"] == [{"name": "tls", "secret": {"secretName": "hub-tls"}}]
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_the_tls_secret_is_a_kubernetes_tls_secret() -> None:
    secret = kube.tls_secret("versahub-tls", NS, "C", "K")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"] == {"tls.crt": "C", "tls.key": "K"}


# ---------------------------------------------------------------- the in-cluster site


def test_the_cluster_site_moves_only_the_in_cluster_addresses() -> None:
    site = site_from_mapping(
        {"registry": {"enabled": True, "address": "127.0.0.1:5000"},
         "images": {"image_prefix": "127.0.0.1:5000/lab/r2d-"}, "state_dir": "/var/x"}
    )  # fmt: skip
    doc = cluster_site_document(site.data, LOCAL)
    assert doc["state_dir"] == "/srv/versahub"
    assert doc["opa"]["address"] == "opa:8181"
    assert doc["hub"]["spawner"] == "kubernetes"
    assert doc["kubernetes"]["hub_in_cluster"] is True
    assert doc["hub"]["url"] == "http://127.0.0.1:30080"
    assert doc["registry"]["address"] == "registry:5000"
    assert doc["images"]["image_prefix"] == "registry:5000/lab/r2d-"
    assert doc["policy"] == site.data["policy"] and doc["volumes"] == site.data["volumes"]
    assert site.data["opa"]["address"] == "127.0.0.1:8181"  # the operator's site untouched
    keep_url = replace(LOCAL, hub_url="")
    assert cluster_site_document(site.data, keep_url)["hub"]["url"] == site.data["hub"]["url"]


# ---------------------------------------------------------------- the stack's configuration


def test_every_declared_key_has_a_type_and_a_description() -> None:
    keys = declared_keys(REPO / "Pulumi.yaml")
    assert {"siteFile", "serviceType", "nodePort", "storage", "proxyAuthToken",
            "cookieSecret", "tlsCertificate"} <= set(keys)  # fmt: skip
    for key in keys.values():
        assert key.type in ("string", "integer", "boolean"), key.name
        assert len(key.description) > 20, key.name
        assert key.secret or key.default is not None, key.name


def test_both_stack_files_are_valid() -> None:
    assert LOCAL.service_type == "NodePort" and LOCAL.storage.kind == "hostPath"
    assert CLOUD.service_type == "LoadBalancer" and CLOUD.storage.kind == "storageClass"
    assert CLOUD.storage.storage_class == "nfs-client" and CLOUD.storage.protect is True
    assert LOCAL.images.hub == "versahub/hub:0.1.0"
    with_cert = settings_for("cloud", {"versahub:tlsCertificate": CERT, "versahub:tlsKey": KEY})
    assert with_cert.tls == "certificate" and with_cert.tls_secret_name == "versahub-tls"


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        pytest.param({"versahub:nodeport": "30080"}, "versahub:nodeport", "unknown key",
                     id="typo"),
        pytest.param({"versahub:nodePort": "8080"}, "versahub:nodePort", "not a node port",
                     id="port-range"),
        pytest.param({"versahub:nodePort": "http"}, "versahub:nodePort", "not a whole number",
                     id="port-type"),
        pytest.param({"versahub:serviceType": "Ingress"}, "versahub:serviceType", "not one of",
                     id="service-type"),
        pytest.param({"versahub:protectStorage": "yes"}, "versahub:protectStorage",
                     "not true or false", id="bool"),
        pytest.param({"versahub:storage": "storageClass"}, "versahub:storageClass", "is empty",
                     id="no-class"),
        pytest.param({"versahub:hostPath": "relative"}, "versahub:hostPath", "absolute",
                     id="relative-host-path"),
        pytest.param({"versahub:volumesSize": "lots"}, "versahub:volumesSize", "quantity",
                     id="quantity"),
        pytest.param({"versahub:opaImage": "openpolicyagent/opa:latest"}, "versahub:opaImage",
                     "not pinned", id="latest"),
        pytest.param({"versahub:proxyImage": "configurable-http-proxy"}, "versahub:proxyImage",
                     "with a tag", id="untagged"),
        pytest.param({"versahub:hubUrl": "hub.example.org"}, "versahub:hubUrl", "http(s) URL",
                     id="url"),
        pytest.param({"versahub:cookieSecret": "short"}, "versahub:cookieSecret",
                     "64 hexadecimal", id="cookie"),
        pytest.param({"versahub:proxyAuthToken": "abc"}, "versahub:proxyAuthToken",
                     "at least 32", id="token"),
        pytest.param({"versahub:proxyAuthToken": ""}, "versahub:proxyAuthToken", "is not set",
                     id="missing-token"),
        pytest.param({"versahub:tlsKey": KEY}, "versahub:tlsCertificate", "is not set",
                     id="key-without-cert"),
        pytest.param({"versahub:tlsCertificate": "x", "versahub:tlsKey": KEY},
                     "versahub:tlsCertificate", "PEM certificate", id="bad-cert"),
        pytest.param({"versahub:tlsCertificate": CERT, "versahub:tlsKey": KEY,
                      "versahub:tlsSecretName": "x"}, "versahub:tlsSecretName", "not both",
                     id="two-tls-sources"),
    ],
)  # fmt: skip
def test_a_bad_key_is_refused_naming_it(extra: dict, key: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        settings_for("local", extra)
    assert err.value.field == key
    assert reason in err.value.reason
    for secret in SECRETS.values():
        assert secret not in str(err.value)  # a secret never shows in a message


def test_a_secret_set_in_plain_text_is_refused() -> None:
    given = {**stack_file("local"), **SECRETS}
    declared = declared_keys(REPO / "Pulumi.yaml")
    with pytest.raises(InputError) as err:
        resolve_values(declared, given, frozenset({"versahub:proxyAuthToken"}))
    assert err.value.field == "versahub:cookieSecret"
    assert "pulumi config set --secret versahub:cookieSecret" in err.value.reason


def test_the_demo_password_is_required_only_with_the_demo_login() -> None:
    given = {**stack_file("local"), **SECRETS, "versahub:demoPassword": ""}
    values, plain = resolve_values(declared_keys(REPO / "Pulumi.yaml"), given, SECRET_KEYS)
    with pytest.raises(InputError, match="versahub:demoPassword: is not set"):
        stack_settings("local", values, plain, demo_login=True)
    assert stack_settings("local", values, plain, demo_login=False).demo_password is False


def test_an_lti_site_needs_the_crypt_key_and_the_hub_gets_it() -> None:
    declared = declared_keys(REPO / "Pulumi.yaml")
    keys = SECRET_KEYS | {"versahub:cryptKey"}
    values, plain = resolve_values(declared, {**stack_file("local"), **SECRETS}, keys)
    with pytest.raises(InputError, match="versahub:cryptKey: is not set"):
        stack_settings("local", values, plain, demo_login=True, lti_login=True)
    given = {**stack_file("local"), **SECRETS, "versahub:cryptKey": "not hex"}
    values, plain = resolve_values(declared, given, keys)
    with pytest.raises(InputError, match="versahub:cryptKey: must be 64 hexadecimal"):
        stack_settings("local", values, plain, demo_login=True, lti_login=True)
    given = {**stack_file("local"), **SECRETS, "versahub:cryptKey": "cd" * 32}
    values, plain = resolve_values(declared, given, keys)
    lti = stack_settings("local", values, plain, demo_login=True, lti_login=True)
    assert lti.crypt_key is True

    def crypt_env(settings: Any) -> list[dict[str, Any]]:
        objs = kube.hub_objects(settings, DOC, "site: {}\n", "config\n", kube.CullerPlan(60))
        (dep,) = [o for o in objs if o["kind"] == "Deployment"]
        hub = dep["spec"]["template"]["spec"]["containers"][0]
        return [e for e in hub["env"] if e["name"] == "JUPYTERHUB_CRYPT_KEY"]

    assert crypt_env(lti) == [{"name": "JUPYTERHUB_CRYPT_KEY", "valueFrom": {
        "secretKeyRef": {"name": kube.ADMIN_SECRET, "key": "crypt-key"}}}]  # fmt: skip
    assert crypt_env(LOCAL) == []


def test_other_providers_keys_are_left_alone() -> None:
    extra = {"kubernetes:context": "kind-kind", "versahub:nodePort": 30081}
    assert settings_for("local", extra).node_port == 30081


def test_the_hub_image_is_the_dockerfile_of_this_version() -> None:
    from versahub import __version__

    dockerfile = (REPO / "deploy" / "kubernetes" / "hub.Dockerfile").read_text()
    assert f"-t versahub/hub:{__version__} ." in dockerfile
    assert "USER 1000:1000" in dockerfile and f"uid {kube.HUB_UID}" in dockerfile
    assert '"--config", "/etc/versahub/jupyterhub_config.py"' in dockerfile
    assert LOCAL.images.hub == f"versahub/hub:{__version__}"
