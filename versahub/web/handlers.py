"""Tornado handlers mounted into JupyterHub with ``c.JupyterHub.extra_handlers``.

JupyterHub mounts every extra handler under its ``/hub/`` prefix:

* ``/hub/v2/<provider>/<spec>`` and ``/hub/versahub/launch?url=…`` — a launch link
  (``LaunchPageHandler``). A mybinder.org link with only its host changed,
  ``https://<hub>/v2/…``, reaches it because the proxy's default route sends ``/v2/…`` to
  the hub, whose stock ``PrefixRedirectHandler`` redirects it to ``/hub/v2/…`` (the
  query string kept); login, when needed, comes first (``@web.authenticated``).
* ``POST /hub/api/versahub/check`` — spec or launch URL → the first field error, or the
  policy decision, the confirmation hash, the launch URL and badges (``CheckAPIHandler``).
* ``GET/POST/DELETE /hub/api/versahub/trust[/<spec_id>]`` — "don't ask again"
  (``TrustAPIHandler``).
* ``/hub/badge.svg`` (``/badge.svg`` redirects there) and ``/hub/versahub/static/…``.

API handlers are JupyterHub ``APIHandler``s: cookie-authenticated calls need the XSRF
token, and each needs the ``servers`` scope; they only ever act for the calling user.
Nothing here starts a server: the page launches through ``POST /hub/api/versahub/launch``
(``versahub.hub.handlers``), which calls the launch service like every other entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from versahub.errors import InputError
from versahub.hub.handlers import VersaHubAPIHandler, error_document, invalid_document
from versahub.launch.plan import effective_mounts
from versahub.launch.request import parse_request
from versahub.launch.service import ORIGIN_FINDING_PREFIX, LaunchService, service_for
from versahub.site.config import Site
from versahub.site.federation import hubs_of, launch_on
from versahub.spec import random_server_name
from versahub.urls import badge_html, badge_markdown, launch_url, parse_launch_url
from versahub.web.origin import classify_origin
from versahub.web.summary import describe_spec
from versahub.web.trust import SPEC_ID_RE, TrustStore

STATIC_DIR = Path(__file__).parent / "static"
_stores: dict[str, TrustStore] = {}


def trust_store(site: Site) -> TrustStore:
    """The site's "don't ask again" store (one per process and file)."""
    path = str(site.state_dir / "web" / "trust.json")
    if path not in _stores:
        _stores[path] = TrustStore(path)
    return _stores[path]


def volume_summaries(site: Site) -> dict[str, dict[str, str]]:
    return {
        name: {"kind": vol.get("kind", ""), "description": vol.get("description", "")}
        for name, vol in site.volumes.items()
    }


class LaunchPageHandler(BaseHandler):
    """A launch link: the launch page with the link's configuration and its origin."""

    @property
    def service(self) -> LaunchService:
        return service_for(self.settings["versahub_site_file"])

    @web.authenticated
    async def get(self, _spec: str = "") -> None:
        user = self.current_user
        site = await self.service.site()
        if self.request.path.rstrip("/").endswith("/versahub/launch"):
            url = self.get_argument("url", "")
        else:
            url = self.request.uri or ""
        origin = classify_origin(
            self.request.headers,
            site.hub_url,
            request_host=self.request.host,
            request_scheme=self.request.protocol,
            hub_prefix=self.hub.base_url,
        )
        launch: dict[str, Any] = {"url": url, "origin": origin, "spec": None, "error": None}
        try:
            spec = parse_launch_url(url, owner=user.name, volumes=list(site.volumes))
            launch["spec"] = spec.to_dict()
        except InputError as err:
            launch["error"] = error_document(err)
        self.set_header("Referrer-Policy", "same-origin")
        html = await self.render_template("home.html", user=user, versahub_launch=launch)
        self.finish(html)


