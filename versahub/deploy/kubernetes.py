"""The Kubernetes objects of a VersaHub site, as plain manifests (pure builders).

Here: the shared helpers, the namespace and secrets, storage, the builder and culler, the
hub; the proxy, OPA and the registry are in ``kubernetes_services``, the NetworkPolicies in
``kubernetes_network``. One function per component of the Pulumi program (``pulumi/``)
returns the component's objects as dicts in the API's own camelCase form, so they can be
tested field by field, checked by the deploy policies (``policies/versahub/deploy``) and
sent to ``kubectl apply --dry-run=server`` exactly as Pulumi creates them. Nothing here
imports Pulumi, reads a file, or touches a cluster; secrets' values are whatever the caller
passes (a Pulumi ``Output`` in the program, a placeholder in checks).

The in-cluster contracts the hub's settings (``versahub.app.hubconfig``) rely on: Services
``hub`` (``kubernetes.hub_service``, port ``hub.internal_port``), ``proxy-api`` (8001),
``proxy-public`` (80/443 → CHP 8000), ``opa`` (8181) and ``registry`` (5000); labels
``app.kubernetes.io/name: versahub`` and ``app.kubernetes.io/component``; the site file and
``jupyterhub_config.py`` in the ConfigMap mounted at ``/etc/versahub``; the hub's state on a
PVC at ``/srv/versahub`` with the volume catalogue's claim at ``/srv/versahub/volumes``.

Every container has requests and limits and a restricted security context (non-root, no
privilege escalation, every capability dropped, seccomp ``RuntimeDefault``), except the one
documented exception: the image builder (``docker:dind``, privileged) beside the hub.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from versahub.deploy.kubernetes_settings import DeploySettings

Manifest = dict[str, Any]

APP = "versahub"
STATE_DIR = "/srv/versahub"
SITE_DIR = "/etc/versahub"
SITE_FILE = f"{SITE_DIR}/site.yaml"
HUB_CONFIG_FILE = f"{SITE_DIR}/jupyterhub_config.py"
DOCKER_SOCKET_DIR = "/var/run/dind"
DOCKER_SOCKET = f"{DOCKER_SOCKET_DIR}/docker.sock"

ADMIN_SECRET = "versahub-hub"  # proxy token, cookie secret, demo password: the stack output
HUB_CONFIG_MAP = "versahub-hub"
HUB_STATE_CLAIM = "versahub-hub-state"
REGISTRY_CLAIM = "versahub-registry"
BUILDER_CONFIG_MAP = "versahub-builder"
OPA_POLICIES = "versahub-opa-policies"
OPA_DATA = "versahub-opa-data"
# OPA's configuration (the decision-log upload, with its token) and the pseudonym key
OPA_SECRET = "versahub-opa"
DEFAULT_DENY = "default-deny"

PROXY_PORT = 8000
PROXY_REDIRECT_PORT = 8080
PROXY_API_PORT = 8001
OPA_PORT = 8181
REGISTRY_PORT = 5000
SERVER_PORT = 8888  # KubeSpawner's default port of a user server

HUB_UID = 1000  # the hub image's user; also the group of the builder's socket
PROXY_UID = 65534  # configurable-http-proxy's image runs as nobody
OPA_UID = 1000
REGISTRY_UID = 1000

SINGLEUSER = "singleuser-server"


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container (CPU in millicores, memory in MiB)."""

    cpu_request: int
    memory_request: int
    cpu_limit: int
    memory_limit: int

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_request + other.cpu_request,
            self.memory_request + other.memory_request,
            self.cpu_limit + other.cpu_limit,
            self.memory_limit + other.memory_limit,
        )

    def manifest(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": f"{self.cpu_request}m", "memory": f"{self.memory_request}Mi"},
            "limits": {"cpu": f"{self.cpu_limit}m", "memory": f"{self.memory_limit}Mi"},
        }


# What each container costs; docs/deploy-kubernetes.md shows this table.
HUB_RESOURCES = Resources(250, 512, 2000, 2048)
CULLER_RESOURCES = Resources(10, 64, 250, 256)  # runs inside the hub container
BUILDER_RESOURCES = Resources(500, 1024, 2000, 4096)
PROXY_RESOURCES = Resources(100, 128, 1000, 512)
OPA_RESOURCES = Resources(100, 128, 500, 512)
REGISTRY_RESOURCES = Resources(50, 64, 500, 512)
INIT_RESOURCES = Resources(10, 32, 100, 64)


