"""``/hub/versahub/decisions``: what the spawn policy decided, for the hub's admins.

- ``GET /hub/versahub/decisions``: the decision records of the last ``days``
  (``<state_dir>/policy/decisions.sqlite``, docs/policies.md#decision-records), filtered by
  ``rule``, ``outcome``, ``user``, ``group`` and ``repo`` (a substring): a chart of the
  decisions per rule and day (SVG built on the server: no script, no CDN), the count per
  rule, and the most recent matching decisions.
- ``GET /hub/versahub/decisions/rules/<id>``: what the rule with that finding id checks,
  from its METADATA, as the site's OPA serves it (``versahub.policy.rule_docs``).

GET only; admins only. A record shows its time, user, groups, repository, outcome and
finding ids — never a mount path, a finding's message or any other part of the input.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.errors import InputError, shorten
from versahub.launch.service import service_for
from versahub.policy.decision_store import (
    Filters,
    connect,
    count,
    records,
    rule_counts,
    users_and_groups,
)
from versahub.policy.records import OUTCOMES, DecisionRecord
from versahub.policy.rule_docs import RuleDoc, RuleDocsError, is_rule_id, load_rule_docs
from versahub.web.usage_chart import days_between, line_chart

ALLOWED = "(allowed)"  # rule_counts' name for the decisions without a finding
RECENT = 200
DEFAULT_DAYS = 7
MAX_DAYS = 366
MAX_TEXT = 200  # user, group and repository filters


@dataclass(frozen=True)
class Query:
    """The validated query arguments of the decisions page (``""``: any)."""

    days: int = DEFAULT_DAYS
    rule: str = ""
    outcome: str = ""
    user: str = ""
    group: str = ""
    repo: str = ""

    def since(self, today: _dt.date) -> str:
        return (today - _dt.timedelta(days=self.days - 1)).isoformat()

    def filters(self, today: _dt.date) -> Filters:
        return Filters(
            since=f"{self.since(today)}T00:00:00.000000Z", rule=self.rule or None,
            outcome=self.outcome or None, user=self.user or None, group=self.group or None,
            repo=self.repo or None,
        )  # fmt: skip


def page_query(argument: Callable[[str], str]) -> Query:
    """The page's query from ``argument(name)`` (``""`` when absent); raises ``InputError``
    naming the argument."""
    raw_days = argument("days") or str(DEFAULT_DAYS)
    try:
        days = int(raw_days)
    except ValueError:
        raise InputError("days", f"expected a number of days, got {shorten(raw_days)}") from None
    if not 1 <= days <= MAX_DAYS:
        raise InputError("days", f"expected 1 to {MAX_DAYS} days, got {days}")
    rule = argument("rule")
    if rule and not is_rule_id(rule):
        raise InputError("rule", f"expected a rule id, got {shorten(rule)}")
    outcome = argument("outcome")
    if outcome and outcome not in OUTCOMES:
        raise InputError("outcome", f"expected one of {', '.join(OUTCOMES)}")
    texts = {name: argument(name) for name in ("user", "group", "repo")}
    for name, value in texts.items():
        if len(value) > MAX_TEXT or not value.isprintable():
            raise InputError(name, f"expected at most {MAX_TEXT} printable characters")
    return Query(days=days, rule=rule, outcome=outcome, **texts)


@dataclass
class Decisions:
    """What the page shows of the store (only the fields a record may show)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    recent: list[DecisionRecord] = field(default_factory=list)
    total: int = 0
    menus: dict[str, list[str]] = field(default_factory=dict)


def read_decisions(state_dir: Any, query: Query, today: _dt.date) -> Decisions | None:
    """The matching decisions, or ``None`` when the hub has no store yet. The menus list
    every user, group and rule of the period, whatever else is filtered."""
    try:
        db = connect(state_dir)
    except FileNotFoundError:
        return None
    try:
        filters = query.filters(today)
        return Decisions(
            counts=rule_counts(db, filters),
            recent=list(records(db, filters, limit=RECENT)),
            total=count(db, filters),
            menus=users_and_groups(db, Filters(since=filters.since)),
        )
    finally:
        db.close()


def read_rule_docs(opa_url: str) -> tuple[dict[str, RuleDoc], str]:
    """The rule docs of the policy files and ``""``, or ``{}`` and why they are missing."""
    try:
        return load_rule_docs(opa_url), ""
    except RuleDocsError as err:
        return {}, str(err)


