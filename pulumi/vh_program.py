"""The VersaHub Pulumi program: check everything, then create the site's components.

Order of one run (``pulumi preview`` and ``pulumi up`` alike):

1. the stack's config and the site file are checked (``vh_config``): a bad key stops here;
2. every component renders its manifests (pure builders) and OPA evaluates all of them
   against the deploy policies (``policies/versahub/deploy``): a violation stops here,
   listing each finding, before any resource is registered;
3. the namespace, then the components, are registered; Kubernetes objects are children of
   their component (``parent=self``).

Stack outputs: ``hubUrl``, ``adminSecret`` (the Secret with the proxy token, the cookie
secret and the demo password), ``namespace``, ``proxyAddress``, ``opaUrl``, ``components``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi_kubernetes as k8s
from vh_cluster import (
    NetworkPolicies,
    NetworkPoliciesArgs,
    PolicyEngine,
    PolicyEngineArgs,
    Registry,
    RegistryArgs,
    Storage,
    StorageArgs,
)
from vh_config import PROJECT_DIR, StackInputs, load_inputs, source_label
from vh_hub import Builder, BuilderArgs, Culler, CullerArgs, Hub, HubArgs, Proxy, ProxyArgs
from vh_objects import create

import pulumi
from versahub.app.hubconfig import render_config_file
from versahub.deploy import kubernetes as kube
from versahub.deploy.kubernetes_policy import (
    DeployPolicyError,
    check_manifests,
    format_violations,
)
from versahub.deploy.kubernetes_site import (
    REGISTRY_HOST,
    opa_site_data,
    policy_sources,
    site_yaml_text,
)
from versahub.policy.server import decision_log_config

POLICY_DIR = PROJECT_DIR / "policies"
DECISION_LOG_TOKEN = "versahub decision-log token"
DECISION_LOG_KEY = "versahub decision-log pseudonym key"


def _decision_log_values(inputs: StackInputs, hub_api: str) -> dict[str, pulumi.Output[str]]:
    """OPA's configuration (upload to ``hub_api`` with the decision-log token) and the
    pseudonym key, both derived from the stack's cookie secret."""
    master = inputs.secrets["cookieSecret"]
    return {
        "config.json": master.apply(lambda m: json.dumps(decision_log_config(
            hub_api, kube.derived_secret(m, DECISION_LOG_TOKEN)), indent=2)),
        "data.json": master.apply(
            lambda m: json.dumps({"key": kube.derived_secret(m, DECISION_LOG_KEY)})),
    }  # fmt: skip


def _admin_values(inputs: StackInputs) -> dict[str, pulumi.Output[str]]:
    values = {
        "proxy-auth-token": inputs.secrets["proxyAuthToken"],
        "cookie-secret": inputs.secrets["cookieSecret"],
        "decision-log-token": inputs.secrets["cookieSecret"].apply(
            lambda master: kube.derived_secret(master, DECISION_LOG_TOKEN)
        ),
    }
    if inputs.settings.demo_password:
        values["demo-password"] = inputs.secrets["demoPassword"]
    if inputs.settings.crypt_key:
        values["crypt-key"] = inputs.secrets["cryptKey"]
    return values


def kubernetes_provider() -> k8s.Provider:
    """The cluster's provider: the ambient kubeconfig (``KUBECONFIG``) unless the stack sets
    ``kubernetes:kubeconfig``/``kubernetes:context``; ConfigMaps updated in place, so a
    site change reaches OPA and the hub without replacing (deleting) their ConfigMaps."""
    config = pulumi.Config("kubernetes")
    return k8s.Provider(
        "kubernetes",
        kubeconfig=config.get("kubeconfig"),
        context=config.get("context"),
        enable_config_map_mutable=True,
    )


def gate(manifests: list[kube.Manifest], policy_dir: Path = POLICY_DIR) -> None:
    """Refuse the run (before anything is registered) when a deploy policy denies."""
    try:
        violations = check_manifests(manifests, policy_dir=policy_dir)
    except DeployPolicyError as err:
        raise pulumi.RunError(f"deploy policies: {err}") from None
    if violations:
        raise pulumi.RunError(format_violations(violations))


