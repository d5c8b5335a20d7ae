"""Legacy Binder links: ``/repo/<user>/<repo>[/<path>]`` → the launch page.

BinderHub still answers its first link form with ``LegacyRedirectHandler``:
``/repo/<user>/<repo>/<path>`` → ``/v2/gh/<user>/<repo>/master?urlpath=/<path>``. JupyterHub
mounts ``c.JupyterHub.extra_handlers`` under ``/hub/``, and its stock
``PrefixRedirectHandler`` sends ``/repo/…`` to ``/hub/repo/…`` (query kept), as it does for
``/v2/…``; this handler then redirects to ``<hub base_url>v2/gh/…``, where
``LaunchPageHandler`` (login first, when needed) takes over. The target is computed by the
pure :func:`versahub.urls.legacy_redirect` from the still-encoded request path, so a bad
name (``..``, ``/``, CR/LF, …) is answered ``400`` with one line naming the field, and the
``Location`` is always a path under the hub's own base URL.
"""

from __future__ import annotations

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from versahub.errors import InputError
from versahub.urls import legacy_redirect


class LegacyRedirectHandler(BaseHandler):
    """``GET /hub/repo/<user>/<repo>[/<path>]`` → ``302 /hub/v2/gh/<user>/<repo>/master?…``."""

    def get(self, _rest: str = "") -> None:
        # tornado has already percent-decoded _rest: read the raw path instead.
        hub_prefix = self.hub.base_url.rstrip("/")
        path = self.request.path
        if not path.startswith(hub_prefix + "/repo/"):
            raise web.HTTPError(404)
        try:
            target = legacy_redirect(path[len(hub_prefix) :], self.request.query)
        except InputError as err:
            self.set_status(400)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"{err}\n")
            return
        self.redirect(self.hub.base_url + target.lstrip("/"))  # base_url ends with "/"