def labels(component: str) -> dict[str, str]:
    """The labels every object of ``component`` carries (and its pods are selected by)."""
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def meta(name: str, namespace: str | None, component: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels(component), **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def restricted(uid: int, *, read_only_root: bool = True) -> dict[str, Any]:
    """The security context of every container but the builder."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(fs_group: int | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if fs_group is not None:
        ctx["fsGroup"] = fs_group
    return ctx


def deployment(
    name: str,
    namespace: str,
    component: str,
    pod_spec: dict[str, Any],
    *,
    recreate: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    template_meta: dict[str, Any] = {"labels": labels(component)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, namespace, component),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels(component)},
            "strategy": {"type": "Recreate"} if recreate else {"type": "RollingUpdate"},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def service(
    name: str,
    namespace: str,
    component: str,
    ports: list[dict[str, Any]],
    *,
    service_type: str = "ClusterIP",
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace, component),
        "spec": {"type": service_type, "selector": labels(component), "ports": ports},
    }


def claim(
    name: str,
    namespace: str,
    component: str,
    size: str,
    access: str,
    *,
    storage_class: str | None,
    volume_name: str | None = None,
) -> Manifest:
    spec: dict[str, Any] = {
        "accessModes": [access],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if volume_name is not None:
        spec["volumeName"] = volume_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(name, namespace, component),
        "spec": spec,
    }


def http_probe(path: str, port: int | str, *, https: bool = False, delay: int = 0) -> dict:
    probe: dict[str, Any] = {
        "httpGet": {"path": path, "port": port, "scheme": "HTTPS" if https else "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 3,
    }
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


# ---------------------------------------------------------------- the namespace and secrets


def namespace(name: str) -> Manifest:
    """The site's namespace (``kubernetes.namespace``), with the restricted Pod Security
    level *warned* about (the builder is privileged, so it cannot be enforced)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                **labels("namespace"),
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }


def secret(
    name: str, namespace: str, component: str, data: Mapping[str, Any], *, kind: str = "Opaque"
) -> Manifest:
    """A Secret with ``stringData``: the values may be Pulumi secret outputs."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, namespace, component),
        "type": kind,
        "stringData": dict(data),
    }


def derived_secret(master: str, purpose: str) -> str:
    """A secret for one purpose derived from the stack's ``cookieSecret`` (HMAC-SHA256, hex):
    the decision-log token and pseudonym key need no configuration of their own, and a
    rotated cookie secret rotates them too."""
    return hmac.new(master.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).hexdigest()


def admin_secret(namespace: str, values: Mapping[str, Any]) -> Manifest:
    """The admin secret (``versahub-hub``): ``proxy-auth-token``, ``cookie-secret``,
    ``decision-log-token`` and, with the demo login, ``demo-password``; with LTI,
    ``crypt-key``."""
    return secret(ADMIN_SECRET, namespace, "hub", values)


def tls_secret(name: str, namespace: str, cert: Any, key: Any) -> Manifest:
    """The proxy's certificate, when the stack gives one (``tlsCertificate``/``tlsKey``)."""
    return secret(
        name, namespace, "proxy", {"tls.crt": cert, "tls.key": key}, kind="kubernetes.io/tls"
    )


# ---------------------------------------------------------------- storage


def host_path_volume(name: str, path: str, size: str, access: str) -> Manifest:
    """A local PersistentVolume on a host folder, bound by name (the ``hostPath`` stack).

    The folder must exist, owned by the hub's user (``install -d -o 1000 -g 1000 …``,
    docs/deploy-kubernetes.md): ``type: Directory`` makes a missing one fail the pod's start
    with a clear event, where ``DirectoryOrCreate`` would make it root-owned and unwritable.
    """
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": meta(name, None, "storage"),
        "spec": {
            "capacity": {"storage": size},
            "accessModes": [access],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": path, "type": "Directory"},
        },
    }


def storage_objects(settings: DeploySettings, namespace: str, volumes_claim: str) -> list[Manifest]:
    """The volume catalogue: one ReadWriteMany claim, each mount a subPath of it.

    ``hostPath``: host-folder volumes for the catalogue, the hub's state and the registry
    (a single-node cluster: k3s, kind, the test control plane). ``storageClass``: the claim
    on a ReadWriteMany class (NFS, EFS, Filestore, CephFS…); the hub's and the registry's
    claims use ``stateStorageClass`` (their own components make them).
    """
    storage = settings.storage
    if storage.kind == "storageClass":
        return [
            claim(
                volumes_claim,
                namespace,
                "storage",
                storage.volumes_size,
                "ReadWriteMany",
                storage_class=storage.storage_class,
            )
        ]
    root = storage.host_path
    return [
        host_path_volume(
            f"{namespace}-volumes", f"{root}/volumes", storage.volumes_size, "ReadWriteMany"
        ),
        host_path_volume(
            f"{namespace}-hub-state", f"{root}/hub", storage.hub_size, "ReadWriteOnce"
        ),
        host_path_volume(
            f"{namespace}-registry", f"{root}/registry", storage.registry_size, "ReadWriteOnce"
        ),
        claim(
            volumes_claim,
            namespace,
            "storage",
            storage.volumes_size,
            "ReadWriteMany",
            storage_class="",
            volume_name=f"{namespace}-volumes",
        ),
    ]


