"""Render a :class:`~versahub.launch.plan.RuntimePlan` for KubeSpawner 7 (pure).

The Kubernetes twin of ``docker.py``: the same plan, translated into

- ``kube_traits(plan, settings, pod_name)``: KubeSpawner trait values (image, volumes and
  mounts of the site's volume claim, read-only where the plan says so, environment, limits
  and guarantees, non-root user, security contexts, labels, annotations, command);
- ``network_policy(plan, settings, pod_name)``: the server's own NetworkPolicy — ingress only
  from the proxy and the hub, egress to the hub and the cluster DNS, and, when internet is
  on, anywhere except the cloud metadata range; the metadata range is never reachable;
- ``credentials_secret(plan, settings, pod_name, document)``: the Secret holding the
  credentials file the plan mounts (the only place a token appears; never printed).

Host folders become ``subPath``\\ s of one ReadWriteMany claim (``kubernetes.volumes_claim``)
with the same layout as on Docker (``volumes/home/<owner>``, ``volumes/<kind>/<volume>``), so
the policy's view of a mount — volume, path, mode — is the same on both backends. Nothing
here talks to the API server; ``versahub.hub.kubespawner`` does.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from versahub.hub.docker import START_COMMAND
from versahub.launch.plan import Layout, RuntimePlan

LABEL_DOMAIN = "versahub.org"
SERVER_LABEL = f"{LABEL_DOMAIN}/server-id"
VOLUMES = "versahub-volumes"
CREDENTIALS = "versahub-credentials"
# what a server may use at least: a tenth of its limit, as z2jh's guarantees usually are
GUARANTEE_FRACTION = 0.1
HUB_COMPONENT = "hub"
PROXY_COMPONENT = "proxy"


@dataclass(frozen=True)
class KubeSettings:
    """The site's ``kubernetes:`` section and the hub's port, as the renderer needs them."""

    namespace: str = "versahub"
    volumes_claim: str = "versahub-volumes"
    hub_service: str = "hub"
    hub_port: int = 8081
    dns_namespace: str = "kube-system"
    metadata_cidr: str = "169.254.169.254/32"
    pull_policy: str = "IfNotPresent"
    server_port: int = 8888
    # where the hub (and its proxy) run: in a pod of the cluster, or on a host at hub_ip
    hub_in_cluster: bool = True
    hub_ip: str = "172.17.0.1"

    @classmethod
    def from_site(cls, site: Any) -> KubeSettings:
        data: Mapping[str, Any] = site.data if hasattr(site, "data") else site
        k8s = data.get("kubernetes", {})
        return cls(
            namespace=str(k8s.get("namespace", cls.namespace)),
            volumes_claim=str(k8s.get("volumes_claim", cls.volumes_claim)),
            hub_service=str(k8s.get("hub_service", cls.hub_service)),
            hub_port=int(data.get("hub", {}).get("internal_port", cls.hub_port)),
            dns_namespace=str(k8s.get("dns_namespace", cls.dns_namespace)),
            metadata_cidr=str(k8s.get("metadata_cidr", cls.metadata_cidr)),
            pull_policy=str(k8s.get("pull_policy", cls.pull_policy)),
            hub_in_cluster=bool(k8s.get("hub_in_cluster", cls.hub_in_cluster)),
            hub_ip=str(data.get("hub", {}).get("internal_ip", cls.hub_ip)),
        )

    @property
    def hub_url(self) -> str:
        """How servers reach the hub: its Service, or the host's ``hub.internal_ip``."""
        host = self.hub_service if self.hub_in_cluster else self.hub_ip
        return f"http://{host}:{self.hub_port}"

    def layout(self, state_dir: str, user_id: int = 1000) -> Layout:
        """The plan's layout on Kubernetes: host folders are paths inside the claim."""
        return Layout(
            state_dir=state_dir,
            user_id=user_id,
            internet_network="internet",
            offline_network="offline",
            hub_connect_url=self.hub_url,
        )


def server_id(owner: str, server_name: str) -> str:
    """A label value naming one server (owner/name) in 16 hex digits."""
    return hashlib.sha256(f"{owner}/{server_name}".encode()).hexdigest()[:16]


