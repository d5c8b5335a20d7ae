"""The catalogue page and its exchange API (docs/catalogue.md).

- ``GET /hub/versahub/catalogue`` (logged in): curated, popular and imported environments,
  filtered by ``q`` (words in title, description or repository), ``provider`` and ``tag``,
  each with its launch link — the normal launch page and its dialog. Changes nothing.
- ``GET /hub/api/versahub/catalogue`` (a token or login): the exchange document
  (``catalogue-exchange.schema.json``) of this hub's curated and popular entries, for
  another hub's ``versahub catalogue import`` or a national catalogue.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.hub.handlers import VersaHubAPIHandler
from versahub.launch.service import service_for
from versahub.site.catalogue import export_document, matches
from versahub.site.catalogue_store import catalogue_entries
from versahub.spec import ServerSpec
from versahub.urls import launch_url


def exported(site: Any) -> dict[str, Any]:
    """This hub's exchange document: its curated and popular entries (never imports)."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = [e for e in catalogue_entries(site) if e["kind"] != "imported"]
    return export_document(entries, hub_name=site.name, hub_url=site.hub_url, exported_at=now)


class CataloguePageHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        site = await service_for(self.settings["versahub_site_file"]).site()
        q = self.get_argument("q", "")[:200]
        provider = self.get_argument("provider", "")[:20]
        tag = self.get_argument("tag", "")[:32]
        everything = catalogue_entries(site)
        curated = {e["id"]: e for e in site.catalogue}
        shown = []
        for entry in everything:
            if not matches(entry, q=q, provider=provider, tag=tag):
                continue
            if entry["kind"] == "curated":  # the site's own entry, launched as written
                spec = ServerSpec.from_dict(curated[entry["id"]]["spec"])
            else:
                spec = ServerSpec.from_dict(entry["spec"])
            shown.append({**entry, "launch": launch_url(spec, site.hub_url)})
        html = await self.render_template(
            "catalogue.html",
            entries=shown,
            total=len(everything),
            q=q,
            provider=provider,
            tag=tag,
            providers=sorted({e["provider"] for e in everything}),
            tags=sorted({t for e in everything for t in e["tags"]}),
            min_users=site.data["popular"]["min_users"],
        )
        self.finish(html)


class CatalogueAPIHandler(VersaHubAPIHandler):
    async def get(self) -> None:
        if self.current_user is None:
            raise web.HTTPError(403, "Reading the catalogue needs a login or a token")
        site = await self.service.site()
        self.answer(200, exported(site))