def state_claim(
    settings: DeploySettings, name: str, namespace: str, component: str, size: str, suffix: str
) -> Manifest:
    storage = settings.storage
    if storage.kind == "hostPath":
        return claim(
            name,
            namespace,
            component,
            size,
            "ReadWriteOnce",
            storage_class="",
            volume_name=f"{namespace}-{suffix}",
        )
    return claim(
        name,
        namespace,
        component,
        size,
        "ReadWriteOnce",
        storage_class=storage.state_storage_class or None,
    )


# ---------------------------------------------------------------- the builder and the culler


def builder_objects(namespace: str, registry_host: str | None) -> list[Manifest]:
    """The builder's own object: ``daemon.json`` of its Docker engine (the in-cluster
    registry is plain HTTP inside the namespace, so it is listed as insecure)."""
    daemon: dict[str, Any] = {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "2"},
    }
    if registry_host:
        daemon["insecure-registries"] = [registry_host]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(BUILDER_CONFIG_MAP, namespace, "builder"),
            "data": {"daemon.json": json.dumps(daemon, indent=2, sort_keys=True) + "\n"},
        }
    ]


def builder_container(image: str) -> dict[str, Any]:
    """The image builder: a Docker engine (``docker:dind``) beside the hub, privileged.

    The one documented exception to the restricted security context: a Docker engine
    needs root and every capability to make its containers (repo2docker builds). It
    listens only on a unix socket in an emptyDir shared with the hub (group ``HUB_UID``),
    never on TCP; ``dind`` (the image's setup script) is run directly so the entrypoint's
    default TCP listener is never opened.
    """
    return {
        "name": "builder",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["dind", "dockerd"],
        "args": [f"--host=unix://{DOCKER_SOCKET}", f"--group={HUB_UID}"],
        "env": [{"name": "DOCKER_TLS_CERTDIR", "value": ""}],
        "securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
        "resources": BUILDER_RESOURCES.manifest(),
        "volumeMounts": [
            {"name": "docker-socket", "mountPath": DOCKER_SOCKET_DIR},
            {"name": "builder-storage", "mountPath": "/var/lib/docker"},
            {"name": "builder-config", "mountPath": "/etc/docker", "readOnly": True},
        ],
    }


def builder_volumes(disk_limit: str) -> list[dict[str, Any]]:
    """The builder's volumes in the hub's pod: the socket folder, its image store (an
    emptyDir capped at ``builderDiskLimit``) and its ``daemon.json``."""
    return [
        {"name": "docker-socket", "emptyDir": {}},
        {"name": "builder-storage", "emptyDir": {"sizeLimit": disk_limit}},
        {"name": "builder-config", "configMap": {"name": BUILDER_CONFIG_MAP}},
    ]


@dataclass(frozen=True)
class CullerPlan:
    """The per-server culler (``versahub.hub.culling``): a hub-managed service, so it runs
    as a process of the hub container; its share is added to that container's resources."""

    cull_every: int
    resources: Resources = CULLER_RESOURCES


# ---------------------------------------------------------------- the hub


def _rbac(namespace: str, account: str) -> list[Manifest]:
    """The hub's service account may manage servers' pods, secrets, network policies and
    claims in its own namespace, and read events: nothing else, nowhere else."""
    manage = ["get", "list", "watch", "create", "update", "patch", "delete"]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(account, namespace, "hub"),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(account, namespace, "hub"),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "secrets", "persistentvolumeclaims"],
                    "verbs": manage,
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": manage,
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(account, namespace, "hub"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]


def demo_password_init(image: str) -> dict[str, Any]:
    """Copy the demo login's password from the admin secret to where the hub reads it
    (``HubPaths.demo_password_file``: ``<state_dir>/hub/demo-password``, mode 0600), as the
    hub's own user. A subPath mount there would make the kubelet create ``hub/`` as root."""
    target = f"{STATE_DIR}/hub/demo-password"
    return {
        "name": "demo-password",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "sh",
            "-c",
            f"mkdir -p {STATE_DIR}/hub && install -m 600 "
            f"/run/secrets/versahub/demo-password {target}",
        ],
        "resources": INIT_RESOURCES.manifest(),
        "securityContext": restricted(HUB_UID),
        "volumeMounts": [
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "demo-password", "mountPath": "/run/secrets/versahub", "readOnly": True},
        ],
    }


