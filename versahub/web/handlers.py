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
Nothing here starts a server: the page uses JupyterHub's own REST API for that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import has_scope, needs_scope
from tornado import web

from versahub.errors import InputError
from versahub.policy import PolicyClient, confirmation_hash
from versahub.policy.input import origin_document
from versahub.spec import parse_spec, random_server_name
from versahub.urls import badge_html, badge_markdown, launch_url, parse_launch_url
from versahub.web.origin import classify_origin
from versahub.web.summary import describe_spec
from versahub.web.trust import SPEC_ID_RE, TrustStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
GROUP_PREFIX = "group:"
_clients: dict[tuple[str, float], PolicyClient] = {}
_stores: dict[str, TrustStore] = {}


def policy_client(url: str, timeout: float) -> PolicyClient:
    """One OPA client (one HTTP session) per OPA URL for the hub process."""
    key = (url, timeout)
    if key not in _clients:
        _clients[key] = PolicyClient(url, timeout=timeout)
    return _clients[key]


def trust_store(path: str) -> TrustStore:
    if path not in _stores:
        _stores[path] = TrustStore(path)
    return _stores[path]


class _Context:
    """Handler settings from ``web_settings`` (plain data, so the config can be printed)."""

    def initialize(self, versahub: Mapping[str, Any]) -> None:  # tornado calls this
        self.vh = versahub

    @property
    def volume_names(self) -> list[str]:
        return list(self.vh.get("volumes") or {})


class LaunchPageHandler(_Context, BaseHandler):
    """A launch link: the launch page with the link's configuration and its origin."""

    @web.authenticated
    async def get(self, _spec: str = "") -> None:
        user = self.current_user
        if self.request.path.rstrip("/").endswith("/versahub/launch"):
            url = self.get_argument("url", "")
        else:
            url = self.request.uri or ""
        origin = classify_origin(
            self.request.headers,
            self.vh.get("hub_url", ""),
            request_host=self.request.host,
            request_scheme=self.request.protocol,
            hub_prefix=self.hub.base_url,
        )
        launch: dict[str, Any] = {"url": url, "origin": origin, "spec": None, "error": None}
        try:
            spec = parse_launch_url(url, owner=user.name, volumes=self.volume_names)
            launch["spec"] = spec.to_dict()
        except InputError as err:
            launch["error"] = {"field": err.field, "reason": err.reason, "message": str(err)}
        self.set_header("Referrer-Policy", "same-origin")
        html = await self.render_template("home.html", user=user, versahub_launch=launch)
        self.finish(html)


class _APIContext(_Context, APIHandler):
    def _user(self) -> Any:
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, "only users have a launch page")
        # needs_scope(post_filter=True) let filtered access through: it must cover the caller.
        if not has_scope(f"servers!user={user.name}", self.parsed_scopes, db=self.db):
            raise web.HTTPError(403, "requires the servers scope for your own servers")
        return user

    def _body(self) -> dict[str, Any]:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "expected a JSON object")
        return body

    @property
    def trust(self) -> TrustStore:
        return trust_store(self.vh["trust_file"])

    def _directory(self, collaborators: tuple[str, ...]) -> dict[str, list[str]]:
        users, groups = [], []
        for entry in collaborators:
            if entry.startswith(GROUP_PREFIX):
                if orm.Group.find(self.db, entry[len(GROUP_PREFIX) :]) is not None:
                    groups.append(entry[len(GROUP_PREFIX) :])
            elif orm.User.find(self.db, entry) is not None:
                users.append(entry)
        return {"users": users, "groups": groups}

    async def evaluate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, ask OPA, and build everything the page shows for one configuration."""
        user = self._user()
        try:
            origin = origin_document(body.get("origin"))
            if body.get("url"):
                spec = parse_launch_url(
                    str(body["url"]), owner=user.name, volumes=self.volume_names
                )
            else:
                raw = body.get("spec")
                if not isinstance(raw, Mapping):
                    raise InputError("spec", "is required (or url)")
                spec = parse_spec(raw, owner=user.name, volumes=self.volume_names)
        except InputError as err:
            return {
                "valid": False,
                "error": {"field": err.field, "reason": err.reason, "message": str(err)},
            }
        user_doc = {
            "name": user.name,
            "groups": sorted(g.name for g in user.groups),
            "admin": bool(user.admin),
        }
        client = policy_client(self.vh["opa_url"], float(self.vh.get("opa_timeout", 1.0)))
        decision = await client.decide_spec(
            spec,
            user_doc,
            origin,
            self._directory(spec.collaborators),
            {"name": self.vh.get("site_name", ""), "hub_url": self.vh.get("hub_url", "")},
        )
        doc = spec.to_dict()
        hub_url = self.vh["hub_url"]
        confirmation = (
            confirmation_hash(spec.spec_id, decision.warn_ids) if decision.allowed else None
        )
        return {
            "valid": True,
            "spec": doc,
            "spec_id": spec.spec_id,
            "origin": origin,
            "decision": decision.to_dict(),
            "decision_id": decision.decision_id,
            "requires_confirmation": decision.requires_confirmation,
            "confirmation": confirmation,
            "trusted": decision.allowed
            and self.trust.covers(user.name, spec.spec_id, decision.warn_ids),
            "summary": describe_spec(doc, self.vh.get("volumes") or {}),
            "launch_url": launch_url(spec, hub_url),
            "badge_markdown": badge_markdown(spec, hub_url),
            "badge_html": badge_html(spec, hub_url),
            "suggested_server_name": spec.server_name or random_server_name(),
        }


class CheckAPIHandler(_APIContext):
    """``POST /hub/api/versahub/check``: ``{"spec": {…}}`` or ``{"url": "…"}``, + ``origin``."""

    @needs_scope("servers", post_filter=True)
    async def post(self) -> None:
        result = await self.evaluate(self._body())
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
        user = self._user()
        records = self.trust.list(user.name)
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
        result = await self.evaluate(self._body())
        if not result["valid"]:
            self.set_status(400)
            self.write(result)
            return
        if not result["decision"]["allowed"]:
            self.set_status(409)
            self.write({"error": "a denied configuration cannot be trusted", **result})
            return
        warn_ids = [f["id"] for f in result["decision"]["warn"]]
        record = self.trust.add(
            self._user().name, result["spec_id"], warn_ids, repo=result["spec"]["repo"]
        )
        self.set_status(201)
        self.write({"spec_id": result["spec_id"], **record})

    @needs_scope("servers", post_filter=True)
    def delete(self, spec_id: str | None = None) -> None:
        user = self._user()
        if spec_id is not None and not SPEC_ID_RE.match(spec_id):
            raise web.HTTPError(404)
        removed = self.trust.remove(user.name, spec_id)
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
