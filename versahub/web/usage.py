"""``/hub/versahub/usage``: what each group and user consumed, for the hub's admins.

A line chart per group over the last days (rendered on the server as SVG: no script, no
CDN) and the totals per user, from ``<state_dir>/accounting/usage.sqlite``
(docs/accounting.md). GET only; admins only.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.launch.service import service_for
from versahub.site.usage_store import METRICS, connect, daily_by_group, usage
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