class _APIContext(VersaHubAPIHandler):
    async def evaluate_body(self) -> dict[str, Any]:
        """:meth:`evaluate` of the request's JSON body (a body that is not one, or names a
        key twice, is reported like any other input error)."""
        self.calling_user()
        try:
            body = self.json_body()
        except InputError as err:
            return {"valid": False, "error": error_document(err), "errors": [error_document(err)]}
        return await self.evaluate(body)

    async def evaluate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, ask OPA (through the launch service), and build what the page shows."""
        user = self.calling_user()
        site = await self.service.site()
        try:
            request = parse_request(
                {k: v for k, v in body.items() if k in ("spec", "url", "origin")},
                owner=user.name,
                volumes=list(site.volumes),
            )
        except InputError as err:
            invalid = invalid_document(err, body, owner=user.name, volumes=list(site.volumes))
            return {"valid": False, **invalid}
        verdict = await self.service.judge(request, user, self.directory, site)
        spec, decision = request.spec, verdict.decision
        doc = spec.to_dict()
        hub_url = site.hub_url
        trusted = (
            decision.allowed
            and not verdict.origin_warnings
            and trust_store(site).covers(user.name, spec.spec_id, decision.warn_ids)
        )
        return {
            "valid": True,
            "spec": doc,
            "spec_id": spec.spec_id,
            "origin": dict(request.origin),
            "decision": decision.to_dict(),
            "decision_id": decision.decision_id,
            "requires_confirmation": decision.requires_confirmation,
            "confirmation": verdict.expected_confirmation,
            "trusted": trusted,
            # what the server will really get: the default home volume included
            "summary": describe_spec(
                {**doc, "mounts": effective_mounts(spec, site)}, volume_summaries(site)
            ),
            "launch_url": launch_url(spec, hub_url),
            "launch_on": launch_on(spec, hubs_of(site.data)),
            "badge_markdown": badge_markdown(spec, hub_url),
            "badge_html": badge_html(spec, hub_url),
            "suggested_server_name": spec.server_name or random_server_name(),
        }


class CheckAPIHandler(_APIContext):
    """``POST /hub/api/versahub/check``: ``{"spec": {…}}`` or ``{"url": "…"}``, + ``origin``."""

    @needs_scope("servers", post_filter=True)
    async def post(self) -> None:
        result = await self.evaluate_body()
        self.set_header("Content-Type", "application/json")
        self.write(result)


class TrustAPIHandler(_APIContext):
    """The calling user's trusted configurations ("Don't ask again").

    ``GET`` lists them; ``POST`` with ``{"spec"|"url", "origin"}`` re-checks the
    configuration and remembers the warnings it has now (never a denied one); ``DELETE``
    forgets one (``/trust/<spec_id>``) or all.
    """

    @needs_scope("servers", post_filter=True)
    def get(self, spec_id: str | None = None) -> None:
        user = self.calling_user()
        records = trust_store(self.service.site_source.current()).list(user.name)
        if spec_id is not None:
            if spec_id not in records:
                raise web.HTTPError(404, "this configuration is not trusted")
            self.write({"spec_id": spec_id, **records[spec_id]})
            return
        self.write({"trusted": [{"spec_id": k, **v} for k, v in sorted(records.items())]})

    @needs_scope("servers", post_filter=True)
    async def post(self, spec_id: str | None = None) -> None:
        if spec_id is not None:
            raise web.HTTPError(405, "POST the configuration to /trust")
        result = await self.evaluate_body()
        if not result["valid"]:
            self.set_status(400)
            self.write(result)
            return
        if not result["decision"]["allowed"]:
            self.set_status(409)
            self.write({"error": "a denied configuration cannot be trusted", **result})
            return
        # warnings about where the request came from are about that request only
        warn_ids = [
            f["id"]
            for f in result["decision"]["warn"]
            if not f["id"].startswith(ORIGIN_FINDING_PREFIX)
        ]
        site = await self.service.site()
        record = trust_store(site).add(
            self.calling_user().name, result["spec_id"], warn_ids, repo=result["spec"]["repo"]
        )
        self.set_status(201)
        self.write({"spec_id": result["spec_id"], **record})

    @needs_scope("servers", post_filter=True)
    def delete(self, spec_id: str | None = None) -> None:
        user = self.calling_user()
        if spec_id is not None and not SPEC_ID_RE.match(spec_id):
            raise web.HTTPError(404)
        removed = trust_store(self.service.site_source.current()).remove(user.name, spec_id)
        if spec_id is not None and not removed:
            raise web.HTTPError(404, "this configuration is not trusted")
        self.set_status(204)
        self.finish()


BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="150" height="20" role="img" \
aria-label="Launch on VersaHub"><title>Launch on VersaHub</title><rect width="150" height="20" \
rx="3" fill="#555"/><rect x="52" width="98" height="20" rx="3" fill="#1f6feb"/><rect x="52" \
width="4" height="20" fill="#1f6feb"/><g fill="#fff" text-anchor="middle" \
font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11"><text x="26" y="14">launch\
</text><text x="100" y="14">VersaHub</text></g></svg>"""


class BadgeHandler(web.RequestHandler):
    """``/hub/badge.svg``: the launch badge (no external service)."""

    def get(self) -> None:
        self.set_header("Content-Type", "image/svg+xml")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.write(BADGE_SVG)
