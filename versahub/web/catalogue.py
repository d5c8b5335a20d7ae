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
import re
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.hub.handlers import VersaHubAPIHandler
from versahub.images.engine import DockerEngine, EngineError
from versahub.launch.service import service_for
from versahub.site.catalogue import export_document, matches
from versahub.site.catalogue_store import catalogue_entries
from versahub.spec import ServerSpec
from versahub.urls import launch_url

COMMIT = re.compile(r"^[0-9a-f]{40}$")


async def build_states(site: Any, entries: list[dict[str, Any]]) -> dict[str, str]:
    """``{spec_id: status}`` from the local image cache, for entries pinned to a commit:
    ``built <date>`` or ``not built yet``; a branch or tag would need a network lookup per
    page view, so those say so. Never raises (the page shows the entries anyway)."""
    out: dict[str, str] = {}
    pinned = [e for e in entries if COMMIT.match(str(e["spec"].get("ref") or ""))]
    for e in entries:
        out[e["spec_id"]] = "built when first launched (a branch or tag is resolved then)"
    if not pinned:
        return out
    builder = service_for(site.path).builder(site)
    try:
        async with DockerEngine() as engine:
            for e in pinned:
                ref = await builder.image_for(engine, e["spec"]["repo"], e["spec"]["ref"])
                found = await engine.inspect_image(str(ref))
                out[e["spec_id"]] = (
                    f"built {str(found.get('Created', ''))[:10]}" if found else "not built yet"
                )
    except (EngineError, OSError) as err:
        for e in pinned:
            out[e["spec_id"]] = f"unknown (the image cache did not answer: {err})"[:120]
    return out


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
        states = await build_states(site, shown)
        for entry in shown:
            entry["build"] = states.get(entry["spec_id"], "")
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
