"""The site-wide NetworkPolicies of a VersaHub namespace (pure builders).

Everything is denied first (``default-deny``: every pod, ingress and egress), then each
flow the site needs is allowed by one policy named after it. NetworkPolicies add up, so
nothing here may allow a user server more than every server needs: its per-server policies
(internet on or off, always without the cloud metadata address) are made by the spawner
for each pod. Enforced only by a network plugin that implements NetworkPolicy (Calico,
Cilium, k3s's built-in controller…); without one they are accepted and do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from versahub.deploy.kubernetes import (
    DEFAULT_DENY,
    OPA_PORT,
    PROXY_API_PORT,
    PROXY_PORT,
    PROXY_REDIRECT_PORT,
    REGISTRY_PORT,
    SERVER_PORT,
    SINGLEUSER,
    Manifest,
    labels,
)

ANYWHERE = "0.0.0.0/0"


def _pods(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(
    name: str,
    namespace: str,
    selector: Mapping[str, Any],
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> Manifest:
    spec: dict[str, Any] = {"podSelector": dict(selector), "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels("network")},
        "spec": spec,
    }


def default_deny(namespace: str) -> Manifest:
    """No pod of the namespace may send or receive anything not allowed by another policy."""
    policy = _policy(DEFAULT_DENY, namespace, {})
    policy["spec"]["policyTypes"] = ["Ingress", "Egress"]
    return policy


def network_objects(site_doc: Mapping[str, Any]) -> list[Manifest]:
    """default-deny, then: DNS for every pod; the proxy from anywhere; the hub from the
    proxy, the servers and OPA (its decision log); the proxy's API, OPA and the registry
    from the hub only; OPA out to the hub only; the
    servers from the proxy and the hub; the hub out to anything but the metadata address
    (the Kubernetes API, the builder's git clones and package downloads)."""
    kube = site_doc["kubernetes"]
    ns = kube["namespace"]
    hub_port = int(site_doc["hub"]["internal_port"])
    not_metadata = {"ipBlock": {"cidr": ANYWHERE, "except": [kube["metadata_cidr"]]}}
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": kube["dns_namespace"]}
                }
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    hub = _pods("hub")["podSelector"]
    return [
        default_deny(ns),
        _policy("allow-dns", ns, {}, egress=[dns]),
        _policy(
            "proxy",
            ns,
            _pods("proxy")["podSelector"],
            ingress=[
                {"ports": _tcp(PROXY_PORT, PROXY_REDIRECT_PORT)},
                {"from": [_pods("hub")], "ports": _tcp(PROXY_API_PORT)},
            ],
            egress=[
                {"to": [_pods("hub")], "ports": _tcp(hub_port)},
                {"to": [_pods(SINGLEUSER)], "ports": _tcp(SERVER_PORT)},
            ],
        ),
        _policy(
            "hub",
            ns,
            hub,
            ingress=[
                {"from": [_pods("proxy"), _pods(SINGLEUSER)], "ports": _tcp(hub_port)},
                # OPA uploads its decision log to the hub's API
                {"from": [_pods("opa")], "ports": _tcp(hub_port)},
            ],
            egress=[{"to": [not_metadata]}],
        ),
        _policy(
            "opa",
            ns,
            _pods("opa")["podSelector"],
            ingress=[{"from": [_pods("hub")], "ports": _tcp(OPA_PORT)}],
            egress=[{"to": [_pods("hub")], "ports": _tcp(hub_port)}],
        ),
        _policy(
            "registry",
            ns,
            _pods("registry")["podSelector"],
            ingress=[{"from": [_pods("hub")], "ports": _tcp(REGISTRY_PORT)}],
        ),
        _policy(
            "singleuser-servers",
            ns,
            _pods(SINGLEUSER)["podSelector"],
            ingress=[{"from": [_pods("proxy"), _pods("hub")], "ports": _tcp(SERVER_PORT)}],
            egress=[{"to": [_pods("hub")], "ports": _tcp(hub_port)}],
        ),
    ]
