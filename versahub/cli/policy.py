"""``versahub policy …``: check a spec against the real OPA, and test and lint the policies.

``check`` builds the policy input exactly as the hub does and asks the site's OPA (``--opa``,
``$VERSAHUB_OPA_URL``, else ``opa.address`` of ``site.yaml``). Only when *nothing listens*
there (connection refused: no site is running) does it start a throw-away OPA on a free
loopback port with the repository's ``policies/`` and the site data rendered from
``site.yaml``, and it says so on stderr. An OPA that accepts connections but does not answer
in time (hung, overloaded) is never replaced: the check fails closed like the hub, with the
``policy-engine-unavailable`` denial. Exit 0 allowed, 3 denied, 2 bad input. ``test`` runs
``opa test --coverage``; ``lint`` runs ``opa check --strict`` and ``opa fmt --list``;
``decisions`` and ``impact`` read the recorded decisions (``versahub/cli/decisions.py``). This
module must never evaluate Rego itself nor leave an OPA running.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from versahub.cli.decisions import decisions_command, impact_command
from versahub.cli.spec import load_spec
from versahub.errors import EXIT_DENIED
from versahub.launch.plan import effective_mounts
from versahub.launch.service import site_summary
from versahub.policy.client import DEFAULT_OPA_URL, PolicyClient
from versahub.policy.data import write_site_data
from versahub.policy.decision import UNAVAILABLE_ID, Decision
from versahub.policy.input import build_input
from versahub.policy.server import POLICY_DIR, REPO_ROOT, OpaNotFound, OpaProcess, find_opa
from versahub.site import load_site, site_from_mapping

OPA_URL_ENV = "VERSAHUB_OPA_URL"
SITE_FILE = REPO_ROOT / "site.yaml"


# --- inputs -------------------------------------------------------------------------------


def load_site_for_cli(path: Path | None = None) -> Any:
    """The site ``check`` uses: ``path`` (must exist), else the repository's ``site.yaml``
    if present, else the defaults of ``versahub.site``."""
    if path is not None:
        return load_site(path)
    return load_site(SITE_FILE) if SITE_FILE.is_file() else site_from_mapping({})


def site_policy_data(site: Any) -> dict[str, Any]:
    """``data.versahub.site`` for a :class:`versahub.site.Site` (the one seam to site.yaml)."""
    return dict(site.policy_data())


def read_spec_source(source: str, *, owner: str, volumes: Collection[str] | None) -> Any:
    """A ServerSpec from a launch URL or a spec file, read as ``versahub spec parse`` does."""
    return load_spec(source, owner=owner, volumes=volumes)


# --- OPA ------------------------------------------------------------------------------------


def opa_listening(url: str, timeout: float = 0.5) -> bool:
    """False only when nothing listens at ``url``'s host and port (connection refused).

    Anything else — a connection accepted by a hung OPA, a connect timeout, a name that does
    not resolve — means an OPA is configured there, so it must be asked (and fail closed),
    never silently replaced.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return True
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


@contextlib.contextmanager
def reachable_opa(url: str, site_data: Mapping[str, Any], quiet: bool) -> Iterator[str]:
    """Yield ``url`` when an OPA listens there (answering or not: the client fails closed),
    else the URL of a temporary OPA (stopped after), saying so on stderr."""
    if opa_listening(url):
        yield url
        return
    try:
        opa = find_opa()
    except OpaNotFound as err:
        raise click.ClickException(f"no OPA at {url} and {err}") from None
    with tempfile.TemporaryDirectory(prefix="versahub-opa-") as tmp:
        write_site_data(site_data, Path(tmp) / "data")
        click.echo(
            f"versahub: no OPA is running at {url} (no site is up); answering from a temporary "
            f"OPA with {POLICY_DIR} and the site data of site.yaml",
            err=True,
        )
        note = None if quiet else (lambda m: click.echo(f"versahub: {m}", err=True))
        proc = OpaProcess(POLICY_DIR, Path(tmp) / "data", log_path=Path(tmp) / "opa.log", opa=opa)
        try:
            proc.start(timeout=15.0, progress=note)
        except Exception as err:
            raise click.ClickException(str(err)) from None
        try:
            yield proc.url
        finally:
            proc.stop()