def hub_settings_hash(site_doc: Mapping[str, Any], config_text: str) -> str:
    """A digest of what the hub reads only when it starts (its traitlets): the ``hub``,
    ``kubernetes`` and ``registry`` sections and ``jupyterhub_config.py``. It is an
    annotation of the hub's pod, so a change there restarts the hub and nothing else does
    (the rest of site.yaml is re-read by the running hub when the ConfigMap changes)."""
    keyed = {k: site_doc.get(k) for k in ("hub", "kubernetes", "registry", "state_dir")}
    text = json.dumps([keyed, config_text], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hub_objects(
    settings: DeploySettings,
    site_doc: Mapping[str, Any],
    site_yaml: str,
    config_text: str,
    culler: CullerPlan,
) -> list[Manifest]:
    """The hub: service account and role, the ConfigMap with ``site.yaml`` and
    ``jupyterhub_config.py``, its state claim, the Deployment (hub + builder) and Service.

    ``site_doc`` is the in-cluster site document (``cluster_site_document``) and
    ``site_yaml`` its text. The admin secret is made by the program (its values are
    secrets); the pod reads it by name.
    """
    kube = site_doc["kubernetes"]
    ns, account = kube["namespace"], kube["service_account"]
    port = int(site_doc["hub"]["internal_port"])
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(HUB_CONFIG_MAP, ns, "hub"),
        "data": {"site.yaml": site_yaml, "jupyterhub_config.py": config_text},
    }
    claim = state_claim(
        settings, HUB_STATE_CLAIM, ns, "hub", settings.storage.hub_size, "hub-state"
    )
    env: list[dict[str, Any]] = [
        {
            "name": "CONFIGPROXY_AUTH_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "proxy-auth-token"}},
        },
        {
            "name": "JPY_COOKIE_SECRET",
            "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "cookie-secret"}},
        },
        *(
            [
                {
                    "name": "JUPYTERHUB_CRYPT_KEY",
                    "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "crypt-key"}},
                }
            ]
            if settings.crypt_key
            else []
        ),
        {
            # the token of the hub service OPA uploads its decision log as
            "name": "VERSAHUB_DECISION_LOG_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "decision-log-token"}},
        },
        {"name": "VERSAHUB_DOCKER_SOCKET", "value": DOCKER_SOCKET},
        {"name": "DOCKER_HOST", "value": f"unix://{DOCKER_SOCKET}"},
        {"name": "HOME", "value": "/tmp"},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "state", "mountPath": STATE_DIR},
        {"name": "volumes", "mountPath": f"{STATE_DIR}/volumes"},
        {"name": "config", "mountPath": SITE_DIR, "readOnly": True},
        {"name": "docker-socket", "mountPath": DOCKER_SOCKET_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "state", "persistentVolumeClaim": {"claimName": HUB_STATE_CLAIM}},
        {"name": "volumes", "persistentVolumeClaim": {"claimName": kube["volumes_claim"]}},
        {"name": "config", "configMap": {"name": HUB_CONFIG_MAP}},
        {"name": "tmp", "emptyDir": {}},
        *builder_volumes(settings.builder_disk_limit),
    ]
    init: list[dict[str, Any]] = []
    if settings.demo_password:
        init.append(demo_password_init(settings.images.hub))
        volumes.append(
            {
                "name": "demo-password",
                "secret": {
                    "secretName": ADMIN_SECRET,
                    "defaultMode": 0o440,
                    "items": [{"key": "demo-password", "path": "demo-password"}],
                },
            }
        )
    hub = {
        "name": "hub",
        "image": settings.images.hub,
        "imagePullPolicy": "IfNotPresent",
        "command": ["jupyterhub", "--config", HUB_CONFIG_FILE],
        "workingDir": STATE_DIR,
        "env": env,
        "ports": [{"name": "hub", "containerPort": port}],
        "readinessProbe": http_probe("/hub/health", "hub"),
        "livenessProbe": http_probe("/hub/health", "hub", delay=60),
        "resources": (HUB_RESOURCES + culler.resources).manifest(),
        "securityContext": restricted(HUB_UID),
        "volumeMounts": mounts,
    }
    pod = {
        "serviceAccountName": account,
        "automountServiceAccountToken": True,
        "securityContext": pod_security(HUB_UID),
        "initContainers": init,
        "containers": [hub, builder_container(settings.images.builder)],
        "volumes": volumes,
    }
    digest = {"versahub.io/hub-settings": hub_settings_hash(site_doc, config_text)}
    return [
        *_rbac(ns, account),
        config_map,
        claim,
        deployment("hub", ns, "hub", pod, recreate=True, annotations=digest),
        service(
            kube["hub_service"], ns, "hub", [{"name": "hub", "port": port, "targetPort": "hub"}]
        ),
    ]
