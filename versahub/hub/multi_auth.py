"""LTI launches next to the site's own login, in one hub.

JupyterHub has one authenticator per hub. ``VersaHubMultiAuthenticator`` is that one: it
*is* the site's own login (``primary_class``: the demo login or the site's generic class)
for everything JupyterHub asks an authenticator — the login page and its handler,
logout, allow rules, refresh, spawn hooks — and it adds the routes of an LTI
authenticator (``lti_class``, ``versahub.hub.lti``), each bound to its own LTI instance:
an LTI handler's ``self.authenticator`` is the LTI authenticator, so its launches are
checked, mapped to courses, given groups (``manage_groups`` on the LTI class only) and
logged in exactly as on an LTI-only site, while ``/hub/login`` stays the site's.

Each login keeps its own allow rule (``site.yaml``: ``hub.auth.allow_all`` /
``allowed_users`` or the demo users for the site's login, ``hub.auth.lti13.allow_all`` /
``allowed_users`` for the LMS); neither extends the other (``allow_existing_users`` is off
for both), so a person who came from the LMS cannot use the demo password, and the reverse.
Both logins share one user namespace: the same username from both is the same account.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.auth import Authenticator
from traitlets import Type


def bound_handler(handler: type, authenticator: Authenticator) -> type:
    """``handler`` with ``self.authenticator`` returning ``authenticator``."""
    return type(
        handler.__name__,
        (handler,),
        {"authenticator": property(lambda self: authenticator), "__module__": __name__},
    )


class VersaHubMultiAuthenticator(Authenticator):
    """The site's own login plus LTI launches (see the module's docstring)."""

    primary_class = Type(
        klass=Authenticator,
        config=True,
        help="""The site's own login (the demo login, or hub.auth.class): /hub/login,
        logout and everything JupyterHub asks an authenticator outside LTI routes.""",
    )
    lti_class = Type(
        klass=Authenticator,
        config=True,
        help="""The LTI authenticator whose routes (/hub/lti13/… or /hub/lti/launch) are
        added, bound to an instance of their own.""",
    )

    _primary: Authenticator | None = None
    _lti: Authenticator | None = None

    @property
    def primary(self) -> Authenticator:
        if self._primary is None:
            self._primary = self.primary_class(parent=self.parent)
        return self._primary

    @property
    def lti(self) -> Authenticator:
        if self._lti is None:
            self._lti = self.lti_class(parent=self.parent)
        return self._lti

    # -- what JupyterHub asks: the site's login ------------------------------------------
    @property
    def login_service(self) -> str:  # type: ignore[override]
        return str(self.primary.login_service)

    def login_url(self, base_url: str) -> str:
        return str(self.primary.login_url(base_url))

    def logout_url(self, base_url: str) -> str:
        return str(self.primary.logout_url(base_url))

    def get_custom_html(self, base_url: str) -> str:
        return str(self.primary.get_custom_html(base_url))

    async def get_authenticated_user(self, handler: Any, data: Any) -> Any:
        return await self.primary.get_authenticated_user(handler, data)

    async def authenticate(self, handler: Any, data: Any) -> Any:
        return await self.primary.authenticate(handler, data)

    def check_allow_config(self) -> None:
        self.primary.check_allow_config()
        self.lti.check_allow_config()

    def get_handlers(self, app: Any) -> list[tuple[Any, ...]]:
        """The site login's routes, then the LTI routes bound to the LTI authenticator."""
        routes: list[tuple[Any, ...]] = list(self.primary.get_handlers(app))
        for route in self.lti.get_handlers(app):
            url, handler, *rest = route
            routes.append((url, bound_handler(handler, self.lti), *rest))
        return routes