def main(project_dir: Path = PROJECT_DIR) -> None:
    inputs = load_inputs(project_dir)
    settings, cluster = inputs.settings, inputs.cluster
    doc = cluster.data
    ns = str(doc["kubernetes"]["namespace"])
    if cluster.hub_url.startswith("https://") and not settings.tls_enabled:
        pulumi.log.warn(
            f"{cluster.hub_url} is https but the proxy serves plain HTTP (no tlsSecretName or "
            "tlsCertificate): terminate TLS in front of proxy-public, or give a certificate"
        )

    culler_args = CullerArgs(cull_every=int(doc["hub"]["cull_every"]))
    network_args = NetworkPoliciesArgs(site_doc=doc)
    storage_args = StorageArgs(
        settings=settings, namespace=ns, volumes_claim=str(doc["kubernetes"]["volumes_claim"])
    )
    builder_args = BuilderArgs(
        namespace=ns, registry_host=REGISTRY_HOST if cluster.registry_enabled else None
    )
    opa_args = PolicyEngineArgs(
        settings=settings,
        namespace=ns,
        policies=policy_sources(project_dir / "policies"),
        site_data=opa_site_data(cluster),
        decision_log=_decision_log_values(
            inputs,
            f"http://{doc['kubernetes']['hub_service']}:{int(doc['hub']['internal_port'])}/hub/api",
        ),
    )
    registry_args = RegistryArgs(settings=settings, namespace=ns)
    hub_args = HubArgs(
        settings=settings,
        cluster=cluster,
        site_yaml=site_yaml_text(cluster, source_label(settings)),
        config_text=render_config_file(Path(kube.SITE_FILE)),
        culler=kube.CullerPlan(cull_every=culler_args["cull_every"]),
        admin_values=_admin_values(inputs),
    )
    proxy_args = ProxyArgs(
        settings=settings,
        namespace=ns,
        hub_service=str(doc["kubernetes"]["hub_service"]),
        hub_port=int(doc["hub"]["internal_port"]),
        tls_certificate=inputs.secrets.get("tlsCertificate"),
        tls_key=inputs.secrets.get("tlsKey"),
    )

    namespace = kube.namespace(ns)
    manifests = [
        namespace,
        *NetworkPolicies.render(network_args),
        *Storage.render(storage_args),
        *Builder.render(builder_args),
        *PolicyEngine.render(opa_args),
        *(Registry.render(registry_args) if cluster.registry_enabled else []),
        *Hub.render(hub_args),
        *Proxy.render(proxy_args),
    ]
    gate(manifests, project_dir / "policies")

    provider = kubernetes_provider()
    on = pulumi.ResourceOptions(providers={"kubernetes": provider})
    ns_resource = create(namespace, pulumi.ResourceOptions(provider=provider))
    after_ns = pulumi.ResourceOptions.merge(on, pulumi.ResourceOptions(depends_on=[ns_resource]))
    network = NetworkPolicies("network", network_args, after_ns)
    ready = pulumi.ResourceOptions.merge(
        on, pulumi.ResourceOptions(depends_on=[ns_resource, network])
    )
    storage = Storage("storage", storage_args, ready)
    culler = Culler("culler", culler_args, ready)
    builder = Builder("builder", builder_args, ready)
    opa = PolicyEngine("opa", opa_args, ready)
    hub_deps: list[pulumi.Resource] = [ns_resource, network, storage, builder, opa, culler]
    components: list[str] = ["NetworkPolicies", "Storage", "Culler", "Builder", "PolicyEngine"]
    if cluster.registry_enabled:
        registry = Registry(
            "registry",
            registry_args,
            pulumi.ResourceOptions.merge(
                on, pulumi.ResourceOptions(depends_on=[ns_resource, network, storage])
            ),
        )
        hub_deps.append(registry)
        components.append("Registry")
    hub = Hub(
        "hub",
        hub_args,
        pulumi.ResourceOptions.merge(on, pulumi.ResourceOptions(depends_on=hub_deps)),
    )
    proxy = Proxy(
        "proxy",
        proxy_args,
        pulumi.ResourceOptions.merge(
            on, pulumi.ResourceOptions(depends_on=[ns_resource, network, hub.secret_resource])
        ),
    )
    components += ["Hub", "Proxy"]

    pulumi.export("hubUrl", cluster.hub_url)
    pulumi.export("adminSecret", hub.admin_secret)
    pulumi.export("namespace", ns)
    pulumi.export("proxyAddress", proxy.address)
    pulumi.export("opaUrl", opa.url)
    pulumi.export("components", components)
