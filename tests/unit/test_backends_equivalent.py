"""One translation, two renderers: a table of specs → RuntimePlan → Docker and Kubernetes.

For every spec of the table the DockerSpawner traits and the Kubernetes objects (Pod as
KubeSpawner's ``make_pod`` builds it, NetworkPolicy, Secret) are compared with golden files
(``golden/backends/<case>.yaml``; regenerate with ``VERSAHUB_UPDATE_GOLDEN=1`` and review
the diff), and both are reduced to the same *enforcement view* — image, each mount's volume
folder / path / read-only, internet, the metadata address, limits, environment, working
folder, start URL, privileges — which must be equal: a server means the same on both.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.hub.docker import docker_traits
from versahub.hub.kubernetes import (
    KubeSettings,
    credentials_secret,
    network_policy,
    pod_manifest,
    pod_name_for,
)
from versahub.launch.plan import make_plan
from versahub.policy import Decision
from versahub.site import site_from_mapping
from versahub.spec import parse_spec

GOLDEN = Path(__file__).parent / "golden" / "backends"
REPO = "https://github.com/binder-examples/requirements"
IMAGE = "registry.example.org/versahub/r2d-abc:0123456789ab"
SITE = site_from_mapping(
    {
        "volumes": {
            "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
            "ds101-shared": {
                "kind": "shared",
                "read": {"groups": ["ds101"]},
                "write": {"groups": ["ds101-teachers"]},
            },
            "results": {"kind": "project", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
        },
        "policy": {
            "caps": {
                "default": {"memory": "4G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h"}
            }
        },
        "hub": {"spawner": "kubernetes"},
        "kubernetes": {"hub_in_cluster": True},  # as the Pulumi deployment runs it
    }
)
SETTINGS = KubeSettings.from_site(SITE)
STATE = "/srv/versahub"
DOCKER_LAYOUT = SETTINGS.layout(STATE)  # the same folders on both backends
METADATA = "169.254.169.254/32"

TABLE: dict[str, tuple[dict[str, Any], bool]] = {
    "default-server": ({}, False),
    "named-offline-credentials-limits": (
        {
            "server_name": "course",
            "urlpath": "lab/tree/index.ipynb",
            "mounts": [{"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"}],
            "internet": False,
            "credentials": True,
            "resources": {"memory": "1G", "cpu": 1.5},
        },
        False,
    ),
    "project-volume-rw-collaborators": (
        {
            "server_name": "team",
            "mounts": [{"volume": "results", "path": "/home/jovyan/results", "mode": "rw"}],
            "collaborators": ["bob", "group:ds101"],
        },
        False,
    ),
    "public-readonly-copy": (
        {
            "server_name": "demo",
            "public_readonly": True,
            "mounts": [{"volume": "results", "path": "/home/jovyan/results", "mode": "rw"}],
            "credentials": True,
        },
        True,
    ),
}


def _plan(raw: dict[str, Any], public: bool) -> Any:
    spec = parse_spec({"repo": REPO, **raw}, owner="alice")
    return make_plan(
        spec, SITE, Decision(allowed=True), owner="alice", image=IMAGE, layout=DOCKER_LAYOUT,
        public=public,
    )  # fmt: skip


def render(raw: dict[str, Any], public: bool) -> dict[str, Any]:
    plan = _plan(raw, public)
    pod_name = pod_name_for("alice", plan.server_name)
    kube: list[dict[str, Any]] = [
        pod_manifest(plan, SETTINGS, pod_name, volumes_dir=DOCKER_LAYOUT.volumes_dir),
        network_policy(plan, SETTINGS, pod_name),
    ]
    if plan.credentials is not None:
        kube.append(credentials_secret(plan, SETTINGS, pod_name, None))
    traits = docker_traits(plan)
    traits["volumes"] = {k: dict(v) for k, v in sorted(traits["volumes"].items())}
    return {"docker": traits, "kubernetes": kube}


def docker_view(traits: dict[str, Any]) -> dict[str, Any]:
    mounts = {}
    for source, bind in traits["volumes"].items():
        if source.startswith(DOCKER_LAYOUT.volumes_dir + "/"):
            rel = posixpath.relpath(source, DOCKER_LAYOUT.volumes_dir)
            mounts[bind["bind"]] = (rel, bind["mode"] == "ro")
        else:
            mounts[bind["bind"]] = ("credentials", bind["mode"] == "ro")
    host = traits["extra_host_config"]
    return {
        "image": traits["image"],
        "mounts": mounts,
        "internet": traits["network_name"] == DOCKER_LAYOUT.internet_network,
        "metadata_blocked": True,  # no route from either Docker network (docs/security.md)
        "memory": traits["mem_limit"],
        "cpu": traits["cpu_limit"],
        "environment": traits["environment"],
        "workdir": traits["extra_create_kwargs"]["working_dir"],
        "default_url": traits["default_url"],
        "no_new_privileges": "no-new-privileges" in host["security_opt"],
        "caps_dropped": host["cap_drop"] == ["ALL"],
        "command": traits["cmd"],
    }


def kube_view(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = next(o for o in objects if o["kind"] == "Pod")
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    container = pod["spec"]["containers"][0]
    mounts = {}
    for m in container.get("volumeMounts", []):
        what = m["subPath"] if m["name"] == "versahub-volumes" else "credentials"
        mounts[m["mountPath"]] = (what, bool(m.get("readOnly")))
    blocks = [p["ipBlock"] for rule in policy["spec"]["egress"] for p in rule.get("to", [])
              if "ipBlock" in p]  # fmt: skip
    internet = any(b["cidr"] == "0.0.0.0/0" for b in blocks)
    security = container["securityContext"]
    return {
        "image": container["image"],
        "mounts": mounts,
        "internet": internet,
        "metadata_blocked": all(METADATA in b.get("except", []) for b in blocks),
        "memory": container["resources"]["limits"]["memory"],
        "cpu": container["resources"]["limits"]["cpu"],
        "environment": {e["name"]: e["value"] for e in container["env"]},
        "workdir": container["workingDir"],
        # KubeSpawner passes it to jupyterhub-singleuser through JUPYTERHUB_DEFAULT_URL
        "default_url": None,
        "no_new_privileges": security["allowPrivilegeEscalation"] is False,
        "caps_dropped": security["capabilities"]["drop"] == ["ALL"],
        "command": container["args"][: len(container["args"]) - 1],  # minus --port
    }


@pytest.mark.parametrize("case", sorted(TABLE))
def test_golden(case: str) -> None:
    raw, public = TABLE[case]
    rendered = render(raw, public)
    path = GOLDEN / f"{case}.yaml"
    text = yaml.safe_dump(rendered, sort_keys=True)
    if os.environ.get("VERSAHUB_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with VERSAHUB_UPDATE_GOLDEN=1"
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(text)


@pytest.mark.parametrize("case", sorted(TABLE))
def test_both_backends_enforce_the_same(case: str) -> None:
    raw, public = TABLE[case]
    rendered = render(raw, public)
    docker, kube = docker_view(rendered["docker"]), kube_view(rendered["kubernetes"])
    docker_url = docker.pop("default_url")
    kube.pop("default_url")
    assert docker == kube
    assert docker_url == "/" + _plan(raw, public).default_url


def test_internet_off_leaves_only_hub_and_dns() -> None:
    plan = _plan(TABLE["named-offline-credentials-limits"][0], False)
    policy = network_policy(plan, SETTINGS, "p")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    egress = policy["spec"]["egress"]
    assert all("ipBlock" not in peer for rule in egress for peer in rule["to"])
    ports = sorted((p["protocol"], p["port"]) for rule in egress for p in rule["ports"])
    assert ports == [("TCP", 53), ("TCP", SETTINGS.hub_port), ("UDP", 53)]


def test_secret_never_printed_and_public_copy_has_none() -> None:
    plan = _plan(TABLE["named-offline-credentials-limits"][0], False)
    secret = credentials_secret(plan, SETTINGS, "p", None)
    assert "token" not in str(secret["stringData"]).lower().replace("a hub token", "")
    assert _plan(TABLE["public-readonly-copy"][0], True).credentials is None


def test_hub_on_a_host_is_reached_at_its_address_only() -> None:
    """``versahub up`` with servers in a cluster: the hub and its proxy are one host."""
    from dataclasses import replace

    host = replace(SETTINGS, hub_in_cluster=False, hub_ip="10.1.2.3")
    plan = _plan(TABLE["named-offline-credentials-limits"][0], False)
    policy = network_policy(plan, host, "p")
    assert host.hub_url == "http://10.1.2.3:8081"
    assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.1.2.3/32"}}]
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.1.2.3/32"}}]
    assert policy["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8081}]
