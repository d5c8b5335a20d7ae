"""An entry point: ``/v2/…`` links routed to member hubs (``federation.entry_point``).

When ``federation.entry_point.enabled`` is set, this hub opens no ``/v2/…`` link itself: every
Binder-style link is sent (302) to the first member hub that the routing rules name for
its provider and repository (``versahub.site.federation.route``) and that answers a
health check within ``health_timeout`` seconds (answers are remembered 10 seconds). A
member that does not answer is skipped and logged; when none answers the visitor gets a
503 page naming them. No login is needed: the member hub asks for one, and shows its risk
dialog for a link from outside.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from jupyterhub.handlers.base import BaseHandler
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from versahub.errors import InputError
from versahub.launch.service import service_for
from versahub.site.federation import Hub, health_url, hubs_of, member_url, route
from versahub.urls import parse_launch_url

HEALTH_TTL = 10.0
log = logging.getLogger(__name__)


class FederationRedirectHandler(BaseHandler):
    _health: ClassVar[dict[str, tuple[float, bool]]] = {}

    async def healthy(self, hub: Hub, timeout: float) -> bool:
        url = health_url(hub)
        seen = self._health.get(url)
        if seen is not None and time.monotonic() - seen[0] < HEALTH_TTL:
            return seen[1]
        try:
            response = await AsyncHTTPClient().fetch(
                url, request_timeout=timeout, connect_timeout=timeout, follow_redirects=False
            )
            ok = response.code < 400
        except HTTPClientError as err:
            ok = err.code < 400 and err.code != 599
        except (OSError, TimeoutError):
            ok = False
        self._health[url] = (time.monotonic(), ok)
        return ok

    async def get(self, spec_path: str) -> None:
        site = await service_for(self.settings["versahub_site_file"]).site()
        entry: dict[str, Any] = site.data["federation"]["entry_point"]
        path = f"/v2/{spec_path}"
        query = self.request.query
        try:
            spec = parse_launch_url(f"{site.hub_url}{path}" + (f"?{query}" if query else ""))
        except InputError as err:
            self.set_status(400)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"This link cannot be routed: {err}\n")
            return
        tried = []
        user = self.current_user  # a logged-in visitor's groups select institution rules
        groups = (
            [g.name for g in user.groups] if user is not None and hasattr(user, "groups") else []
        )
        members = route(entry, hubs_of(site.data), provider=spec.provider, repo=spec.repo,
                        groups=groups)  # fmt: skip
        for hub in members:
            if await self.healthy(hub, float(entry.get("health_timeout", 2.0))):
                self.redirect(member_url(hub, path, query))
                return
            tried.append(hub.name)
            log.warning("entry point: member %s (%s) does not answer; skipped", hub.name, hub.url)
        self.set_status(503)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        names = ", ".join(tried) or "none for this repository"
        self.finish(f"No member hub can take this link now (tried: {names}). Try again later.\n")
