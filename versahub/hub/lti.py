"""LTI logins through jupyterhub-ltiauthenticator 1.6.3, as small subclasses of its own.

``VersaHubLTI13Authenticator`` adds what the stock ``LTI13Authenticator`` lacks:

- **several platforms** (a Moodle and a Canvas at once). The stock class has one issuer,
  one authorize URL, one JWKS URL. Here the login initiation's ``iss`` (and ``client_id``
  when several registrations share an issuer, as Canvas Cloud does) picks one entry of
  ``platforms``; that choice rides in the OAuth ``state`` (which the stock handler already
  binds to an encrypted cookie), and the callback verifies the id_token against *that*
  platform only: its issuer, its JWKS, the client id of the login initiation as audience.
- **deployment ids**: the stock class never checks ``deployment_id``; here both the login
  initiation's ``lti_deployment_id`` and the id_token's claim must be registered.
- **replay**: the stock nonce check relies on a cookie the browser drops after the
  callback; here every accepted (issuer, nonce) is also remembered for as long as an
  id_token can be valid, so a captured callback cannot be posted again.

``VersaHubLTI11Authenticator`` keeps the stock OAuth 1.0a validation (signature, 30 s
timestamp window, nonce cache) and only logs refusals.

Every refusal answers JupyterHub's error page with a sentence saying what was wrong (no
traceback), creates no user (it happens before ``login_user``/``auth_to_user``) and logs
one line ``LTI 1.x login refused: <reason> (…identifiers…)`` — never a token, signature
or secret. The LTI claims (roles, context, resource link, custom) stay in ``auth_state``.

Both name a course (``versahub.hub.courses``): ``authenticate`` refuses a launch without
a live course or a role before any account exists, and sets the user's course groups
through JupyterHub's ``manage_groups``; the launch handler then starts the course server
through the launch service and sends the browser to its progress page.

This module must never relax a check of the stock classes: each override calls the stock
validator and adds checks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
from jupyterhub.utils import url_path_join
from ltiauthenticator.lti11.auth import LTI11Authenticator
from ltiauthenticator.lti11.handlers import LTI11AuthenticateHandler, LTI11ConfigHandler
from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.error import (
    IncorrectValueError,
    InvalidAudienceError,
    LoginError,
    ValidationError,
)
from ltiauthenticator.lti13.handlers import (
    LTI13CallbackHandler,
    LTI13LoginInitHandler,
    _deserialize_state,
    _serialize_state,
)
from ltiauthenticator.lti13.validator import LTI13LaunchValidator
from ltiauthenticator.utils import convert_request_to_dict
from tornado.httputil import url_concat
from tornado.web import HTTPError
from traitlets import Dict, Int, List

from versahub.errors import InputError
from versahub.hub.courses import (
    CourseClaims,
    CourseRefused,
    course_login,
    groups_after,
    launch_course,
)
from versahub.hub.deep_linking import (
    DeepLinkHandler,
    JWKSHandler,
    deep_link_request,
    is_deep_link,
    pending,
)
from versahub.site.courses import role_of

DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"
CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"
HELP = "Launch again from your course page; if it keeps failing, tell the site's operators."


class Refused(Exception):
    """An LTI launch refused for ``reason`` (one sentence, no secret); ``status`` is the
    HTTP status of the error page."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _short(value: Any, limit: int = 80) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refusal_page(status: int, message: str) -> HTTPError:
    """An ``HTTPError`` that JupyterHub renders as its error page showing ``message``.

    The message rides in ``jupyterhub_message`` (read by ``BaseHandler.write_error``), not
    in ``log_message``: tornado would log it again, and the refusal is logged once already.
    """
    err = HTTPError(status)
    err.jupyterhub_message = message  # type: ignore[attr-defined]
    return err