async def _decide(url: str, doc: Mapping[str, Any], timeout: float) -> Decision:
    async with PolicyClient(url, timeout=timeout) as client:
        return await client.decide(doc)


# --- output ---------------------------------------------------------------------------------


def render_table(decision: Decision, spec_id: str | None) -> str:
    """The decision as text for people: verdict, then each finding with its mitigation."""
    verdict = "ALLOWED" if decision.allowed else "DENIED"
    if decision.requires_confirmation:
        verdict = "ALLOWED after the user confirms the warnings"
    lines = [f"Decision: {verdict}" + (f"  (spec {spec_id})" if spec_id else "")]
    for label, findings in (("Denied because", decision.deny), ("Warnings", decision.warn)):
        if not findings:
            continue
        lines.append("")
        lines.append(f"{label} ({len(findings)}):")
        for f in findings:
            lines.append(f"  {f.severity:<9}{f.id}  —  {f.title}")
            lines.append(f"  {'':<9}{f.message}")
            if f.mitigation:
                lines.append(f"  {'':<9}mitigation: {f.mitigation}")
    lines.append("")
    if decision.requires_confirmation and spec_id:
        lines.append(f"confirmation: {decision.confirmation_token(spec_id)}")
    if decision.decision_id:
        lines.append(f"decision id: {decision.decision_id}")
    return "\n".join(lines).rstrip()


# --- commands -------------------------------------------------------------------------------


@click.group(name="policy")
def policy_group() -> None:
    """Check specs against the site's security policy; test and lint the policy files."""


@policy_group.command(name="check")
@click.argument("source", metavar="URL|FILE")
@click.option("--user", "user", default=None, help="User asking (default: you).")
@click.option("--group", "groups", multiple=True, help="A group of the user (repeatable).")
@click.option("--admin", is_flag=True, help="The user is a hub admin.")
@click.option("--external", is_flag=True, help="The request comes from a link outside the hub.")
@click.option("--referrer", default=None, help="The referrer of an external link.")
@click.option("--known-user", "known_users", multiple=True, help="A user that exists on the hub.")
@click.option(
    "--known-group", "known_groups", multiple=True, help="A group that exists on the hub."
)
@click.option(
    "--opa",
    "opa_url",
    default=None,
    help=f"OPA base URL (default ${OPA_URL_ENV}, else the site's opa.address, "
    f"{DEFAULT_OPA_URL} by default); a temporary OPA is started only when nothing listens "
    "there. An OPA that listens but does not answer in time denies (exit 3).",
)
@click.option(
    "--site",
    "site_file",
    default=None,
    help="site.yaml for the volumes, the site block and a temporary OPA's site data "
    "(default: the repository's site.yaml, else the built-in defaults).",
)
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for OPA.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.pass_context
def check_command(
    ctx: click.Context,
    source: str,
    user: str | None,
    groups: Sequence[str],
    admin: bool,
    external: bool,
    referrer: str | None,
    known_users: Sequence[str],
    known_groups: Sequence[str],
    opa_url: str | None,
    site_file: str | None,
    timeout: float,
    as_json: bool,
) -> int:
    """Ask OPA whether the spec of a launch URL or a spec file may start.

    Exit status 0 when allowed (possibly after confirmation), 3 when denied, 2 on bad input.
    The directory of known users and groups defaults to the spec's collaborators.
    """

    name = user or getpass.getuser()
    site = load_site_for_cli(None if site_file is None else Path(site_file))
    site_data = site_policy_data(site)
    spec = read_spec_source(source, owner=name, volumes=list(site.volumes))
    directory = None
    if known_users or known_groups:
        directory = {"users": list(known_users), "groups": list(known_groups)}
    doc = build_input(
        spec,
        {"name": name, "groups": list(groups), "admin": admin},
        {"external": external, "referrer": referrer},
        directory,
        site_summary(site),
        # what the hub would judge: the mounts the server really gets (default home too)
        mounts=effective_mounts(spec, site),
    )
    url = opa_url or os.environ.get(OPA_URL_ENV) or site.opa_url
    PolicyClient(url)  # validates the URL before anything starts
    with reachable_opa(url, site_data, quiet=as_json) as live:
        decision = asyncio.run(_decide(live, doc, timeout))
    if UNAVAILABLE_ID in {f.id for f in decision.deny}:
        click.echo(f"versahub: policy engine unavailable at {live}: denied", err=True)
    spec_id = doc["spec"].get("spec_id")
    if as_json:
        out = decision.to_dict()
        out["spec_id"] = spec_id
        out["decision_id"] = decision.decision_id
        if decision.requires_confirmation and spec_id:
            out["confirmation"] = decision.confirmation_token(spec_id)
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render_table(decision, spec_id))
    if not decision.allowed:
        ctx.exit(EXIT_DENIED)
    return 0


