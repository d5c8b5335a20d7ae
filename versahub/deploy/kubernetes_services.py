"""The site's services as plain manifests (pure builders): configurable-http-proxy, OPA and
the image registry. Shared helpers, ports, images' users and resources are in
``versahub.deploy.kubernetes``; like it, nothing here imports Pulumi or does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from versahub.deploy.kubernetes import (
    ADMIN_SECRET,
    OPA_DATA,
    OPA_POLICIES,
    OPA_PORT,
    OPA_RESOURCES,
    OPA_SECRET,
    OPA_UID,
    PROXY_API_PORT,
    PROXY_PORT,
    PROXY_REDIRECT_PORT,
    PROXY_RESOURCES,
    PROXY_UID,
    REGISTRY_CLAIM,
    REGISTRY_PORT,
    REGISTRY_RESOURCES,
    REGISTRY_UID,
    Manifest,
    deployment,
    http_probe,
    meta,
    pod_security,
    restricted,
    secret,
    service,
    state_claim,
)
from versahub.deploy.kubernetes_settings import DeploySettings

# ---------------------------------------------------------------- the proxy


def proxy_objects(
    settings: DeploySettings, namespace: str, hub_service: str, hub_port: int
) -> list[Manifest]:
    """configurable-http-proxy: its Deployment, ``proxy-api`` (hub only) and
    ``proxy-public`` (NodePort or LoadBalancer; with TLS, 443 and a redirect on 80)."""
    hub = f"http://{hub_service}:{hub_port}"
    args = [
        "--ip=",
        f"--port={PROXY_PORT}",
        "--api-ip=",
        f"--api-port={PROXY_API_PORT}",
        f"--default-target={hub}",
        f"--error-target={hub}/hub/error",
    ]
    ports = [
        {"name": "http", "containerPort": PROXY_PORT},
        {"name": "api", "containerPort": PROXY_API_PORT},
    ]
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if settings.tls_enabled:
        args += [
            "--ssl-key=/etc/chp/tls/tls.key",
            "--ssl-cert=/etc/chp/tls/tls.crt",
            f"--redirect-port={PROXY_REDIRECT_PORT}",
            "--redirect-to=443",
        ]
        ports.append({"name": "redirect", "containerPort": PROXY_REDIRECT_PORT})
        mounts.append({"name": "tls", "mountPath": "/etc/chp/tls", "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": settings.tls_secret_name}})
    container = {
        "name": "chp",
        "image": settings.images.proxy,
        "imagePullPolicy": "IfNotPresent",
        "command": ["configurable-http-proxy"],
        "args": args,
        "env": [
            {
                "name": "CONFIGPROXY_AUTH_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "proxy-auth-token"}},
            }
        ],
        "ports": ports,
        "readinessProbe": http_probe("/_chp_healthz", "http", https=settings.tls_enabled),
        "resources": PROXY_RESOURCES.manifest(),
        "securityContext": restricted(PROXY_UID),
        "volumeMounts": mounts,
    }
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
    if settings.tls_enabled:
        public_ports = [
            {"name": "https", "port": 443, "targetPort": "http"},
            {"name": "http", "port": 80, "targetPort": "redirect"},
        ]
    else:
        public_ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    if settings.service_type == "NodePort":
        public_ports[0]["nodePort"] = settings.node_port
    public = service(
        "proxy-public", namespace, "proxy", public_ports, service_type=settings.service_type
    )
    if settings.service_type == "LoadBalancer":
        public["spec"]["externalTrafficPolicy"] = "Local"  # keeps the client's address
    return [
        deployment("proxy", namespace, "proxy", pod),
        service(
            "proxy-api",
            namespace,
            "proxy",
            [{"name": "api", "port": PROXY_API_PORT, "targetPort": "api"}],
        ),
        public,
    ]


# ---------------------------------------------------------------- OPA


def policy_config_map_data(files: Mapping[str, str]) -> dict[str, str]:
    """Policy files by relative path → ConfigMap keys (``versahub/spawn/repo.rego`` →
    ``versahub.spawn.repo.rego``): a ConfigMap key has no folders, and OPA reads Rego
    packages from the files, not from their folders."""
    data: dict[str, str] = {}
    for rel, text in sorted(files.items()):
        key = rel.replace("/", ".")
        if key in data:
            raise ValueError(f"two policy files map to the ConfigMap key {key}")
        data[key] = text
    return data


def opa_objects(
    settings: DeploySettings,
    namespace: str,
    policies: Mapping[str, str],
    site_data: Mapping,
    decision_log: Mapping[str, Any] | None = None,
) -> list[Manifest]:
    """OPA: policies and site data from two ConfigMaps, served with ``--watch``.

    ``decision_log`` (``{"config.json", "data.json"}``: OPA's configuration with the upload
    token, ``decision_log_config``, and ``{"key": …}``, the pseudonym key; values may be
    Pulumi outputs) makes the Secret ``versahub-opa``: OPA then uploads its masked decision
    log to the hub (docs/policies.md#decision-records), as under ``versahub up``.

    The kubelet updates a mounted ConfigMap in place (an atomic ``..data`` symlink swap,
    about a minute after the change); ``--watch`` reloads it and ``--ignore .*`` skips the
    kubelet's hidden folders, so a policy or site-data change takes effect without a
    restart of OPA or the hub (verified with OPA 1.22.3 on that layout). The data
    ConfigMap is mounted at ``/data/versahub/site`` so it is ``data.versahub.site``.
    """
    policy_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(OPA_POLICIES, namespace, "opa"),
        "data": policy_config_map_data(policies),
    }
    data_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(OPA_DATA, namespace, "opa"),
        "data": {"data.json": json.dumps(site_data, indent=2, sort_keys=True) + "\n"},
    }
    container = {
        "name": "opa",
        "image": settings.images.opa,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "run",
            "--server",
            f"--addr=0.0.0.0:{OPA_PORT}",
            "--watch",
            "--log-format=json",
            "--skip-version-check",
            "--ignore=.*",
            "--ignore=*_test.rego",
            "--set=decision_logs.console=true",
            *(["--config-file=/config/config.json"] if decision_log else []),
            "/policies",
            "/data",
        ],
        "ports": [{"name": "http", "containerPort": OPA_PORT}],
        "readinessProbe": http_probe("/health", "http"),
        "livenessProbe": http_probe("/health", "http", delay=10),
        "resources": OPA_RESOURCES.manifest(),
        "securityContext": restricted(OPA_UID),
        "volumeMounts": [
            {"name": "policies", "mountPath": "/policies", "readOnly": True},
            {"name": "site-data", "mountPath": "/data/versahub/site", "readOnly": True},
        ],
    }
    volumes: list[dict[str, Any]] = [
        {"name": "policies", "configMap": {"name": OPA_POLICIES}},
        {"name": "site-data", "configMap": {"name": OPA_DATA}},
    ]
    extra: list[Manifest] = []
    if decision_log:
        extra.append(secret(OPA_SECRET, namespace, "opa", decision_log))
        container["volumeMounts"] += [
            {"name": "config", "mountPath": "/config", "readOnly": True},
            {"name": "decision-log-key", "mountPath": "/data/versahub/decision_log",
             "readOnly": True},
        ]  # fmt: skip
        volumes += [
            {"name": "config", "secret": {"secretName": OPA_SECRET,
             "items": [{"key": "config.json", "path": "config.json"}]}},
            {"name": "decision-log-key", "secret": {"secretName": OPA_SECRET,
             "items": [{"key": "data.json", "path": "data.json"}]}},
        ]  # fmt: skip
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
    return [
        policy_map,
        data_map,
        *extra,
        deployment("opa", namespace, "opa", pod),
        service(
            "opa", namespace, "opa", [{"name": "http", "port": OPA_PORT, "targetPort": "http"}]
        ),
    ]


# ---------------------------------------------------------------- the registry


def registry_objects(settings: DeploySettings, namespace: str) -> list[Manifest]:
    """The CNCF distribution registry: its claim, Deployment and Service (plain HTTP inside
    the namespace; the builder pushes to it, nodes pull from it)."""
    container = {
        "name": "registry",
        "image": settings.images.registry,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "REGISTRY_HTTP_ADDR", "value": f"0.0.0.0:{REGISTRY_PORT}"},
            {"name": "REGISTRY_STORAGE_DELETE_ENABLED", "value": "true"},
        ],
        "ports": [{"name": "registry", "containerPort": REGISTRY_PORT}],
        "readinessProbe": http_probe("/v2/", "registry"),
        "resources": REGISTRY_RESOURCES.manifest(),
        "securityContext": restricted(REGISTRY_UID),
        "volumeMounts": [
            {"name": "storage", "mountPath": "/var/lib/registry"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(REGISTRY_UID),
        "containers": [container],
        "volumes": [
            {"name": "storage", "persistentVolumeClaim": {"claimName": REGISTRY_CLAIM}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return [
        state_claim(
            settings,
            REGISTRY_CLAIM,
            namespace,
            "registry",
            settings.storage.registry_size,
            "registry",
        ),
        deployment("registry", namespace, "registry", pod, recreate=True),
        service(
            "registry",
            namespace,
            "registry",
            [{"name": "registry", "port": REGISTRY_PORT, "targetPort": "registry"}],
        ),
    ]