def sub_path(source: str, volumes_dir: str) -> str:
    """``source`` (a host folder of the plan) inside the claim: ``home/alice``, ``shared/x``."""
    rel = posixpath.relpath(source, volumes_dir)
    if rel.startswith("..") or posixpath.isabs(rel):
        raise ValueError(f"mount source {source!r} is outside the volume catalogue")
    return rel


def kube_labels(plan: RuntimePlan) -> dict[str, str]:
    """Label values are restricted (63 characters of ``[A-Za-z0-9._-]``): the server is named
    by a hash, booleans as words; owner, server and spec id go into annotations."""
    return {
        SERVER_LABEL: server_id(plan.owner, plan.server_name),
        f"{LABEL_DOMAIN}/internet": "true" if plan.internet else "false",
        f"{LABEL_DOMAIN}/public": "true" if plan.ephemeral else "false",
    }


def kube_annotations(plan: RuntimePlan) -> dict[str, str]:
    return {
        f"{LABEL_DOMAIN}/owner": plan.owner,
        f"{LABEL_DOMAIN}/server": plan.server_name,
        f"{LABEL_DOMAIN}/spec-id": plan.spec_id,
    }


def secret_name(pod_name: str) -> str:
    return f"{pod_name}-credentials"[:253]


def kube_traits(
    plan: RuntimePlan, settings: KubeSettings, pod_name: str, *, volumes_dir: str
) -> dict[str, Any]:
    """KubeSpawner trait values for ``plan`` (golden-tested next to ``docker_traits``);
    ``volumes_dir`` is the layout's volume catalogue, the root of the volume claim."""
    volumes: dict[str, dict[str, Any]] = {}
    mounts: dict[str, dict[str, Any]] = {}
    if plan.mounts:
        volumes[VOLUMES] = {
            "name": VOLUMES,
            "persistentVolumeClaim": {"claimName": settings.volumes_claim},
        }
    for i, mount in enumerate(plan.mounts):
        mounts[f"{i:02d}-{mount.target}"] = {
            "name": VOLUMES,
            "mountPath": mount.target,
            "subPath": sub_path(mount.source, volumes_dir),
            "readOnly": mount.read_only,
        }
    if plan.credentials is not None:
        volumes[CREDENTIALS] = {
            "name": CREDENTIALS,
            "secret": {"secretName": secret_name(pod_name), "defaultMode": 0o440},
        }
        mounts["zz-credentials"] = {
            "name": CREDENTIALS,
            "mountPath": plan.credentials.mount,
            "readOnly": True,
        }
    memory = plan.limits.memory_bytes
    cpu = plan.limits.cpu
    return {
        "image": plan.image,
        "image_pull_policy": settings.pull_policy,
        "volumes": volumes,
        "volume_mounts": mounts,
        "mem_limit": memory,
        "mem_guarantee": None if memory is None else int(memory * GUARANTEE_FRACTION),
        "cpu_limit": cpu,
        "cpu_guarantee": None if cpu is None else round(cpu * GUARANTEE_FRACTION, 3),
        "uid": 1000,
        "gid": 100,
        "fs_gid": 100,
        "privileged": False,
        "allow_privilege_escalation": False,
        "container_security_context": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "pod_security_context": {"seccompProfile": {"type": "RuntimeDefault"}},
        # servers never talk to the API server
        "automount_service_account_token": False,
        "extra_labels": kube_labels(plan),
        "extra_annotations": kube_annotations(plan),
        "environment": dict(plan.environment),
        "working_dir": plan.root_dir,
        "notebook_dir": plan.root_dir,
        "default_url": "/" + plan.default_url.lstrip("/"),
        "cmd": list(START_COMMAND),
        "port": settings.server_port,
    }


