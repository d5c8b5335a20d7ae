"""The Pulumi program (pulumi/) under the SDK's mocks: what the API server cannot show.

Both stacks run the whole program with no CLI and no cluster: the local stack exposes the
proxy on a node port and keeps data in host folders; the cloud stack has a LoadBalancer, a
TLS Secret and claims on storage classes. Secrets stay secrets; a configuration error or a
deploy-policy violation stops the program before any resource is registered. The deploy
policies themselves run through the real OPA in tests/kubernetes/test_deploy_manifests.py;
here the gate is replaced by a recorder of what it was given.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from versahub.deploy.kubernetes import derived_secret

pulumi = pytest.importorskip("pulumi")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "pulumi"))  # the program's modules (vh_*), as the CLI runs them

import vh_program  # noqa: E402
from pulumi.runtime import rpc  # noqa: E402

from versahub.deploy.kubernetes_policy import Violation  # noqa: E402

SECRETS = {
    "versahub:proxyAuthToken": "p" * 48,
    "versahub:cookieSecret": "0123456789abcdef" * 4,
    "versahub:demoPassword": "correct horse",
}
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
LOCAL = {
    "versahub:hubUrl": "http://127.0.0.1:30080",
    "versahub:serviceType": "NodePort",
    "versahub:nodePort": "30080",
    "versahub:storage": "hostPath",
    "versahub:hostPath": "/srv/versahub",
}
CLOUD = {
    "versahub:hubUrl": "https://hub.example.org",
    "versahub:serviceType": "LoadBalancer",
    "versahub:storage": "storageClass",
    "versahub:storageClass": "nfs-client",
    "versahub:stateStorageClass": "ssd",
    "versahub:protectStorage": "true",
    "versahub:tlsCertificate": CERT,
    "versahub:tlsKey": KEY,
}
SECRET_KEYS = [*SECRETS, "versahub:tlsCertificate", "versahub:tlsKey"]


def revealed(value: Any) -> Any:
    """The plain value of a secret as the mock monitor receives it; fails on a plain value."""
    assert isinstance(value, dict), f"not a secret: {value!r}"
    assert value.get(rpc._special_sig_key) == rpc._special_secret_sig, f"not a secret: {value!r}"
    return value["value"]


class Recorder(pulumi.runtime.Mocks):
    """Records every registered resource (type, name, inputs)."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return {}, []

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """Kubernetes objects of ``kind`` by their metadata name."""
        token = {"Service": "core/v1:Service", "Secret": "core/v1:Secret",
                 "PersistentVolume": "core/v1:PersistentVolume",
                 "PersistentVolumeClaim": "core/v1:PersistentVolumeClaim",
                 "Deployment": "apps/v1:Deployment", "Namespace": "core/v1:Namespace",
                 "NetworkPolicy": "networking.k8s.io/v1:NetworkPolicy",
                 "ConfigMap": "core/v1:ConfigMap"}[kind]  # fmt: skip
        return {
            r.inputs["metadata"]["name"]: r.inputs
            for r in self.resources
            if r.typ == f"kubernetes:{token}"
        }


