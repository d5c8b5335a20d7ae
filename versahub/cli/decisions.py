"""``versahub policy decisions`` and ``versahub policy impact`` (docs/policies.md).

``decisions`` lists recorded spawn decisions (``<state_dir>/policy/decisions.sqlite``, filled
by the hub from OPA's decision log). ``impact`` replays the inputs of recorded decisions
through the policies in force and the proposed ones (two temporary OPAs, the site's data)
and prints what would change; exit status 3 when a launch allowed today would be denied,
so it can gate a policy change in the site's own CI. Neither needs a running hub; neither
ever shows a mount path, a message or a query string.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from versahub.cli.site import site_option
from versahub.errors import EXIT_DENIED, InputError, shorten
from versahub.policy import decision_store
from versahub.policy.impact import impact_report, render_text, replay
from versahub.policy.records import OUTCOMES, iso, report_view
from versahub.policy.server import POLICY_DIR, OpaNotFound, find_opa
from versahub.site.config import load_site
from versahub.spec.sizes import parse_duration

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@{}^~-]{0,199}\Z")


def since_time(value: str, now: _dt.datetime) -> str:
    """``--since``: a duration back from now (``7d``, ``12h``, ``1h30m``) or a UTC date."""
    if _DATE.match(value):
        try:
            return iso(_dt.datetime.fromisoformat(value + "T00:00:00+00:00"))
        except ValueError:
            raise InputError("--since", f"{shorten(value)} is not a date") from None
    try:
        seconds = parse_duration("--since", value)
    except InputError:
        raise InputError(
            "--since", f"{shorten(value)} is not a duration (7d, 12h) or a date (YYYY-MM-DD)"
        ) from None
    return iso(now - _dt.timedelta(seconds=seconds))


def _open_store(site: Any) -> Any:
    try:
        return decision_store.connect(site.state_dir)
    except FileNotFoundError:
        raise click.ClickException(
            f"no decision records yet in {decision_store.store_path(site.state_dir)} (the hub "
            "records OPA's decisions once it has judged a launch; docs/policies.md)"
        ) from None


@click.command(name="decisions")
@site_option
@click.option("--since", default="7d", show_default=True, help="7d, 12h or YYYY-MM-DD.")
@click.option("--rule", default=None, help="Only decisions denied or warned by this rule id.")
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None, help="Only this outcome.")
@click.option("--user", default=None, help="Only this user (as recorded: maybe hashed).")
@click.option("--group", default=None, help="Only users of this group.")
@click.option("--repo", default=None, help="Only repositories whose URL contains this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (records and counts).")
def decisions_command(
    site_file: Path | None, since: str, rule: str | None, outcome: str | None,
    user: str | None, group: str | None, repo: str | None, limit: int, as_json: bool,
) -> None:  # fmt: skip
    """List recorded policy decisions, newest first, with counts per rule."""
    site = load_site(site_file)
    start = since_time(since, _dt.datetime.now(_dt.UTC))
    filters = decision_store.Filters(since=start, rule=rule, outcome=outcome, user=user,
                                     group=group, repo=repo)  # fmt: skip
    db = _open_store(site)
    try:
        rows = list(decision_store.records(db, filters, limit=limit))
        total = decision_store.count(db, filters)
        per_rule = {rule: sum(days.values())
                    for rule, days in decision_store.rule_counts(db, filters).items()}  # fmt: skip
    finally:
        db.close()
    if as_json:
        listed = [{**r.to_dict(), "spec": report_view(r.input)} for r in rows]
        out = {"since": start, "total": total, "rules": per_rule, "decisions": listed}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"{total} decision(s) since {start}" + (f" (showing {len(rows)})" if rows else ""))
    for name, n in sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {name:<34} {n:>6}")
    for r in rows:
        rules = " ".join([f"deny:{d}" for d in r.deny] + [f"warn:{w}" for w in r.warn])
        click.echo(f"{r.time[:19]}Z  {r.outcome:<7} {r.user:<20} {r.repo}  {rules}".rstrip())


@contextmanager
def policies_at(ref: str, policy_dir: Path) -> Iterator[Path]:
    """The policy folder as it is in git commit ``ref`` (extracted to a temporary folder)."""
    if not _REF.match(ref) or ".." in ref:
        raise InputError("--against", f"{shorten(ref)} is not a git revision")

    def git(where: Path | str, *args: str, text: bool = True) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True,
                              check=False, timeout=120, text=text)  # fmt: skip

    top = git(policy_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise InputError("--against", f"{policy_dir} is not in a git work tree")
    root = top.stdout.strip()
    commit = git(policy_dir, "rev-parse", "--verify", "--quiet", "--end-of-options",
                 f"{ref}^{{commit}}")  # fmt: skip
    if commit.returncode != 0:
        raise InputError("--against", f"{shorten(ref)} names no commit in {root}")
    rel = policy_dir.resolve().relative_to(Path(root).resolve())
    archive = git(root, "archive", "--format=tar", commit.stdout.strip(), "--", str(rel),
                  text=False)  # fmt: skip
    if archive.returncode != 0:
        raise InputError("--against", f"{policy_dir} is not in commit {shorten(ref)}: "
                         f"{archive.stderr.decode(errors='replace').strip()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="versahub-policies-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(Path(tmp), filter="data")
        yield Path(tmp) / rel


@click.command(name="impact")
@site_option
@click.option("--against", "against", default=None, metavar="GIT_REF",
              help="Baseline: the policies of this git commit (default HEAD); proposed: the "
                   "policy folder as it is now.")  # fmt: skip
@click.option("--policies", "proposed_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Proposed: this policy folder; baseline: the site's policy folder.")  # fmt: skip
@click.option("--policy-dir", "policy_dir", default=str(POLICY_DIR), show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The policy folder the site's OPA serves.")  # fmt: skip
@click.option("--since", default="7d", show_default=True, help="7d, 12h or YYYY-MM-DD.")
@click.option("--examples", default=3, show_default=True, type=click.IntRange(0, 50),
              help="Example specs per rule.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def impact_command(
    ctx: click.Context, site_file: Path | None, against: str | None, proposed_dir: Path | None,
    policy_dir: Path, since: str, examples: int, as_json: bool,
) -> None:  # fmt: skip
    """Replay recorded decisions through proposed policies; show what would change.

    Exit status 3 when a launch that the baseline allows would be denied, 0 otherwise.
    """
    if against is not None and proposed_dir is not None:
        raise InputError("--against", "give --against or --policies, not both")
    site = load_site(site_file)
    start = since_time(since, _dt.datetime.now(_dt.UTC))
    try:
        opa = find_opa()
    except OpaNotFound as err:
        raise click.ClickException(str(err)) from None
    db = _open_store(site)
    try:
        records = list(decision_store.records(db, decision_store.Filters(since=start)))
    finally:
        db.close()
    records.reverse()  # oldest first, as they happened
    site_data = dict(site.policy_data())
    with _policy_sets(against, proposed_dir, policy_dir) as (baseline, proposed, names):
        try:
            kept, before, after = replay(records, baseline, proposed, site_data, opa=opa)
        except Exception as err:  # OPA refused a policy set, or died
            raise click.ClickException(f"replay failed: {err}") from None
    report = impact_report(kept, before, after, examples=examples)
    report.update({"since": start, "baseline": names[0], "proposed": names[1]})
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_text(report, baseline=names[0], proposed=names[1], since=start))
    if report["newly_denied"]["count"]:
        ctx.exit(EXIT_DENIED)


@contextmanager
def _policy_sets(
    against: str | None, proposed_dir: Path | None, policy_dir: Path
) -> Iterator[tuple[Path, Path, tuple[str, str]]]:
    if proposed_dir is not None:
        yield policy_dir, proposed_dir, (str(policy_dir), str(proposed_dir))
        return
    ref = against or "HEAD"
    with policies_at(ref, policy_dir) as baseline:
        yield baseline, policy_dir, (f"{policy_dir} at git {ref}", f"{policy_dir} (work tree)")
