"""Create one typed pulumi-kubernetes resource from one manifest of the pure builders.

The builders (``versahub.deploy.kubernetes*``) return the API's own camelCase dicts; the
typed classes of pulumi-kubernetes accept those dicts as they are for nested fields
(``spec``, ``metadata``), so only top-level fields are renamed to the SDK's arguments.
Typed classes rather than ``yaml.v2.ConfigGroup``: each object is its own resource in the
state (diffs and replacements per object), the SDK's mocks see every one of them, and no
remote component of the provider is needed. An unknown kind is an error, never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi_kubernetes as k8s

import pulumi

_CLASSES: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolume"): k8s.core.v1.PersistentVolume,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}

_ARGUMENTS = {
    "metadata": "metadata",
    "spec": "spec",
    "data": "data",
    "stringData": "string_data",
    "type": "type",
    "rules": "rules",
    "roleRef": "role_ref",
    "subjects": "subjects",
    "automountServiceAccountToken": "automount_service_account_token",
}

_STORAGE_KINDS = {"PersistentVolume", "PersistentVolumeClaim"}


def resource_name(manifest: Mapping[str, Any]) -> str:
    """The logical name in the stack: ``<kind>-<name>`` (kinds in lower case)."""
    return f"{manifest['kind'].lower()}-{manifest['metadata']['name']}"


def create(
    manifest: Mapping[str, Any], opts: pulumi.ResourceOptions, *, protect_storage: bool = False
) -> pulumi.CustomResource:
    """Register ``manifest`` as its typed resource (``opts`` carries ``parent=…``)."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key not in _CLASSES:
        raise pulumi.RunError(f"no resource class for {key[0]} {key[1]}")
    kwargs: dict[str, Any] = {}
    for field, value in manifest.items():
        if field in ("apiVersion", "kind"):
            continue
        if field not in _ARGUMENTS:
            raise pulumi.RunError(f"{key[1]} {manifest['metadata']['name']}: unknown field {field}")
        kwargs[_ARGUMENTS[field]] = value
    if protect_storage and manifest["kind"] in _STORAGE_KINDS:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
    return _CLASSES[key](resource_name(manifest), opts=opts, **kwargs)


def inherited(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """The ``depends_on`` of a component's options, for its children: a child waits for what
    its component waits for (Pulumi does not pass a parent's ``depends_on`` down)."""
    if opts is None or opts.depends_on is None:
        return []
    deps = opts.depends_on
    return list(deps) if isinstance(deps, list | tuple) else [deps]  # type: ignore[list-item]


def create_all(
    manifests: Iterable[Mapping[str, Any]],
    parent: pulumi.Resource,
    *,
    depends_on: list[pulumi.Resource] | None = None,
    protect_storage: bool = False,
) -> dict[str, pulumi.CustomResource]:
    """Register every manifest as a child of ``parent``; returns them by logical name.

    Deployments wait for their siblings (ConfigMaps, Secrets, claims, the service account
    and its role) so their pods start with everything they mount, but not for Services: the
    provider waits for a Service's endpoints, which only the Deployment's pods give it.
    """
    manifests = list(manifests)
    base = list(depends_on or [])
    opts = pulumi.ResourceOptions(parent=parent, depends_on=base)
    created: dict[str, pulumi.CustomResource] = {}
    for m in manifests:
        if m["kind"] != "Deployment":
            created[resource_name(m)] = create(m, opts, protect_storage=protect_storage)
    needed = [r for name, r in created.items() if not name.startswith("service-")]
    after = pulumi.ResourceOptions(parent=parent, depends_on=[*base, *needed])
    for m in manifests:
        if m["kind"] == "Deployment":
            created[resource_name(m)] = create(m, after, protect_storage=protect_storage)
    return created
