"""``/hub/versahub/usage``: what each group and user consumed, for the hub's admins.

A line chart per group over the last days (rendered on the server as SVG: no script, no
CDN) and the totals per user, from ``<state_dir>/accounting/usage.sqlite``
(docs/accounting.md). GET only; admins only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from prometheus_client import REGISTRY
from tornado import web

from versahub.launch.service import service_for
from versahub.site.usage_store import METRICS, connect, daily_by_group, month_usage_of, usage
from versahub.web.usage_chart import days_between, line_chart

UNITS = {"cpu_seconds": "CPU seconds", "memory_gib_hours": "memory GiB·hours",
         "server_hours": "server hours"}  # fmt: skip


def read_usage(state_dir: Any, since: str, metric: str) -> tuple[dict, list]:
    try:
        db = connect(state_dir)
    except FileNotFoundError:
        return {}, []
    try:
        return daily_by_group(db, since=since, metric=metric), usage(db, since=since)
    finally:
        db.close()


class UsageCollector:
    """``versahub_usage_month{group, measure}``: this calendar month's usage per group
    (``cpu_hours``, ``memory_gib_hours``, ``server_hours``), read at each scrape of
    ``/hub/metrics`` (docs/metrics.md)."""

    NAME = "versahub_usage_month"
    HELP = "This month's usage of each group's members, by measure."

    def describe(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["group", "measure"])

    def collect(self) -> Any:
        from jupyterhub.app import JupyterHub
        from prometheus_client.core import GaugeMetricFamily

        if not JupyterHub.initialized():
            return
        site_file = (JupyterHub.instance().tornado_settings or {}).get("versahub_site_file")
        if not site_file:
            return
        state_dir = service_for(site_file).site_source.current().state_dir
        try:
            db = connect(state_dir)
        except FileNotFoundError:
            return
        try:
            groups = sorted({g for (g_json,) in db.execute("SELECT groups FROM user_groups")
                             for g in json.loads(g_json)})  # fmt: skip
            used = month_usage_of(db, groups)
        finally:
            db.close()
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["group", "measure"])
        for group, values in used.items():
            for measure, value in values.items():
                family.add_metric([group, measure], value)
        yield family


with contextlib.suppress(ValueError):  # registered once per process
    REGISTRY.register(UsageCollector())


class UsagePageHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        if not self.current_user.admin:
            raise web.HTTPError(403, "The usage page is for the hub's admins")
        metric = self.get_argument("metric", "cpu_seconds")
        if metric not in METRICS:
            raise web.HTTPError(400, f"metric must be one of {', '.join(METRICS)}")
        try:
            days = min(max(int(self.get_argument("days", "30")), 1), 366)
        except ValueError:
            raise web.HTTPError(400, "days must be a number of days") from None
        site = await service_for(self.settings["versahub_site_file"]).site()
        today = _dt.datetime.now(_dt.UTC).date()
        since = (today - _dt.timedelta(days=days - 1)).isoformat()
        series, totals = await asyncio.to_thread(read_usage, site.state_dir, since, metric)
        chart = line_chart(series, days_between(since, today.isoformat()), unit=UNITS[metric])
        html = await self.render_template(
            "usage.html", chart=chart, totals=totals, metric=metric, metrics=UNITS, days=days,
            since=since, groups=sorted(series),
        )  # fmt: skip
        self.finish(html)
