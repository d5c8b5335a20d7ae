"""LTI Deep Linking 2.0: a teacher picks what a new LMS link opens; VersaHub answers signed.

1. The platform sends an ``LtiDeepLinkingRequest`` through the usual OIDC login
   (``versahub.hub.lti``): its id_token is verified like any launch; only a teaching role
   may deep-link. Its ``deep_linking_settings`` are checked (:func:`deep_link_request`)
   and kept in the hub for 15 minutes under a random token bound to that user.
2. ``GET /hub/lti13/deep-link/<token>`` (:class:`DeepLinkHandler`) shows the choices: the
   live courses this teacher teaches (or whose LMS context the request came from) and the
   site's catalogue, plus an optional notebook to open. It changes nothing.
3. ``POST`` of the choice (XSRF-checked) builds one ``ltiResourceLink`` content item whose
   custom parameters name the course (``course``) or catalogue entry (``catalogue``) and
   the ``path``; signs the ``LtiDeepLinkingResponse`` with the tool's newest key
   (``versahub.site.tool_keys``, ``kid`` in the header) for the platform's issuer as
   audience; and hands it to the browser, which posts it to ``deep_link_return_url``.
4. ``GET /hub/lti13/jwks`` (:class:`JWKSHandler`) publishes every tool key (public halves)
   at a stable URL; the platform verifies the response with it.

A link made this way launches through the course path (``versahub.hub.courses``): the same
checks as a link typed into the LMS by hand.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.errors import InputError, shorten
from versahub.launch.service import service_for
from versahub.site.courses import validate_open_path
from versahub.site.lti import is_loopback_url
from versahub.site.tool_keys import ToolKeys, keys_dir

MESSAGE_TYPE = "https://purl.imsglobal.org/spec/lti/claim/message_type"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
VERSION = "https://purl.imsglobal.org/spec/lti/claim/version"
SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
CONTEXT = "https://purl.imsglobal.org/spec/lti/claim/context"
REQUEST_TYPE = "LtiDeepLinkingRequest"
RESPONSE_TYPE = "LtiDeepLinkingResponse"
PENDING_TTL = 900.0
RESPONSE_TTL = 600


@dataclass(frozen=True)
class DeepLinkRequest:
    """A verified deep-linking request of ``user`` (what the response must echo)."""

    user: str
    issuer: str
    client_id: str
    deployment_id: str
    context_id: str | None
    return_url: str
    data: Any  # echoed as given (the spec says a string; some platforms send an object)
    title: str
    expires: float


def is_deep_link(token: Mapping[str, Any]) -> bool:
    return token.get(MESSAGE_TYPE) == REQUEST_TYPE


def deep_link_request(token: Mapping[str, Any], *, client_id: str, user: str) -> DeepLinkRequest:
    """The request's settings, checked: an https (or loopback) return URL, and an LMS that
    accepts LTI resource links. ``InputError`` names the claim."""
    settings = token.get(SETTINGS)
    if not isinstance(settings, Mapping):
        raise InputError("deep_linking_settings", "is missing")
    url = settings.get("deep_link_return_url")
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise InputError("deep_link_return_url", "is missing")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_url(url)):
        raise InputError("deep_link_return_url", f"{shorten(url)} is not an https URL")
    accepted = settings.get("accept_types")
    if not isinstance(accepted, list) or "ltiResourceLink" not in accepted:
        raise InputError("accept_types", "the platform does not accept LTI resource links here")
    data = settings.get("data")
    context = token.get(CONTEXT)
    context_id = context.get("id") if isinstance(context, Mapping) else None
    return DeepLinkRequest(
        user=user,
        issuer=str(token["iss"]),
        client_id=client_id,
        deployment_id=str(token.get(DEPLOYMENT) or ""),
        context_id=context_id if isinstance(context_id, str) else None,
        return_url=url,
        data=data if len(json.dumps(data)) <= 4096 else None,
        title=str(settings.get("title") or "")[:200],
        expires=time.monotonic() + PENDING_TTL,
    )


class PendingLinks:
    """Deep-linking requests waiting for the teacher's choice (in this hub process)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._items: dict[str, DeepLinkRequest] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def add(self, request: DeepLinkRequest) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._items = {k: v for k, v in self._items.items() if v.expires > now}
            if len(self._items) >= self.max_entries:
                raise web.HTTPError(503, "Too many deep-linking requests in progress")
            self._items[token] = request
        return token

    def get(self, token: str, user: str) -> DeepLinkRequest:
        with self._lock:
            item = self._items.get(token)
        if item is None or item.user != user or item.expires < time.monotonic():
            raise web.HTTPError(
                404,
                "This link request is unknown or expired: add the link again from your course page",
            )
        return item

    def pop(self, token: str, user: str) -> DeepLinkRequest:
        item = self.get(token, user)
        with self._lock:
            self._items.pop(token, None)
        return item