def network_policy(plan: RuntimePlan, settings: KubeSettings, pod_name: str) -> dict[str, Any]:
    """The server's NetworkPolicy (both directions) for ``plan``."""

    def peer(component: str) -> dict[str, Any]:  # a fresh dict each time: no YAML aliases
        if not settings.hub_in_cluster:  # hub and proxy on a host, outside the cluster
            return {"ipBlock": {"cidr": f"{settings.hub_ip}/32"}}
        return {"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}

    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": settings.dns_namespace}
                }
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    egress: list[dict[str, Any]] = [
        {"to": [peer(HUB_COMPONENT)], "ports": [{"protocol": "TCP", "port": settings.hub_port}]},
        dns,
    ]
    if plan.internet:
        egress.append(
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [settings.metadata_cidr]}}]}
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": pod_name,
            "namespace": settings.namespace,
            "labels": {**kube_labels(plan), "app.kubernetes.io/name": "versahub"},
            "annotations": kube_annotations(plan),
        },
        "spec": {
            "podSelector": {"matchLabels": {SERVER_LABEL: server_id(plan.owner, plan.server_name)}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [peer(PROXY_COMPONENT), peer(HUB_COMPONENT)]
                    if settings.hub_in_cluster
                    else [peer(HUB_COMPONENT)],
                    "ports": [{"protocol": "TCP", "port": settings.server_port}],
                }
            ],
            "egress": egress,
        },
    }


def credentials_secret(
    plan: RuntimePlan, settings: KubeSettings, pod_name: str, document: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The Secret with the credentials file; ``document=None`` renders it without content
    (what ``versahub k8s plan`` prints)."""
    assert plan.credentials is not None
    content = (
        "<written at start: a hub token of the owner>"
        if document is None
        else (json.dumps(document, indent=2, sort_keys=True))
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(pod_name),
            "namespace": settings.namespace,
            "labels": {**kube_labels(plan), "app.kubernetes.io/name": "versahub"},
            "annotations": kube_annotations(plan),
        },
        "stringData": {plan.credentials.file_name: content},
    }


def pod_name_for(owner: str, server_name: str) -> str:
    """KubeSpawner 7's default pod name (``jupyter-{user_server}``, its "safe" slug scheme)."""
    from kubespawner.slugs import safe_slug

    user_server = safe_slug(owner) + (f"--{safe_slug(server_name)}" if server_name else "")
    return f"jupyter-{user_server}"


# kube_traits whose KubeSpawner trait and make_pod argument have the same name
_MAKE_POD_TRAITS = (
    "port", "image", "image_pull_policy", "uid", "gid", "fs_gid", "privileged",
    "allow_privilege_escalation", "container_security_context", "pod_security_context",
    "working_dir", "cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee",
    "automount_service_account_token",
)  # fmt: skip


def pod_manifest(
    plan: RuntimePlan, settings: KubeSettings, pod_name: str, *, volumes_dir: str
) -> dict[str, Any]:
    """The Pod KubeSpawner makes from ``kube_traits`` (its own ``make_pod``), as a plain
    manifest; the hub adds JupyterHub's own environment (API token, URLs) at start."""
    from kubernetes_asyncio.client import ApiClient
    from kubespawner.objects import make_pod
    from kubespawner.slugs import safe_slug

    traits = kube_traits(plan, settings, pod_name, volumes_dir=volumes_dir)
    labels = {
        "hub.jupyter.org/username": safe_slug(plan.owner),
        "hub.jupyter.org/servername": safe_slug(plan.server_name) if plan.server_name else "",
        "app.kubernetes.io/component": "singleuser-server",
        "component": "singleuser-server",
        "app.kubernetes.io/managed-by": "kubespawner",
        **traits["extra_labels"],
    }
    same_name = {name: traits[name] for name in _MAKE_POD_TRAITS}  # trait = make_pod argument
    pod = make_pod(
        name=pod_name,
        cmd=[*traits["cmd"], f"--port={settings.server_port}"],
        env=traits["environment"],
        volumes=list(traits["volumes"].values()),
        volume_mounts=[traits["volume_mounts"][k] for k in sorted(traits["volume_mounts"])],
        labels=labels,
        annotations=traits["extra_annotations"],
        **same_name,
    )
    # the client's serialiser without a client (whose constructor opens an HTTP session)
    manifest: dict[str, Any] = ApiClient.__new__(ApiClient).sanitize_for_serialization(pod)
    manifest["metadata"]["namespace"] = settings.namespace
    return manifest
