"""The JupyterHub settings spawning needs, as pure data: ``hub_extra_settings(site, paths)``.

Returns ``{ConfigurableClass: {trait: value}}`` to merge over
``versahub.app.hubconfig.hub_settings``: the hub listens on the docker0 address so that
containers reach it, named servers, ``VersaHubDockerSpawner`` with its site and OPA, the
per-server culler as a hub-managed service with only the scopes it needs. Nothing here
reads files or starts anything.
"""

from __future__ import annotations

import sys
from typing import Any

from versahub.constants import GUEST_GROUP
from versahub.hub.handlers import extra_handlers

CULLER_SERVICE = "versahub-culler"
CULLER_SCOPES = [
    "list:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
    # accounting (versahub.hub.accounting): usage is kept per user and group
    "read:users:groups",
    # only guest accounts of public read-only copies (versahub.hub.handlers.GUEST_GROUP):
    # their creation time, and deleting them once their copy is gone
    f"read:users!group={GUEST_GROUP}",
    f"delete:users!group={GUEST_GROUP}",
]
# OPA uploads its decision log to the hub as this service (versahub.web.decisions)
DECISION_LOG_SERVICE = "versahub-opa"
DECISION_LOG_SCOPE = "custom:versahub:decision-log"
DOCKER0 = "172.17.0.1"
HUB_PORT = 8081


def hub_extra_settings(
    site: Any,
    paths: Any,
    *,
    hub_ip: str = DOCKER0,
    hub_port: int = HUB_PORT,
    cull_every: int = 60,
    python: str = sys.executable,
) -> dict[str, dict[str, Any]]:
    """Spawning settings for ``site``; ``paths`` is ``versahub.app.hubconfig.HubPaths``."""
    site_file = str(site.path) if site.path is not None else ""
    return {
        "JupyterHub": {
            "hub_bind_url": f"http://{hub_ip}:{hub_port}",
            "hub_connect_url": f"http://{hub_ip}:{hub_port}",
            "allow_named_servers": True,
            "spawner_class": "versahub.hub.spawner.VersaHubDockerSpawner",
            "extra_handlers": extra_handlers(),
            "tornado_settings": {"versahub_site_file": site_file},
            "services": [
                {
                    "name": CULLER_SERVICE,
                    "command": [
                        python,
                        "-m",
                        "versahub.hub.culling",
                        f"--site={site_file}",
                        f"--cull-every={cull_every}",
                    ],
                }
            ],
            "load_roles": [
                {
                    "name": CULLER_SERVICE,
                    "scopes": list(CULLER_SCOPES),
                    "services": [CULLER_SERVICE],
                },
            ],
        },
        "Spawner": {
            # a first build may take minutes; its progress is shown meanwhile
            "start_timeout": 900,
            "http_timeout": 60,
        },
        "VersaHubDockerSpawner": {
            "site_file": site_file,
            "hub_connect_ip": hub_ip,
            "pull_policy": "never",
            "remove": True,
        },
    }


def decision_log_settings(token: str | None) -> dict[str, dict[str, Any]]:
    """The hub service OPA uploads its decision log as (no command: OPA is started by
    ``versahub up``), with only the scope to post decision records; nothing without a token.
    """
    if not token:
        return {}
    return {
        "JupyterHub": {
            "custom_scopes": {
                DECISION_LOG_SCOPE: {
                    "description": "Upload OPA's decision-log events (the site's OPA only)."
                }
            },
            "services": [{"name": DECISION_LOG_SERVICE, "api_token": token}],
            "load_roles": [
                {
                    "name": DECISION_LOG_SERVICE,
                    "scopes": [DECISION_LOG_SCOPE],
                    "services": [DECISION_LOG_SERVICE],
                }
            ],
        }
    }


def kubernetes_settings(site: Any) -> dict[str, dict[str, Any]]:
    """What changes when servers run on Kubernetes (``hub.spawner: kubernetes``).

    Merged over ``hub_extra_settings``: KubeSpawner (VersaHub's) in the site's namespace,
    servers reach the hub through its Service. When the hub itself runs in the cluster
    (``kubernetes.hub_in_cluster``, set by the Pulumi deployment) it listens on all
    addresses of its pod and configurable-http-proxy runs in its own Deployment (the
    ``proxy-api`` Service; the token comes from ``CONFIGPROXY_AUTH_TOKEN``, a Secret);
    otherwise the hub runs on a host as ``versahub up`` starts it and only the servers run
    in the cluster that ``KUBECONFIG`` names.
    """
    k8s = site.data["kubernetes"]
    port = int(site.data["hub"]["internal_port"])
    in_cluster = bool(k8s["hub_in_cluster"])
    host = k8s["hub_service"] if in_cluster else site.data["hub"]["internal_ip"]
    hub_url = f"http://{host}:{port}"
    settings: dict[str, dict[str, Any]] = {
        "JupyterHub": {
            "hub_connect_url": hub_url,
            "spawner_class": "versahub.hub.kubespawner.VersaHubKubeSpawner",
        },
        "VersaHubKubeSpawner": {
            "site_file": str(site.path) if site.path is not None else "",
            "namespace": k8s["namespace"],
            "hub_connect_url": hub_url,
            "image_pull_policy": k8s["pull_policy"],
            "start_timeout": 900,
            "http_timeout": 60,
        },
    }
    if in_cluster:
        settings["JupyterHub"]["hub_bind_url"] = f"http://0.0.0.0:{port}"
        settings["ConfigurableHTTPProxy"] = {
            "should_start": False,
            "api_url": "http://proxy-api:8001",
        }
    return settings
