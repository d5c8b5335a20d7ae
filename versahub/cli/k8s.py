"""``versahub k8s plan``: the Kubernetes objects a launch would create, as YAML.

The spec (launch URL or spec file) is judged exactly as ``versahub policy check`` judges it
(the site's OPA, or a temporary one when no site runs); a denial prints the findings and
exits 3 — there is no plan of a denied spec. An allowed spec becomes the same runtime plan
the hub makes, rendered by the same renderer the hub's KubeSpawner uses: the Pod (through
KubeSpawner's own ``make_pod``), the server's NetworkPolicy and, when the spec asks for
credentials, the Secret (its content is shown as a placeholder: tokens are minted at
start). Nothing is sent to a cluster; pipe it to ``kubectl apply --dry-run=server -f -``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Any

import click
import yaml

from versahub.cli.policy import (
    OPA_URL_ENV,
    _decide,
    load_site_for_cli,
    reachable_opa,
    read_spec_source,
    render_table,
    site_policy_data,
)
from versahub.errors import EXIT_DENIED
from versahub.hub.kubernetes import (
    KubeSettings,
    credentials_secret,
    network_policy,
    pod_manifest,
    pod_name_for,
)
from versahub.launch.plan import effective_mounts, make_plan
from versahub.launch.service import site_summary
from versahub.policy.client import PolicyClient
from versahub.policy.input import build_input


@click.group(name="k8s")
def k8s_group() -> None:
    """Kubernetes: print what a launch creates in the cluster."""


@k8s_group.command(name="plan")
@click.argument("source", metavar="URL|FILE")
@click.option("--user", "user", default=None, help="Owner of the server (default: you).")
@click.option("--group", "groups", multiple=True, help="A group of the user (repeatable).")
@click.option(
    "--site", "site_file", default=None,
    help="site.yaml (default: the repository's site.yaml, else the built-in defaults).",
)  # fmt: skip
@click.option(
    "--image", default=None,
    help="Image to show (default: a placeholder; the hub resolves the ref and builds at launch).",
)  # fmt: skip
@click.option("--opa", "opa_url", default=None, help="OPA base URL (as `versahub policy check`).")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for OPA.")
@click.pass_context
def plan_command(
    ctx: click.Context,
    source: str,
    user: str | None,
    groups: tuple[str, ...],
    site_file: str | None,
    image: str | None,
    opa_url: str | None,
    timeout: float,
) -> None:
    """Print the Pod, NetworkPolicy and Secret a launch of URL|FILE creates, as YAML."""
    owner = user or getpass.getuser()
    site = load_site_for_cli(None if site_file is None else Path(site_file))
    spec = read_spec_source(source, owner=owner, volumes=list(site.volumes))
    doc = build_input(
        spec, {"name": owner, "groups": list(groups), "admin": False},
        {"external": False, "referrer": None}, None, site_summary(site),
        mounts=effective_mounts(spec, site),
    )  # fmt: skip
    url = opa_url or os.environ.get(OPA_URL_ENV) or site.opa_url
    PolicyClient(url)  # validates the URL before anything starts
    with reachable_opa(url, site_policy_data(site), quiet=True) as live:
        decision = asyncio.run(_decide(live, doc, timeout))
    if not decision.allowed:
        click.echo(render_table(decision, spec.spec_id), err=True)
        ctx.exit(EXIT_DENIED)
    settings = KubeSettings.from_site(site)
    layout = settings.layout("/srv/versahub")
    plan = make_plan(
        spec, site, decision, owner=owner,
        image=image or f"versahub/unbuilt-{spec.spec_id[:12]}:pending", layout=layout,
    )  # fmt: skip
    pod_name = pod_name_for(owner, spec.server_name)
    objects: list[dict[str, Any]] = [
        pod_manifest(plan, settings, pod_name, volumes_dir=layout.volumes_dir),
        network_policy(plan, settings, pod_name),
    ]
    if plan.credentials is not None:
        objects.append(credentials_secret(plan, settings, pod_name, None))
    click.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