@pytest.fixture(autouse=True)
def event_loop_for_pulumi() -> Iterator[None]:
    """The SDK runs the program on the thread's current event loop; other tests (asyncio
    ones) may have closed it, so each test here gets its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        "hub:\n  auth: {kind: demo, users: [alice]}\n"
        "registry: {enabled: true, address: 127.0.0.1:5000}\n"
        "kubernetes: {namespace: lab}\n"
    )
    return path


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[dict[str, Any]]]]:
    calls: list[list[dict[str, Any]]] = []

    def check(manifests: Any, *, policy_dir: Path) -> list[Violation]:
        calls.append(list(manifests))
        return []

    monkeypatch.setattr(vh_program, "check_manifests", check)
    yield calls


def run(stack: str, config: dict[str, str], site_file: Path) -> tuple[Recorder, dict[str, Any]]:
    """Run the program under mocks with ``config`` (plus the secrets); return the recorder
    and the stack outputs."""
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="versahub", stack=stack, preview=False)
    full = {"versahub:siteFile": str(site_file), **SECRETS, **config}
    pulumi.runtime.set_all_config(full, [k for k in SECRET_KEYS if k in full])
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        exported: dict[str, Any] = {}
        original = pulumi.export
        try:
            pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore
            vh_program.main(REPO)
        finally:
            pulumi.export = original  # type: ignore[assignment]
        names = sorted(exported)
        return pulumi.Output.all(*[exported[n] for n in names]).apply(
            lambda values: outputs.update(zip(names, values, strict=True))
        )

    program()
    return mocks, outputs


def test_local_stack_node_port_and_host_folders(site_file: Path, gate: list) -> None:
    mocks, outputs = run("local", LOCAL, site_file)
    public = mocks.of("Service")["proxy-public"]
    assert public["spec"]["type"] == "NodePort"
    assert public["spec"]["ports"][0]["nodePort"] == 30080
    pvs = mocks.of("PersistentVolume")
    assert pvs["lab-volumes"]["spec"]["hostPath"]["path"] == "/srv/versahub/volumes"
    assert mocks.of("PersistentVolumeClaim")["versahub-volumes"]["spec"]["volumeName"] == (
        "lab-volumes"
    )
    assert outputs["hubUrl"] == "http://127.0.0.1:30080"
    assert outputs["adminSecret"] == "versahub-hub"
    assert outputs["namespace"] == "lab"
    assert outputs["proxyAddress"] == "node port 30080"
    assert outputs["opaUrl"] == "http://opa:8181"


def test_cloud_stack_load_balancer_tls_secret_and_storage_classes(
    site_file: Path, gate: list
) -> None:
    mocks, outputs = run("cloud", CLOUD, site_file)
    public = mocks.of("Service")["proxy-public"]
    assert public["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in public["spec"]["ports"]] == [443, 80]
    tls = mocks.of("Secret")["versahub-tls"]
    assert tls["type"] == "kubernetes.io/tls"
    assert revealed(tls["stringData"]) == {"tls.crt": CERT, "tls.key": KEY}
    proxy = mocks.of("Deployment")["proxy"]["spec"]["template"]["spec"]
    assert proxy["volumes"] == [{"name": "tls", "secret": {"secretName": "versahub-tls"}}]
    claims = mocks.of("PersistentVolumeClaim")
    assert claims["versahub-volumes"]["spec"]["storageClassName"] == "nfs-client"
    assert claims["versahub-volumes"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["versahub-hub-state"]["spec"]["storageClassName"] == "ssd"
    assert claims["versahub-registry"]["spec"]["storageClassName"] == "ssd"
    assert mocks.of("PersistentVolume") == {}  # no host folders in a cloud
    assert outputs["hubUrl"] == "https://hub.example.org"


def test_every_component_is_a_component_with_its_objects_as_children(
    site_file: Path, gate: list
) -> None:
    mocks, outputs = run("local", LOCAL, site_file)
    components = {r.typ.split(":")[-1]: r for r in mocks.resources
                  if r.typ.startswith("versahub:kubernetes:")}  # fmt: skip
    assert set(components) == {"Hub", "Proxy", "PolicyEngine", "Registry", "Builder",
                               "Storage", "NetworkPolicies", "Culler"}  # fmt: skip
    assert outputs["components"] == ["NetworkPolicies", "Storage", "Culler", "Builder",
                                     "PolicyEngine", "Registry", "Hub", "Proxy"]  # fmt: skip
    # every Kubernetes object but the namespace is registered as a child of a component
    children = [r for r in mocks.resources if r.typ.startswith("kubernetes:")]
    assert len(children) == len(gate[0])
    assert sorted(r.name for r in children) == sorted(
        f"{m['kind'].lower()}-{m['metadata']['name']}" for m in gate[0]
    )
    # all through the program's provider, which updates ConfigMaps in place (hot reload)
    [provider] = [r for r in mocks.resources if r.typ == "pulumi:providers:kubernetes"]
    assert provider.inputs["enableConfigMapMutable"] in (True, "true")
    assert {r.provider.split("::")[-2] for r in children} == {"kubernetes"}


def test_secrets_stay_secrets(site_file: Path, gate: list) -> None:
    mocks, _ = run("local", LOCAL, site_file)
    admin = mocks.of("Secret")["versahub-hub"]
    assert revealed(admin["stringData"]) == {
        "proxy-auth-token": SECRETS["versahub:proxyAuthToken"],
        "cookie-secret": SECRETS["versahub:cookieSecret"],
        "demo-password": SECRETS["versahub:demoPassword"],
        # derived from the cookie secret (docs/policies.md#decision-records)
        "decision-log-token": derived_secret(
            SECRETS["versahub:cookieSecret"], "versahub decision-log token"
        ),
    }
    # the policy gate never sees a secret's value
    for manifest in gate[0]:
        text = repr(manifest)
        assert SECRETS["versahub:cookieSecret"] not in text or manifest["kind"] == "Secret"
    # and no other object carries one
    for r in mocks.resources:
        if r.typ != "kubernetes:core/v1:Secret":
            for secret in SECRETS.values():
                assert secret not in repr(r.inputs), r.name


def test_the_gate_sees_every_manifest_before_anything_is_registered(
    site_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered_before: list[int] = []
    mocks_holder: list[Recorder] = []

    def refuse(manifests: Any, *, policy_dir: Path) -> list[Violation]:
        registered_before.append(len(mocks_holder[0].resources) if mocks_holder else 0)
        return [Violation("deploy-privileged", "critical",
                          "Deployment lab/web: spec.template.spec.containers[0] (app) has "
                          "securityContext.privileged: true; …", "Remove it.")]  # fmt: skip

    monkeypatch.setattr(vh_program, "check_manifests", refuse)
    original = Recorder.__init__

    def init(self: Recorder) -> None:
        original(self)
        mocks_holder.append(self)

    monkeypatch.setattr(Recorder, "__init__", init)
    with pytest.raises(pulumi.RunError) as err:
        run("local", LOCAL, site_file)
    assert "the deploy policies refuse these manifests" in str(err.value)
    assert "[deploy-privileged] Deployment lab/web" in str(err.value)
    assert registered_before == [0]
    assert mocks_holder[0].resources == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"versahub:nodePort": "80"},
                     "versahub:nodePort: 80 is not a node port", id="node-port"),
        pytest.param({"versahub:nodeport": "30080"}, "versahub:nodeport: unknown key",
                     id="typo"),
        pytest.param({"versahub:cookieSecret": "nothex"},
                     "versahub:cookieSecret: must be 64 hexadecimal", id="cookie"),
        pytest.param({"versahub:siteFile": "/nonexistent/site.yaml"},
                     "versahub:siteFile: /nonexistent/site.yaml is not a file", id="site"),
    ],
)  # fmt: skip
def test_a_config_error_stops_before_any_resource(
    site_file: Path, gate: list, config: dict, message: str
) -> None:
    holder: list[Recorder] = []
    original = Recorder.__init__

    def init(self: Recorder) -> None:
        original(self)
        holder.append(self)

    Recorder.__init__ = init  # type: ignore[method-assign]
    try:
        with pytest.raises(pulumi.RunError) as err:
            run("local", {**LOCAL, **config}, site_file)
    finally:
        Recorder.__init__ = original  # type: ignore[method-assign]
    assert str(err.value) == f"configuration error: {message}" or message in str(err.value)
    assert gate == []
    assert holder[0].resources == []


def test_an_invalid_site_names_the_site_key(tmp_path: Path, gate: list) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text("kubernetes: {namespace: Not_A_Name}\n")
    with pytest.raises(pulumi.RunError) as err:
        run("local", LOCAL, bad)
    assert "versahub:siteFile: site.yaml: kubernetes.namespace" in str(err.value)
