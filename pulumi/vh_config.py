"""Read and check the stack's configuration, and the site it points at, before anything else.

Every ``versahub:`` key of the stack is checked by ``versahub.deploy.kubernetes_settings``
against its declaration in ``Pulumi.yaml``; the site file is loaded through the one site
object and its in-cluster version validated. Any problem raises :class:`pulumi.RunError`
with one line naming the key, so ``pulumi preview``/``up`` stop before a resource is
registered. Secrets come back as secret ``Output`` values (``require_secret``/``get_secret``);
their plain text is only looked at to check its form.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi.runtime import config as runtime_config

import pulumi
from versahub.deploy.kubernetes_settings import (
    PROJECT,
    DeploySettings,
    declared_keys,
    resolve_values,
    stack_settings,
)
from versahub.deploy.kubernetes_site import cluster_site
from versahub.errors import InputError
from versahub.site.config import Site
from versahub.site.lti import lti_kind
from versahub.site.source import site_file

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StackInputs:
    """The checked inputs of one run: settings, the operator's site and the in-cluster one,
    and the secrets as secret outputs."""

    settings: DeploySettings
    site: Site
    cluster: Site
    secrets: Mapping[str, pulumi.Output[str]]


def _given_config() -> dict[str, Any]:
    """Every config value the engine passed (``versahub:*`` and other providers' keys)."""
    given: dict[str, Any] = {}
    given.update(runtime_config.get_config_env())
    given.update(runtime_config.CONFIG.get())
    return given


def _secret_keys(given: Mapping[str, Any]) -> frozenset[str]:
    """The keys set as secrets (``pulumi config set --secret``), as the engine says."""
    env = frozenset(runtime_config.get_config_secret_keys_env())
    return env | frozenset(k for k in given if runtime_config.is_config_secret(k))


def load_inputs(project_dir: Path = PROJECT_DIR) -> StackInputs:
    """Check the stack's config and its site; raise :class:`pulumi.RunError` naming the key."""
    try:
        declared = declared_keys(project_dir / "Pulumi.yaml")
        given = _given_config()
        values, plain = resolve_values(declared, given, _secret_keys(given))
        path = Path(str(values["siteFile"]))
        path = path if path.is_absolute() else project_dir / path
        if not path.is_file():
            raise InputError(f"{PROJECT}:siteFile", f"{path} is not a file")
        try:
            site = site_file(path).current()
        except InputError as err:
            raise InputError(f"{PROJECT}:siteFile: {err.field}", err.reason) from None
        demo = site.data["hub"]["auth"]["kind"] == "demo"
        lti = lti_kind(site.data["hub"]["auth"]) is not None
        settings = stack_settings(pulumi.get_stack(), values, plain, demo_login=demo, lti_login=lti)
        cluster = cluster_site(site, settings)
    except InputError as err:
        raise pulumi.RunError(f"configuration error: {err}") from None
    except OSError as err:
        raise pulumi.RunError(f"configuration error: {err}") from None
    config = pulumi.Config(PROJECT)
    secrets = {name: config.require_secret(name) for name, value in plain.items() if value}
    return StackInputs(settings=settings, site=site, cluster=cluster, secrets=secrets)


def source_label(settings: DeploySettings) -> str:
    """How the generated site.yaml names its source (relative, no host paths)."""
    return os.path.normpath(settings.site_file)