def linked(rule: str, docs: Mapping[str, RuleDoc]) -> bool:
    """Whether ``rule`` gets a link to its page: a known rule, or any valid id when the rule
    docs could not be read (the rule page then says why)."""
    return rule in docs if docs else is_rule_id(rule)


def decision_rows(
    found: Iterable[DecisionRecord], docs: Mapping[str, RuleDoc]
) -> list[dict[str, Any]]:
    """One row per record: time (to the second), user, groups, repository, outcome and the
    deny and warn ids — nothing else of the record."""
    return [
        {
            "time": r.time[:19].replace("T", " ") + "Z",
            "user": r.user,
            "groups": list(r.groups),
            "repo": r.repo,
            "outcome": r.outcome,
            "findings": [
                {"id": rule, "kind": kind, "link": linked(rule, docs)}
                for kind, ids in (("deny", r.deny), ("warn", r.warn))
                for rule in ids
            ],
        }
        for r in found
    ]


def count_rows(
    counts: Mapping[str, Mapping[str, int]], docs: Mapping[str, RuleDoc]
) -> list[dict[str, Any]]:
    """Per rule over the period: id, title, total and whether it links; most frequent first."""
    rows = []
    for rule, per_day in counts.items():
        doc = docs.get(rule)
        title = "Allowed without a finding" if rule == ALLOWED else (doc.title if doc else "")
        rows.append({
            "id": rule, "title": title, "total": sum(per_day.values()),
            "link": rule != ALLOWED and linked(rule, docs),
        })  # fmt: skip
    return sorted(rows, key=lambda row: (-row["total"], row["id"]))


def menu(values: Iterable[str], chosen: str) -> list[str]:
    """A filter menu's options; the chosen value stays listed even when the period has none."""
    options = set(values)
    if chosen:
        options.add(chosen)
    return sorted(options)


def decisions_chart(counts: Mapping[str, Mapping[str, int]], days: list[str]) -> str:
    """Decisions per rule (and ``(allowed)``) and day; one legend line per rule."""
    series = {rule: {day: float(n) for day, n in per_day.items()}
              for rule, per_day in counts.items()}  # fmt: skip
    return line_chart(
        series, days, unit="decisions", label="Decisions per rule and day",
        height=max(260, 14 * len(series) + 40), legend_width=230,
    )  # fmt: skip


class _AdminPage(BaseHandler):
    def check_admin(self) -> None:
        if not self.current_user.admin:
            raise web.HTTPError(403, "The decisions pages are for the hub's admins")


class DecisionsPageHandler(_AdminPage):
    @web.authenticated
    async def get(self) -> None:
        self.check_admin()
        try:
            query = page_query(lambda name: self.get_argument(name, ""))
        except InputError as err:
            raise web.HTTPError(400, str(err)) from None
        site = await service_for(self.settings["versahub_site_file"]).site()
        today = _dt.datetime.now(_dt.UTC).date()
        since = query.since(today)
        found = await asyncio.to_thread(read_decisions, site.state_dir, query, today)
        docs, docs_error = await asyncio.to_thread(read_rule_docs, site.opa_url)
        data = found or Decisions()
        menus = data.menus
        html = await self.render_template(
            "decisions.html", query=query, since=since, store=found is not None,
            total=data.total, rows=decision_rows(data.recent, docs), limit=RECENT,
            counts=count_rows(data.counts, docs), docs_error=docs_error,
            chart=decisions_chart(data.counts, days_between(since, today.isoformat())),
            outcomes=OUTCOMES, periods=sorted({1, 7, 30, 90, 366, query.days}),
            users=menu(menus.get("users", []), query.user),
            groups=menu(menus.get("groups", []), query.group),
            rules=menu(menus.get("rules", []), query.rule),
        )  # fmt: skip
        self.finish(html)


class RuleDocHandler(_AdminPage):
    @web.authenticated
    async def get(self, rule_id: str) -> None:
        self.check_admin()
        if not is_rule_id(rule_id):
            raise web.HTTPError(404, "No such rule")
        try:
            site = await service_for(self.settings["versahub_site_file"]).site()
            docs = await asyncio.to_thread(load_rule_docs, site.opa_url)
        except RuleDocsError as err:
            raise web.HTTPError(503, f"The rule descriptions are unavailable: {err}") from None
        doc = docs.get(rule_id)
        if doc is None:
            raise web.HTTPError(404, f"No rule of the policy files has the id {rule_id}")
        html = await self.render_template(
            "decision-rule.html", rule=doc, filtered=urlencode({"rule": doc.id})
        )
        self.finish(html)
