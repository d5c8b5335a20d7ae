"""site.yaml's Kubernetes settings: validated per field, and the hub settings they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from versahub.app.hubconfig import HubPaths, site_settings
from versahub.errors import InputError
from versahub.site.config import site_from_mapping


def settings(doc: dict, tmp_path: Path) -> dict:
    site = site_from_mapping(doc)
    return site_settings(site, paths=HubPaths(tmp_path), demo_password="pw", chp="chp")


def test_docker_is_the_default_backend(tmp_path: Path) -> None:
    out = settings({}, tmp_path)
    assert out["JupyterHub"]["spawner_class"] == "versahub.hub.spawner.VersaHubDockerSpawner"
    assert "VersaHubKubeSpawner" not in out


def test_servers_in_a_cluster_hub_on_a_host(tmp_path: Path) -> None:
    out = settings({"hub": {"spawner": "kubernetes"}, "kubernetes": {"namespace": "lab"}},
                   tmp_path)  # fmt: skip
    assert out["JupyterHub"]["spawner_class"] == "versahub.hub.kubespawner.VersaHubKubeSpawner"
    assert out["VersaHubKubeSpawner"]["namespace"] == "lab"
    # servers reach the hub on the host's address (hub.internal_ip), as the proxy does
    assert out["JupyterHub"]["hub_connect_url"] == "http://172.17.0.1:8081"
    assert out["VersaHubKubeSpawner"]["hub_connect_url"] == "http://172.17.0.1:8081"
    # the hub on a host starts its own proxy and keeps the bind address of `versahub up`
    assert out["ConfigurableHTTPProxy"]["should_start"] is True
    assert out["JupyterHub"]["hub_bind_url"] == "http://172.17.0.1:8081"


def test_hub_in_the_cluster(tmp_path: Path) -> None:
    out = settings(
        {"hub": {"spawner": "kubernetes"}, "kubernetes": {"hub_in_cluster": True}}, tmp_path
    )
    assert out["ConfigurableHTTPProxy"]["should_start"] is False
    assert out["ConfigurableHTTPProxy"]["api_url"] == "http://proxy-api:8001"
    assert out["JupyterHub"]["hub_bind_url"] == "http://0.0.0.0:8081"
    assert out["JupyterHub"]["hub_connect_url"] == "http://hub:8081"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        pytest.param({"hub": {"spawner": "podman"}}, "hub.spawner", id="unknown-backend"),
        pytest.param({"kubernetes": {"namespace": "Bad_NS"}}, "kubernetes.namespace", id="ns"),
        pytest.param({"kubernetes": {"namespace": "-x"}}, "kubernetes.namespace", id="ns-dash"),
        pytest.param(
            {"kubernetes": {"volumes_claim": "a" * 64}}, "kubernetes.volumes_claim", id="claim"
        ),
        pytest.param(
            {"kubernetes": {"metadata_cidr": "169.254.169.254"}},
            "kubernetes.metadata_cidr",
            id="cidr",
        ),
        pytest.param(
            {"kubernetes": {"pull_policy": "Sometimes"}}, "kubernetes.pull_policy", id="pull"
        ),
        pytest.param({"kubernetes": {"context": "x"}}, "kubernetes", id="unknown-key"),
        pytest.param(
            {"kubernetes": {"hub_in_cluster": "yes"}}, "kubernetes.hub_in_cluster", id="bool"
        ),
    ],
)
def test_bad_kubernetes_settings_name_the_field(doc: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert err.value.field == f"site.yaml: {field}"


def test_opa_off_loopback_only_for_a_hub_in_a_cluster() -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping({"opa": {"address": "opa:8181"}})
    assert err.value.field == "site.yaml: opa.address"
    assert "loopback" in err.value.reason
    with pytest.raises(InputError):
        site_from_mapping({"opa": {"address": "10.0.0.5:8181"}, "hub": {"spawner": "kubernetes"}})
    site = site_from_mapping(
        {"opa": {"address": "opa:8181"}, "hub": {"spawner": "kubernetes"},
         "kubernetes": {"hub_in_cluster": True}}
    )  # fmt: skip
    assert site.opa_url == "http://opa:8181"