pending = PendingLinks()


def content_item(
    kind: str, entry_id: str, title: str, text: str, path: str, target_link_uri: str
) -> dict[str, Any]:
    """One ``ltiResourceLink`` whose launch opens ``kind`` (course|catalogue) ``entry_id``."""
    custom = {kind: entry_id}
    if path:
        custom["path"] = path
    item: dict[str, Any] = {
        "type": "ltiResourceLink",
        "title": title,
        "url": target_link_uri,
        "custom": custom,
    }
    if text:
        item["text"] = text
    return item


def response_token(
    request: DeepLinkRequest, items: list[dict[str, Any]], keys: ToolKeys, now: int | None = None
) -> str:
    """The signed ``LtiDeepLinkingResponse`` JWT (RS256, the newest tool key)."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": request.client_id,
        "aud": request.issuer,
        "iat": now,
        "exp": now + RESPONSE_TTL,
        "nonce": secrets.token_urlsafe(16),
        DEPLOYMENT: request.deployment_id,
        MESSAGE_TYPE: RESPONSE_TYPE,
        VERSION: "1.3.0",
        CONTENT_ITEMS: items,
    }
    if request.data is not None:
        claims[DATA] = request.data
    key = keys.signing_key()
    return jwt.encode(claims, key.private_key(), algorithm="RS256", headers={"kid": key.kid})


def tool_keys(handler: Any) -> ToolKeys:
    """The site's tool keys (one object per process, so the folder is read once per change)."""
    site = service_for(handler.settings["versahub_site_file"]).site_source.current()
    folder = keys_dir(site.state_dir)
    cache = handler.settings.setdefault("versahub_tool_keys", {})
    if folder not in cache:
        cache[folder] = ToolKeys(folder)
    return cache[folder]


class JWKSHandler(BaseHandler):
    """``GET /hub/lti13/jwks``: the tool's public keys (no login needed)."""

    def check_xsrf_cookie(self) -> None:
        pass

    async def get(self) -> None:
        keys = tool_keys(self)
        keys.signing_key()  # the first key is made when the hub first needs one
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(keys.jwks())


class DeepLinkHandler(BaseHandler):
    """The teacher's choice for a deep-linking request (GET shows, POST answers)."""

    async def choices(self, request: DeepLinkRequest, user: Any) -> list[dict[str, str]]:
        site = await service_for(self.settings["versahub_site_file"]).site()
        groups = {g.name for g in user.groups}
        out: list[dict[str, str]] = []
        for course in sorted(site.courses.values(), key=lambda c: c.id):
            bound = any(
                x.platform == request.issuer and x.context_id == request.context_id
                for x in course.contexts
            )
            if course.archived or not (bound or course.groups["teacher"] in groups):
                continue
            env = course.environment
            out.append(
                {
                    "value": f"course:{course.id}",
                    "kind": "course",
                    "id": course.id,
                    "title": course.title,
                    "text": f"{env['repo']} @ {env['ref']}",
                }
            )
        for entry in site.catalogue:
            spec = entry["spec"]
            out.append(
                {
                    "value": f"catalogue:{entry['id']}",
                    "kind": "catalogue",
                    "id": entry["id"],
                    "title": entry["title"],
                    "text": entry["description"] or f"{spec['repo']} @ {spec['ref']}",
                }
            )
        return out

    @web.authenticated
    async def get(self, token: str) -> None:
        request = pending.get(token, self.current_user.name)
        choices = await self.choices(request, self.current_user)
        html = await self.render_template(
            "deep-link.html", request=request, choices=choices, token=token, error=None
        )
        self.finish(html)

    @web.authenticated
    async def post(self, token: str) -> None:
        user = self.current_user
        request = pending.get(token, user.name)
        choices = {c["value"]: c for c in await self.choices(request, user)}
        chosen = choices.get(self.get_body_argument("choice", ""))
        try:
            if chosen is None:
                raise InputError("choice", "pick one of the environments listed")
            path = validate_open_path("path", self.get_body_argument("path", "").strip())
        except InputError as err:
            self.set_status(400)
            html = await self.render_template(
                "deep-link.html",
                request=request,
                token=token,
                choices=list(choices.values()),
                error=str(err),
            )
            self.finish(html)
            return
        pending.pop(token, user.name)
        site = await service_for(self.settings["versahub_site_file"]).site()
        item = content_item(
            chosen["kind"],
            chosen["id"],
            chosen["title"],
            chosen["text"],
            path,
            f"{site.hub_url}/hub/",
        )
        signed = response_token(request, [item], tool_keys(self))
        self.log.info(
            "deep link by %s to %s: %s %s", user.name, request.issuer, chosen["value"], path or ""
        )
        html = await self.render_template(
            "deep-link-return.html", return_url=request.return_url, jwt=signed, item=item
        )
        self.finish(html)
