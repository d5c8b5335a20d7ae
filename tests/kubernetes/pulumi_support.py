"""Helpers for the Pulumi program's cluster tests: a copy of the project with its own site and
stack, and the manifests the program renders (captured under the SDK's mocks at its gate).

The copy is what an operator's checkout is: ``Pulumi.yaml``, the stack file, ``pulumi/`` and
``policies/``, and a ``site.yaml`` naming a namespace of its own, so that test runs never
share objects (PersistentVolumes are cluster-wide and named after the namespace).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = REPO_ROOT / "pulumi"

PROXY_TOKEN = "k8s-test-proxy-token-" + "0" * 24
COOKIE_SECRET = "0123456789abcdef" * 4
DEMO_PASSWORD = "k8s-test-demo-password"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


@dataclass
class Project:
    """A copy of the Pulumi project in ``dir`` with stack ``stack`` deploying ``namespace``."""

    dir: Path
    stack: str
    namespace: str
    node_port: int

    @property
    def site_file(self) -> Path:
        return self.dir / "site.yaml"


def site_document(namespace: str) -> dict[str, Any]:
    """The repository's site.yaml with the test's namespace."""
    doc = yaml.safe_load((REPO_ROOT / "site.yaml").read_text())
    doc["kubernetes"] = {**doc.get("kubernetes", {}), "namespace": namespace}
    return doc


def copy_project(dst: Path, *, stack_base: str = "local") -> Project:
    """Copy the project into ``dst`` with a fresh namespace and stack ``<stack_base>-<hex>``
    (its stack file a copy of ``Pulumi.<stack_base>.yaml`` with a free node port and host
    folders under ``dst``)."""
    suffix = secrets.token_hex(3)
    namespace, stack = f"vh-{suffix}", f"{stack_base}-{suffix}"
    node_port = 30000 + int(suffix, 16) % 2700
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "Pulumi.yaml", dst / "Pulumi.yaml")
    shutil.copytree(PROGRAM_DIR, dst / "pulumi", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "policies", dst / "policies")
    (dst / "site.yaml").write_text(yaml.safe_dump(site_document(namespace), sort_keys=False))
    config = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack_base}.yaml").read_text())["config"]
    config["versahub:nodePort"] = node_port
    config["versahub:hubUrl"] = f"http://127.0.0.1:{node_port}"
    if config.get("versahub:storage") == "hostPath":
        config["versahub:hostPath"] = str(dst / "node")
    (dst / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return Project(dst, stack, namespace, node_port)


def render_program(project_dir: Path, stack: str, config: dict[str, str]) -> list[dict[str, Any]]:
    """Run the program of ``project_dir`` under the SDK's mocks and return the manifests it
    hands to its deploy-policy gate (everything it would create, in order). The gate
    itself is the real one: it runs OPA; a violation raises ``pulumi.RunError``."""
    import pulumi

    if str(project_dir / "pulumi") not in sys.path:
        sys.path.insert(0, str(project_dir / "pulumi"))
    import vh_program

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
            return {}, []

    captured: list[dict[str, Any]] = []
    real_gate = vh_program.gate

    def gate(manifests: list[dict[str, Any]], policy_dir: Path = vh_program.POLICY_DIR) -> None:
        captured.extend(manifests)
        real_gate(manifests, policy_dir)

    loop = asyncio.new_event_loop()  # the SDK runs on the thread's current loop: set it first
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(Mocks(), project="versahub", stack=stack, preview=True)
    full = {
        "versahub:proxyAuthToken": PROXY_TOKEN,
        "versahub:cookieSecret": COOKIE_SECRET,
        "versahub:demoPassword": DEMO_PASSWORD,
        **config,
    }
    secret_keys = [k for k in full if k.split(":")[1] in (
        "proxyAuthToken", "cookieSecret", "demoPassword", "tlsCertificate", "tlsKey")]  # fmt: skip
    pulumi.runtime.set_all_config(full, secret_keys)
    vh_program.gate = gate
    try:

        @pulumi.runtime.test
        def program() -> None:
            vh_program.main(project_dir)

        program()
    finally:
        vh_program.gate = real_gate
        asyncio.set_event_loop(None)
        loop.close()
    return [_plain(m) for m in captured]


def _plain(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest for kubectl: the Secrets' values (Pulumi outputs) as placeholder text."""
    if manifest["kind"] == "Secret":
        manifest = {**manifest, "stringData": {k: _placeholder(k) for k in manifest["stringData"]}}
    return manifest


def _placeholder(key: str) -> str:
    return {"tls.crt": CERT, "tls.key": KEY}.get(key, "placeholder-" + key)
