"""The Pulumi stack's configuration, checked in full before anything is rendered or applied.

``Pulumi.yaml`` is the one place where the stack's keys are declared (type, default,
description); :func:`declared_keys` reads that block and :func:`stack_settings` turns the
values of one stack (``Pulumi.<stack>.yaml`` plus the defaults) into a frozen
:class:`DeploySettings`, raising :class:`~versahub.errors.InputError` naming the key
(``versahub:nodePort: 70000 is not a port (30000-32767)``) on the first problem: an
unknown key (a typo), a wrong type, a value out of range, a combination that cannot work,
or a secret given in plain text. Pure apart from reading ``Pulumi.yaml``; it never sees
a secret's value outside the check of its form, and never puts one in a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from versahub import __version__
from versahub.errors import InputError, shorten
from versahub.util.yamlfile import load_yaml

PROJECT = "versahub"
ConfigType = Literal["string", "integer", "boolean"]

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
# an image reference with a tag (or a digest), e.g. quay.io/jupyterhub/chp:4.6.3
_IMAGE = re.compile(
    r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_URL = re.compile(r"^https?://[^\s/?#]+/?$")
_COOKIE_SECRET = re.compile(r"^[0-9a-fA-F]{64}$")
NODE_PORTS = range(30000, 32768)
# Secrets that may be left unset. Pulumi.yaml cannot declare them as such (a declared key
# without a default is required, and the CLI refuses a default for a `secret: true` key), so
# they are declared as strings with an empty default and treated as secrets here.
OPTIONAL_SECRETS = frozenset({"demoPassword", "cryptKey", "tlsCertificate", "tlsKey"})
MIN_TOKEN = 32


@dataclass(frozen=True)
class ConfigKey:
    """One key of ``Pulumi.yaml``'s ``config:`` block (without the ``versahub:`` prefix)."""

    name: str
    type: ConfigType
    default: Any
    secret: bool
    description: str


@dataclass(frozen=True)
class Images:
    """The pinned image of every component (``repository:tag``)."""

    hub: str
    proxy: str
    opa: str
    registry: str
    builder: str


@dataclass(frozen=True)
class StorageSettings:
    """Where persistent data lives: host folders (``hostPath``) or a storage class."""

    kind: Literal["hostPath", "storageClass"]
    host_path: str
    storage_class: str
    state_storage_class: str
    volumes_size: str
    hub_size: str
    registry_size: str
    protect: bool


@dataclass(frozen=True)
class DeploySettings:
    """Everything the manifests need besides the site: one stack's checked configuration."""

    stack: str
    site_file: str
    hub_url: str
    service_type: Literal["NodePort", "LoadBalancer"]
    node_port: int
    storage: StorageSettings
    tls: Literal["none", "secret", "certificate"]
    tls_secret_name: str
    builder_disk_limit: str
    images: Images
    demo_password: bool
    crypt_key: bool = False  # the hub gets JUPYTERHUB_CRYPT_KEY (an LTI site)

    @property
    def tls_enabled(self) -> bool:
        return self.tls != "none"


def declared_keys(pulumi_yaml: Path) -> dict[str, ConfigKey]:
    """The ``versahub:*`` keys declared in ``Pulumi.yaml``, by short name."""
    doc = load_yaml(pulumi_yaml.read_text("utf-8"))
    keys: dict[str, ConfigKey] = {}
    for full, spec in (doc.get("config") or {}).items():
        project, _, name = str(full).partition(":")
        if project != PROJECT or not name or not isinstance(spec, Mapping):
            continue
        keys[name] = ConfigKey(
            name=name,
            type=spec.get("type", "string"),
            default=spec.get("default"),
            secret=bool(spec.get("secret", False)) or name in OPTIONAL_SECRETS,
            description=str(spec.get("description", "")),
        )
    return keys


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def _coerce(key: ConfigKey, value: Any) -> Any:
    """A value of the declared type: the CLI hands every value over as text or JSON."""
    if key.type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise InputError(_key(key.name), f"{shorten(value)} is not true or false")
    if key.type == "integer":
        if isinstance(value, bool):
            raise InputError(_key(key.name), f"{shorten(value)} is not a whole number")
        try:
            return int(str(value), 10)
        except ValueError:
            raise InputError(_key(key.name), f"{shorten(value)} is not a whole number") from None
    if not isinstance(value, str):
        raise InputError(_key(key.name), f"expected text, got {type(value).__name__}")
    return value