class NonceLedger:
    """(issuer, nonce) pairs already used, each kept ``ttl`` seconds (thread-safe)."""

    def __init__(self, ttl: float, max_entries: int = 200_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def use(self, issuer: str, nonce: str, now: float | None = None) -> bool:
        """Record the pair; False when it was already used (a replay)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) >= self.max_entries or len(self._seen) % 256 == 0:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            if self._seen.get((issuer, nonce), 0) > now:
                return False
            if len(self._seen) >= self.max_entries:
                return False  # full of live nonces: refuse rather than forget one
            self._seen[(issuer, nonce)] = now + self.ttl
            return True


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def course_claims13(token: dict[str, Any]) -> CourseClaims:
    """What a verified LTI 1.3 id_token says about the course (hostile shapes ignored)."""
    roles = token.get(ROLES_CLAIM)
    custom = _mapping(token.get(CUSTOM_CLAIM))
    return CourseClaims(
        named=_text(custom.get("course")),
        platform=_text(token.get("iss")),
        context_id=_text(_mapping(token.get(CONTEXT_CLAIM)).get("id")),
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        catalogue=_text(custom.get("catalogue")),
        path=_text(custom.get("path")),
    )


def course_claims11(args: dict[str, Any]) -> CourseClaims:
    """What a verified LTI 1.1 launch says about the course."""
    roles = _text(args.get("roles")) or ""
    return CourseClaims(
        named=_text(args.get("custom_course")),
        platform=_text(args.get("oauth_consumer_key")),
        context_id=_text(args.get("context_id")),
        roles=tuple(r.strip() for r in roles.split(",") if r.strip()),
        catalogue=_text(args.get("custom_catalogue")),
        path=_text(args.get("custom_path")),
    )


async def open_course(handler: Any, user: Any) -> str:
    """Where the browser goes after a course launch's login: its course server."""
    try:
        return await launch_course(handler, user)
    except HTTPError as err:
        status = err.status_code
        message = err.log_message or err.reason or "the course server could not start"
    except InputError as err:  # e.g. a catalogue entry that no longer parses
        status, message = 400, str(err)
    handler.log.warning("course launch of %s refused: %s", user.name, message)
    raise refusal_page(status, f"The course server cannot start: {message}")


def claimed(id_token: str | None) -> dict[str, Any]:
    """What an id_token *claims* (unverified), for the log line of a refusal: issuer,
    audience, subject, deployment. Never the token itself."""
    try:
        claims = jwt.decode(id_token or "", options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return {
        "iss": claims.get("iss"),
        "client_id": claims.get("aud"),
        "lti_deployment_id": claims.get(DEPLOYMENT_CLAIM),
        "sub": claims.get("sub"),
    }


class VersaHubLTI13LoginInitHandler(LTI13LoginInitHandler):
    """The OIDC login initiation: picks the platform, checks the deployment, redirects."""

    _platform: dict[str, Any] | None = None
    _client_id: str | None = None

    def post(self) -> None:
        args = convert_request_to_dict(self.request.arguments)
        authenticator: VersaHubLTI13Authenticator = self.authenticator
        try:
            try:
                LTI13LaunchValidator(parent=self.app).validate_login_request(args)
            except ValidationError as err:
                raise Refused(
                    f"{err} (this address takes launches from a learning platform)"
                ) from None
            platform, client_id = authenticator.platform_for(
                args["iss"], args.get("client_id") or None
            )
            deployment = args.get("lti_deployment_id")
            if deployment and deployment not in platform["deployment_ids"]:
                raise Refused(
                    f"deployment id {_short(deployment)!r} is not registered for {platform['name']}"
                )
        except Refused as err:
            authenticator.refuse(self, "login initiation", err, args)
        self._platform, self._client_id = platform, client_id
        nonce_state_nonce = self.generate_nonce()
        state = self.generate_state()
        self.authorize_redirect(
            redirect_uri=self.get_redirect_uri(),
            login_hint=args["login_hint"],
            nonce=nonce_state_nonce,
            client_id=client_id,
            state=state,
            lti_message_hint=args.get("lti_message_hint"),
        )

    get = post

    def get_state(self) -> str:
        """The stock state (next URL, random id) plus the platform chosen here."""
        if self._state is None:
            state = _deserialize_state(super().get_state())
            assert self._platform is not None
            state["iss"] = self._platform["issuer"]
            state["client_id"] = self._client_id
            self._state = _serialize_state(state)
        return self._state

    def authorize_redirect(
        self,
        redirect_uri: str,
        login_hint: str,
        nonce: str,
        client_id: str,
        state: str,
        lti_message_hint: str | None = None,
    ) -> None:
        """The stock authentication request, sent to the chosen platform's authorize URL."""
        args = {
            "response_type": "id_token",
            "scope": "openid",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "login_hint": login_hint,
            "nonce": nonce,
            "state": state,
        }
        if lti_message_hint is not None:
            args["lti_message_hint"] = lti_message_hint
        assert self._platform is not None
        self.redirect(url_concat(self._platform["authorize_url"], args))


class VersaHubLTI13CallbackHandler(LTI13CallbackHandler):
    """The launch (id_token form post): verified against the platform of the state."""

    async def post(self) -> None:
        authenticator: VersaHubLTI13Authenticator = self.authenticator
        args = claimed(convert_request_to_dict(self.request.arguments).get("id_token"))
        try:
            try:
                id_token = self.decode_and_validate_launch_request()
            except InvalidAudienceError as err:
                raise Refused(f"wrong audience: {err}", 401) from None
            except ValidationError as err:
                raise Refused(str(err)) from None
            except HTTPError as err:  # the stock state and nonce checks
                raise Refused(err.get_message() or err.reason or "bad request") from None
            try:
                user = await self.login_user(id_token)
            except LoginError as err:
                raise Refused(str(err)) from None
            if user is None:
                raise Refused("this account may not use the hub (not in allowed_users)", 403)
        except Refused as err:
            authenticator.refuse(self, "launch", err, args)
        request = getattr(self, "_versahub_deep_link", None)
        if request is not None:
            token = pending.add(request)
            self.redirect(url_path_join(self.hub.base_url, "lti13/deep-link", token))
            return
        self.redirect(await open_course(self, user))

    def decode_and_validate_launch_request(self) -> dict[str, Any]:
        """The stock checks, against the platform the login initiation chose."""
        authenticator: VersaHubLTI13Authenticator = self.authenticator
        validator = LTI13LaunchValidator(parent=self.app)
        args = convert_request_to_dict(self.request.arguments)
        validator.validate_auth_response(args)
        self.check_state()  # the state of the URL is the one of the encrypted cookie
        state = _deserialize_state(self._get_state_from_url())
        platform = authenticator.platform_by(state.get("iss"), state.get("client_id"))
        if platform is None:
            raise Refused("the launch names a platform this hub no longer knows")
        self._platform_name = platform["name"]
        self._client_id = state["client_id"]
        id_token: dict[str, Any] = validator.verify_and_decode_jwt(
            encoded_jwt=args.get("id_token"),
            issuer=platform["issuer"],
            audience=[state["client_id"]],
            jwks_endpoint=platform["jwks_url"],
            jwks_algorithms=authenticator.jwks_algorithms,
        )
        validator.validate_id_token(id_token)
        validator.validate_azp_claim(id_token, [state["client_id"]])
        deployment = id_token.get(DEPLOYMENT_CLAIM)
        if deployment not in platform["deployment_ids"]:
            raise IncorrectValueError(
                f"deployment id {_short(deployment)!r} is not registered for {platform['name']}"
            )
        self.check_nonce(id_token)
        if not authenticator.nonces.use(platform["issuer"], str(id_token["nonce"])):
            raise Refused("this launch was already used (replayed id_token)")
        return id_token


class VersaHubLTI13Authenticator(LTI13Authenticator):
    """LTI 1.3 login from one or several platforms (see the module's docstring)."""

    login_handler = VersaHubLTI13LoginInitHandler
    callback_handler = VersaHubLTI13CallbackHandler

    platforms = List(
        Dict(),
        config=True,
        help="""The platforms (LMS registrations) whose launches log people in: each
        ``{"name", "issuer", "client_ids", "authorize_url", "jwks_url", "deployment_ids"}``.
        Several may share an issuer with distinct client ids (Canvas Cloud); a login
        initiation must then carry ``client_id``. Set from site.yaml
        (``hub.auth.lti13.platforms``) by ``versahub.app.hubconfig``.""",
    )

    nonce_ttl = Int(
        900,
        config=True,
        help="""Seconds an accepted id_token nonce is remembered to refuse a replay; longer
        than the validator's ``max_age`` (600 s) plus its ``time_leeway``.""",
    )

    site_groups = Dict(
        config=True,
        help="""The groups ``site.yaml`` lists (``hub.groups``: group → user names). With
        ``manage_groups`` JupyterHub loads no groups itself, so each login applies these
        besides the course groups of the launch.""",
    )

    _nonces: NonceLedger | None = None

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        """The stock handlers plus the tool's key set and the deep-linking choice page."""
        return [
            *super().get_handlers(app),
            ("/lti13/jwks", JWKSHandler),
            ("/lti13/deep-link/([A-Za-z0-9_-]{16,64})", DeepLinkHandler),
        ]

    async def authenticate(self, handler: Any, data: dict | None = None) -> dict[str, Any]:
        """The stock model plus the course, role and groups of the launch (refused when it
        names no live course or no role: nothing is created). A deep-linking request needs
        a teaching role; it is kept for the choice page (``versahub.hub.deep_linking``)."""
        model = await super().authenticate(handler, data)
        if is_deep_link(data or {}):
            claims = course_claims13(data or {})
            if role_of(claims.roles) != "teacher":
                raise Refused("only a teacher of the course may add VersaHub links", 403)
            try:
                handler._versahub_deep_link = deep_link_request(
                    data or {}, client_id=handler._client_id, user=model["name"]
                )
            except InputError as err:
                raise Refused(f"deep linking: {err}") from None
            groups = groups_after(handler, model["name"], self.site_groups)
            return {**model, "groups": groups}
        try:
            return await course_login(handler, model, course_claims13(data or {}),
                                      self.site_groups)  # fmt: skip
        except CourseRefused as err:
            raise Refused(err.reason, err.status) from None

    @property
    def nonces(self) -> NonceLedger:
        if self._nonces is None:
            self._nonces = NonceLedger(self.nonce_ttl)
        return self._nonces

    def platform_for(self, issuer: str, client_id: str | None) -> tuple[dict[str, Any], str]:
        """The platform and client id a login initiation names, else :class:`Refused`."""
        candidates = [p for p in self.platforms if p["issuer"] == issuer]
        if not candidates:
            raise Refused(f"unknown issuer {_short(issuer)!r} (no platform registered)", 401)
        if client_id is not None:
            for platform in candidates:
                if client_id in platform["client_ids"]:
                    return platform, client_id
            raise Refused(
                f"client id {_short(client_id)!r} is not registered for {_short(issuer)!r}", 401
            )
        ids = [cid for p in candidates for cid in p["client_ids"]]
        if len(ids) != 1:
            raise Refused(
                f"the login initiation from {_short(issuer)!r} has no client_id and the "
                "issuer has several registrations"
            )
        return candidates[0], ids[0]

    def platform_by(self, issuer: Any, client_id: Any) -> dict[str, Any] | None:
        """The registered platform of (issuer, client id), if any."""
        for platform in self.platforms:
            if platform["issuer"] == issuer and client_id in platform["client_ids"]:
                return platform
        return None

    def refuse(self, handler: Any, step: str, err: Refused, args: dict[str, Any]) -> None:
        """Log one line about a refused launch and answer the error page."""
        known = ("iss", "client_id", "lti_deployment_id", "login_hint", "sub")
        details = [f"{k}={_short(args[k], 60)!r}" for k in known if args.get(k)]
        platform = getattr(handler, "_platform_name", None)
        if platform:
            details.insert(0, f"platform={platform!r}")
        details.append(f"from {handler.request.remote_ip}")
        self.log.warning(
            "LTI 1.3 login refused at %s: %s (%s)", step, err.reason, ", ".join(details)
        )
        raise refusal_page(err.status, f"LTI 1.3 launch refused: {err.reason}. {HELP}")


class VersaHubLTI11AuthenticateHandler(LTI11AuthenticateHandler):
    """The stock LTI 1.1 launch, plus: an account outside ``allowed_users`` gets an error
    page (the stock handler redirects as if it had logged in), and the browser goes to the
    course server (the stock handler follows ``custom_next`` to any URL it names)."""

    async def post(self) -> None:
        user = await self.login_user()
        if user is None:
            self.authenticator.refuse(
                self, "this account may not use the hub (not in allowed_users)", 403
            )
        self.redirect(await open_course(self, user))


class VersaHubLTI11Authenticator(LTI11Authenticator):
    """The stock LTI 1.1 login, naming a course; a refusal is logged in one line before
    its error page."""

    site_groups = Dict(
        config=True,
        help="""The groups ``site.yaml`` lists (``hub.groups``); see the LTI 1.3 class.""",
    )

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [
            ("/lti/launch", VersaHubLTI11AuthenticateHandler),
            ("/lti11/config", LTI11ConfigHandler),
        ]

    async def authenticate(self, handler: Any, data: dict | None = None) -> dict | None:
        try:
            model = await super().authenticate(handler, data)
        except HTTPError as err:
            self.refuse(handler, err.get_message() or err.reason or "bad request", err.status_code)
        if model is None:
            return None
        args = convert_request_to_dict(handler.request.arguments)
        try:
            return await course_login(handler, model, course_claims11(args), self.site_groups)
        except CourseRefused as err:
            self.refuse(handler, err.reason, err.status)
        return None  # not reached: refuse raises

    def refuse(self, handler: Any, reason: str, status: int) -> None:
        """Log one line about a refused launch and answer the error page."""
        args = convert_request_to_dict(handler.request.arguments)
        known = ("oauth_consumer_key", "user_id", "context_id", "resource_link_id")
        details = [f"{k}={_short(args[k], 60)!r}" for k in known if args.get(k)]
        details.append(f"from {handler.request.remote_ip}")
        self.log.warning("LTI 1.1 login refused: %s (%s)", reason, ", ".join(details))
        raise refusal_page(status, f"LTI 1.1 launch refused: {reason}. {HELP}")