def _run_opa(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        opa = find_opa()
    except OpaNotFound as err:
        raise click.ClickException(str(err)) from None
    return subprocess.run([opa, *args], capture_output=True, text=True, check=False)


def _failed_tests(results: Any) -> list[str]:
    failed = []
    for r in results if isinstance(results, list) else []:
        if r.get("fail") or r.get("error"):
            where = f"{r.get('package', '?')}.{r.get('name', '?')}"
            err = r.get("error")
            detail = f": {err.get('message', err) if isinstance(err, dict) else err}" if err else ""
            failed.append(f"{where}{detail}")
    return failed


@policy_group.command(name="test")
@click.option("--coverage-min", default=90.0, show_default=True, help="Minimum coverage in %.")
@click.option(
    "--policies",
    "policy_dir",
    default=str(POLICY_DIR),
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="Policy folder to test.",
)
def test_command(coverage_min: float, policy_dir: str) -> None:
    """Run the Rego tests (``opa test``) and fail under the coverage minimum."""
    run = _run_opa(["test", "--format=json", policy_dir])
    try:
        results = json.loads(run.stdout or "[]")
    except ValueError:
        results = None
    if results is None or (run.returncode != 0 and not _failed_tests(results)):
        raise click.ClickException(f"opa test failed: {(run.stderr or run.stdout).strip()}")
    failed = _failed_tests(results)
    passed = sum(1 for r in results if not (r.get("fail") or r.get("error") or r.get("skip")))
    click.echo(f"tests: {passed} passed, {len(failed)} failed")
    for line in failed:
        click.echo(f"FAIL {line}")
    if failed or not results:
        raise click.ClickException("policy tests failed" if failed else "no policy tests found")
    cov_run = _run_opa(["test", "--coverage", "--format=json", policy_dir])
    try:
        coverage = float(json.loads(cov_run.stdout)["coverage"])
    except (ValueError, KeyError, TypeError):
        raise click.ClickException(
            f"opa test --coverage gave no coverage: {cov_run.stderr.strip()}"
        ) from None
    click.echo(f"coverage: {coverage:.1f}% (minimum {coverage_min:g}%)")
    if coverage < coverage_min:
        raise click.ClickException(f"coverage {coverage:.1f}% is under {coverage_min:g}%")


@policy_group.command(name="lint")
@click.option(
    "--policies",
    "policy_dir",
    default=str(POLICY_DIR),
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="Policy folder to lint.",
)
def lint_command(policy_dir: str) -> None:
    """``opa check --strict`` and ``opa fmt --list`` (unformatted files fail)."""
    problems = []
    check = _run_opa(["check", "--strict", policy_dir])
    if check.returncode != 0:
        problems.append("opa check --strict:\n" + (check.stderr or check.stdout).strip())
    fmt = _run_opa(["fmt", "--list", policy_dir])
    unformatted = [line for line in fmt.stdout.splitlines() if line.strip()]
    if fmt.returncode != 0:
        problems.append("opa fmt --list:\n" + (fmt.stderr or fmt.stdout).strip())
    elif unformatted:
        problems.append(
            "not formatted (run `opa fmt -w`):\n" + "\n".join(f"  {f}" for f in unformatted)
        )
    if problems:
        click.echo("\n".join(problems), err=True)
        raise click.ClickException("policy lint failed")
    click.echo(f"policy lint: {policy_dir} is clean (opa check --strict, opa fmt)")


policy_group.add_command(decisions_command)
policy_group.add_command(impact_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(policy_group())
