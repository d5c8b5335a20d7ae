"""The components around JupyterHub: ``Hub``, ``Proxy``, ``Builder`` and ``Culler``.

Each is a ``ComponentResource`` whose children are the manifests of
``versahub.deploy.kubernetes`` (``render`` returns them, so the program can check them
against the deploy policies before any component is created), registered with
``parent=self``. Secrets reach the cluster only as secret outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from vh_objects import create_all, inherited

import pulumi
from versahub.deploy import kubernetes as kube
from versahub.deploy import kubernetes_services as services
from versahub.deploy.kubernetes_settings import DeploySettings
from versahub.site.config import Site

TYPE = "versahub:kubernetes"


class CullerArgs(TypedDict):
    """``cull_every``: seconds between two passes (``hub.cull_every`` of the site)."""

    cull_every: int


class Culler(pulumi.ComponentResource):
    """The per-server culler (``python -m versahub.hub.culling``).

    It is a hub-managed service: JupyterHub starts it as a process of the hub container
    with a token limited to the culler's scopes, so it has no Kubernetes object of its own
    and no second copy can run. This component holds its settings and its share of the
    hub container's requests and limits (``kube.CULLER_RESOURCES``), which ``Hub`` adds.
    """

    cull_every: pulumi.Output[int]
    runs_in: pulumi.Output[str]

    def __init__(self, name: str, args: CullerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TYPE}:Culler", name, None, opts)
        self.plan = kube.CullerPlan(cull_every=int(args["cull_every"]))
        self.cull_every = pulumi.Output.from_input(self.plan.cull_every)
        self.runs_in = pulumi.Output.from_input("hub container (hub-managed service)")
        self.register_outputs(
            {
                "cullEvery": self.cull_every,
                "runsIn": self.runs_in,
                "resources": self.plan.resources.manifest(),
            }
        )


class BuilderArgs(TypedDict):
    """``registry_host``: the in-cluster registry the builder pushes to (None: no registry)."""

    namespace: str
    registry_host: str | None


class Builder(pulumi.ComponentResource):
    """How images are built in the cluster: a Docker engine (``docker:dind``) beside the hub.

    The hub's image engine (repo2docker, ``versahub.images``) talks to it over a unix socket
    in an emptyDir the two containers share. Its container is part of the hub's pod (see
    ``kube.builder_container``); this component owns its ``daemon.json``. It is the one
    privileged container of the site, the documented exception of the deploy policies.
    """

    config_map: pulumi.Output[str]

    @staticmethod
    def render(args: BuilderArgs) -> list[kube.Manifest]:
        return kube.builder_objects(args["namespace"], args["registry_host"])

    def __init__(
        self, name: str, args: BuilderArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE}:Builder", name, None, opts)
        children = create_all(self.render(args), self, depends_on=inherited(opts))
        self.config_map = children[f"configmap-{kube.BUILDER_CONFIG_MAP}"].metadata.name
        self.register_outputs({"configMap": self.config_map, "privileged": True})


class HubArgs(TypedDict):
    """The in-cluster site (``cluster``) and its text, ``jupyterhub_config.py``, the
    culler's plan and the admin secret's values (secret outputs)."""

    settings: DeploySettings
    cluster: Site
    site_yaml: str
    config_text: str
    culler: kube.CullerPlan
    admin_values: Mapping[str, pulumi.Input[str]]


class Hub(pulumi.ComponentResource):
    """JupyterHub with KubeSpawner: service account and role, the site's ConfigMap, the
    state claim, the admin secret, the Deployment (hub + builder) and the Service."""

    admin_secret: pulumi.Output[str]
    service: pulumi.Output[str]
    deployment: pulumi.Output[str]

    @staticmethod
    def render(args: HubArgs) -> list[kube.Manifest]:
        namespace = args["cluster"].data["kubernetes"]["namespace"]
        return [
            kube.admin_secret(namespace, args["admin_values"]),
            *kube.hub_objects(
                args["settings"],
                args["cluster"].data,
                args["site_yaml"],
                args["config_text"],
                args["culler"],
            ),
        ]

    def __init__(self, name: str, args: HubArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TYPE}:Hub", name, None, opts)
        manifests = self.render(args)
        protect = args["settings"].storage.protect
        secret = create_all(manifests[:1], self, depends_on=inherited(opts))
        self.secret_resource = secret[f"secret-{kube.ADMIN_SECRET}"]
        children = create_all(
            manifests[1:],
            self,
            depends_on=[*inherited(opts), self.secret_resource],
            protect_storage=protect,
        )
        service_name = args["cluster"].data["kubernetes"]["hub_service"]
        self.admin_secret = self.secret_resource.metadata.name
        self.service = children[f"service-{service_name}"].metadata.name
        self.deployment = children["deployment-hub"].metadata.name
        self.register_outputs(
            {
                "adminSecret": self.admin_secret,
                "service": self.service,
                "deployment": self.deployment,
            }
        )


class ProxyArgs(TypedDict):
    """The hub's Service and port, and the TLS certificate when the stack gives one."""

    settings: DeploySettings
    namespace: str
    hub_service: str
    hub_port: int
    tls_certificate: pulumi.Input[str] | None
    tls_key: pulumi.Input[str] | None


class Proxy(pulumi.ComponentResource):
    """configurable-http-proxy: the Deployment, ``proxy-api`` and ``proxy-public``
    (NodePort or LoadBalancer), and the TLS Secret made from ``tlsCertificate``/``tlsKey``."""

    public_service: pulumi.Output[str]
    address: pulumi.Output[str]

    @staticmethod
    def render(args: ProxyArgs) -> list[kube.Manifest]:
        settings = args["settings"]
        objs = services.proxy_objects(
            settings, args["namespace"], args["hub_service"], args["hub_port"]
        )
        if settings.tls == "certificate":
            objs.insert(
                0,
                kube.tls_secret(
                    settings.tls_secret_name,
                    args["namespace"],
                    args["tls_certificate"],
                    args["tls_key"],
                ),
            )
        return objs

    def __init__(self, name: str, args: ProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TYPE}:Proxy", name, None, opts)
        children = create_all(self.render(args), self, depends_on=inherited(opts))
        public = children["service-proxy-public"]
        self.public_service = public.metadata.name
        settings = args["settings"]
        if settings.service_type == "NodePort":
            self.address = pulumi.Output.from_input(f"node port {settings.node_port}")
        else:
            self.address = public.status.apply(_load_balancer_address)
        self.register_outputs({"publicService": self.public_service, "address": self.address})


def _load_balancer_address(status: object) -> str:
    """The first ingress address of a LoadBalancer Service's status ("" until assigned)."""
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    for entry in ingress:
        found = getattr(entry, "ip", None) or getattr(entry, "hostname", None)
        if found:
            return str(found)
    return ""