def resolve_values(
    declared: Mapping[str, ConfigKey],
    given: Mapping[str, Any],
    secret_keys: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Split one stack's config (full keys ``versahub:name``) into ``(values, secrets)``:
    declared defaults overlaid with ``given``, each value coerced to its type, and the
    secrets' plain text (only for :func:`stack_settings` to check their form). Refuses an
    undeclared ``versahub:`` key and a secret that was set in plain text."""
    values: dict[str, Any] = {}
    secrets: dict[str, str | None] = {}
    for full in sorted(given):
        project, _, name = full.partition(":")
        if project != PROJECT:
            continue  # kubernetes:context and other providers' keys are theirs
        if name not in declared:
            known = ", ".join(sorted(declared))
            raise InputError(full, f"unknown key (the keys are: {known})")
        if declared[name].secret and given[full] not in ("", None) and full not in secret_keys:
            raise InputError(full, f"must be a secret: pulumi config set --secret {full} <value>")
    for name, key in declared.items():
        raw = given.get(_key(name), key.default)
        if key.secret:
            secrets[name] = None if raw is None else str(raw)
        else:
            values[name] = None if raw is None else _coerce(key, raw)
    return values, secrets


def _quantity(values: Mapping[str, Any], name: str) -> str:
    value = str(values[name])
    if not _QUANTITY.match(value):
        raise InputError(_key(name), f"{shorten(value)} is not a Kubernetes quantity (e.g. 20Gi)")
    return value


def _image(values: Mapping[str, Any], name: str, default: str = "") -> str:
    value = str(values[name] or default)
    if not _IMAGE.match(value):
        raise InputError(
            _key(name), f"{shorten(value)} is not an image reference with a tag (name:tag)"
        )
    if value.endswith(":latest"):
        raise InputError(_key(name), f"{shorten(value)} is not pinned: name a version, not latest")
    return value


def _choice(values: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = str(values[name])
    if value not in choices:
        raise InputError(_key(name), f"{shorten(value)} is not one of: {', '.join(choices)}")
    return value


def check_secret(name: str, value: str | None, *, required: bool) -> None:
    """Check a secret's form without ever showing it; ``None`` is a missing key."""
    if value is None or value == "":
        if required:
            raise InputError(
                _key(name), f"is not set: pulumi config set --secret {_key(name)} <value>"
            )
        return
    if name in ("cookieSecret", "cryptKey") and not _COOKIE_SECRET.match(value):
        raise InputError(
            _key(name), "must be 64 hexadecimal characters (32 bytes: openssl rand -hex 32)"
        )
    if name == "proxyAuthToken" and (len(value) < MIN_TOKEN or not value.isprintable()):
        raise InputError(
            _key(name), f"must be at least {MIN_TOKEN} printable characters (openssl rand -hex 32)"
        )
    if name == "tlsCertificate" and "-----BEGIN CERTIFICATE-----" not in value:
        raise InputError(_key(name), "is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if name == "tlsKey" and not re.search(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----", value):
        raise InputError(_key(name), "is not a PEM private key (-----BEGIN PRIVATE KEY-----)")


def stack_settings(
    stack: str,
    values: Mapping[str, Any],
    secrets: Mapping[str, str | None],
    *,
    demo_login: bool,
    lti_login: bool = False,
) -> DeploySettings:
    """Check the resolved ``values`` of one stack (see :func:`resolve_values`) and the form of
    its ``secrets`` (plain text, only looked at here); return the settings."""
    service_type = _choice(values, "serviceType", ("NodePort", "LoadBalancer"))
    node_port = int(values["nodePort"])
    if service_type == "NodePort" and node_port not in NODE_PORTS:
        raise InputError(_key("nodePort"), f"{node_port} is not a node port (30000-32767)")
    kind = _choice(values, "storage", ("hostPath", "storageClass"))
    host_path = str(values["hostPath"])
    if kind == "hostPath" and (
        not host_path.startswith("/") or host_path == "/" or ".." in host_path.split("/")
    ):
        raise InputError(
            _key("hostPath"), f"{shorten(host_path)} is not an absolute folder other than /"
        )
    storage_class = str(values["storageClass"])
    if kind == "storageClass" and not storage_class:
        raise InputError(
            _key("storageClass"),
            "is empty: storage storageClass needs a ReadWriteMany class for the volumes",
        )
    for name in ("storageClass", "stateStorageClass"):
        if values[name] and not re.match(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", values[name]):
            raise InputError(_key(name), f"{shorten(values[name])} is not a storage class name")
    storage = StorageSettings(
        kind=kind,  # type: ignore[arg-type]
        host_path=host_path.rstrip("/"),
        storage_class=storage_class,
        state_storage_class=str(values["stateStorageClass"]),
        volumes_size=_quantity(values, "volumesSize"),
        hub_size=_quantity(values, "hubStorageSize"),
        registry_size=_quantity(values, "registryStorageSize"),
        protect=bool(values["protectStorage"]),
    )
    hub_url = str(values["hubUrl"])
    if hub_url and not _URL.match(hub_url):
        raise InputError(_key("hubUrl"), f"{shorten(hub_url)} is not an http(s) URL of a host")
    tls_name = str(values["tlsSecretName"])
    if tls_name and not _DNS_LABEL.match(tls_name):
        raise InputError(_key("tlsSecretName"), f"{shorten(tls_name)} is not a Secret name")
    check_secret("proxyAuthToken", secrets.get("proxyAuthToken"), required=True)
    check_secret("cookieSecret", secrets.get("cookieSecret"), required=True)
    check_secret("demoPassword", secrets.get("demoPassword"), required=demo_login)
    check_secret("cryptKey", secrets.get("cryptKey"), required=lti_login)
    cert, key = secrets.get("tlsCertificate"), secrets.get("tlsKey")
    check_secret("tlsCertificate", cert, required=bool(key))
    check_secret("tlsKey", key, required=bool(cert))
    if cert and tls_name:
        raise InputError(
            _key("tlsSecretName"), "give either tlsSecretName or tlsCertificate + tlsKey, not both"
        )
    tls = "certificate" if cert else ("secret" if tls_name else "none")
    return DeploySettings(
        stack=stack,
        site_file=str(values["siteFile"]),
        hub_url=hub_url.rstrip("/"),
        service_type=service_type,  # type: ignore[arg-type]
        node_port=node_port,
        storage=storage,
        tls=tls,  # type: ignore[arg-type]
        tls_secret_name=tls_name or ("versahub-tls" if cert else ""),
        builder_disk_limit=_quantity(values, "builderDiskLimit"),
        images=Images(
            hub=_image(values, "hubImage", f"versahub/hub:{__version__}"),
            proxy=_image(values, "proxyImage"),
            opa=_image(values, "opaImage"),
            registry=_image(values, "registryImage"),
            builder=_image(values, "builderImage"),
        ),
        demo_password=demo_login,
        crypt_key=lti_login,
    )
