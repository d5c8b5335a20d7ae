"""The site's shared services and cluster plumbing: ``PolicyEngine``, ``Registry``,
``Storage`` and ``NetworkPolicies`` (ComponentResources over the pure builders of
``versahub.deploy``; ``render`` returns each one's manifests for the policy check)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from vh_objects import create_all, inherited

import pulumi
from versahub.deploy import kubernetes as kube
from versahub.deploy import kubernetes_services as services
from versahub.deploy.kubernetes_network import network_objects
from versahub.deploy.kubernetes_settings import DeploySettings

TYPE = "versahub:kubernetes"


class PolicyEngineArgs(TypedDict):
    """The policy files (relative path → text) and ``data.versahub.site``."""

    settings: DeploySettings
    namespace: str
    policies: Mapping[str, str]
    site_data: Mapping[str, Any]
    decision_log: Mapping[str, Any]  # the Secret versahub-opa: config.json, data.json


class PolicyEngine(pulumi.ComponentResource):
    """OPA serving ``policies/`` and the site data from ConfigMaps with ``--watch``:
    a changed policy or site reaches OPA without restarting it or the hub."""

    url: pulumi.Output[str]

    @staticmethod
    def render(args: PolicyEngineArgs) -> list[kube.Manifest]:
        return services.opa_objects(
            args["settings"], args["namespace"], args["policies"], args["site_data"],
            args["decision_log"],
        )  # fmt: skip

    def __init__(
        self, name: str, args: PolicyEngineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE}:PolicyEngine", name, None, opts)
        children = create_all(self.render(args), self, depends_on=inherited(opts))
        service = children["service-opa"]
        self.url = service.metadata.name.apply(lambda n: f"http://{n}:{kube.OPA_PORT}")
        self.register_outputs({"url": self.url})


class RegistryArgs(TypedDict):
    settings: DeploySettings
    namespace: str


class Registry(pulumi.ComponentResource):
    """The CNCF distribution registry: claim, Deployment, Service ``registry:5000``."""

    address: pulumi.Output[str]

    @staticmethod
    def render(args: RegistryArgs) -> list[kube.Manifest]:
        return services.registry_objects(args["settings"], args["namespace"])

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE}:Registry", name, None, opts)
        protect = args["settings"].storage.protect
        children = create_all(
            self.render(args), self, depends_on=inherited(opts), protect_storage=protect
        )
        service = children["service-registry"]
        self.address = service.metadata.name.apply(lambda n: f"{n}:{kube.REGISTRY_PORT}")
        self.register_outputs({"address": self.address})


class StorageArgs(TypedDict):
    """``volumes_claim``: the catalogue's claim (``kubernetes.volumes_claim`` of the site)."""

    settings: DeploySettings
    namespace: str
    volumes_claim: str


class Storage(pulumi.ComponentResource):
    """The volume catalogue: host-folder volumes (``storage: hostPath``) or a claim on a
    ReadWriteMany storage class (``storage: storageClass``)."""

    volumes_claim: pulumi.Output[str]
    storage_class: pulumi.Output[str]

    @staticmethod
    def render(args: StorageArgs) -> list[kube.Manifest]:
        return kube.storage_objects(args["settings"], args["namespace"], args["volumes_claim"])

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE}:Storage", name, None, opts)
        settings = args["settings"]
        children = create_all(
            self.render(args),
            self,
            depends_on=inherited(opts),
            protect_storage=settings.storage.protect,
        )
        claim = children[f"persistentvolumeclaim-{args['volumes_claim']}"]
        self.volumes_claim = claim.metadata.name
        self.storage_class = pulumi.Output.from_input(
            settings.storage.storage_class if settings.storage.kind == "storageClass" else ""
        )
        self.register_outputs(
            {
                "volumesClaim": self.volumes_claim,
                "storageClass": self.storage_class,
                "kind": settings.storage.kind,
            }
        )


class NetworkPoliciesArgs(TypedDict):
    """The in-cluster site document (its ``kubernetes`` and ``hub`` sections)."""

    site_doc: Mapping[str, Any]


class NetworkPolicies(pulumi.ComponentResource):
    """default-deny for the namespace, then one policy per allowed flow."""

    names: pulumi.Output[list[str]]

    @staticmethod
    def render(args: NetworkPoliciesArgs) -> list[kube.Manifest]:
        return network_objects(args["site_doc"])

    def __init__(
        self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE}:NetworkPolicies", name, None, opts)
        children = create_all(self.render(args), self, depends_on=inherited(opts))
        self.names = pulumi.Output.all(*[c.metadata.name for c in children.values()])
        self.register_outputs({"names": self.names})
