"""``/hub/api/versahub/launch``: the launch endpoint of the launch page and of scripts.

A JupyterHub ``APIHandler`` (hub tokens, or the browser's cookie *plus* the XSRF token
JupyterHub requires of cookie-authenticated API calls), registered through
``c.JupyterHub.extra_handlers``. It only translates HTTP: the launch service decides.

``POST /hub/api/versahub/launch`` with
``{"spec": {...} | "url": "…", "confirmation"?, "origin"?, "action": "open"|"update"?}``
answers JSON ``{"status", "server_name", "spec_id", "decision", "url", "progress_url", …}``:

- ``invalid`` (400, ``error: {field, reason, message}``): nothing is judged or created;
- ``denied`` (403) / ``confirmation-required`` (409) / ``unavailable`` (503, the policy
  engine did not answer): the decision; nothing is created;
- ``differs`` (409): the named server exists with another configuration; ``differences``
  lists the changed fields; repeat with ``action=update`` (recreate it with the new
  configuration, volumes kept) or ``action=open`` (open it as it is);
- ``starting`` (202): the server is being started; follow ``progress_url``
  (``GET /hub/api/versahub/launch/<server>``) until ``ready`` or ``failed``;
- ``ready`` (200): the server runs; ``url`` opens the spec's ``urlpath``;
- ``failed`` (502 for a build failure, else the start's status): the failed phase and why.

A configuration sent without a ``server_name`` that already exists under another name (running
or stopped) opens that server instead of creating a second one. Two launches of one
(user, server) are serialised, so one server starts. The spawner re-checks everything.

``GET /hub/api/versahub/launch/<server>``: ``{"status": "starting"|"ready"|"failed"|
"stopped", "phase", "events", "url", "message"?}`` — the events of that server's latest
launch, kept for a while after a failure even when the refused server's entry is gone.

Public read-only copies (``docs/spawning.md``): ``GET /hub/versahub/public/<owner>/<server>``
shows what a copy would open and changes nothing; a ``POST`` to it creates the copy
(:class:`PublicCopyHandler`: XSRF, a one-time token for anonymous visitors, the
``hub.public_copies`` limits); ``GET``/``DELETE /hub/api/versahub/public/<server>`` are the
owner's link and its revocation (:class:`PublicLinkAPIHandler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import has_scope
from jupyterhub.slugs import is_valid_safe_slug
from jupyterhub.utils import url_escape_path, url_path_join
from prometheus_client import REGISTRY
from tornado import web

from versahub.constants import GUEST_GROUP, GUEST_PREFIX
from versahub.errors import InputError, shorten
from versahub.launch import progress as launches
from versahub.launch.directory import known_collaborators
from versahub.launch.plan import effective_mounts
from versahub.launch.request import (
    PUBLIC_KEY,
    LaunchRequest,
    parse_request,
    spec_differences,
    stored_spec,
)
from versahub.launch.service import LaunchService, service_for
from versahub.spec import ServerSpec, spec_errors


def error_document(err: InputError) -> dict[str, Any]:
    """An input error as every VersaHub API answers it."""
    return {"field": err.field, "reason": err.reason, "message": str(err)}


def invalid_document(
    err: InputError, body: Mapping[str, Any], *, owner: str, volumes: list[str]
) -> dict[str, Any]:
    """``{"error": <the first>, "errors": [one per field]}`` for a request that did not parse:
    a form shows every field's error at once."""
    errors = [err]
    spec = body.get("spec")
    if isinstance(spec, Mapping) and err.field not in ("spec", "url", "confirmation", "origin"):
        errors = spec_errors(spec, owner=owner, volumes=volumes) or [err]
    return {"error": error_document(errors[0]), "errors": [error_document(e) for e in errors]}


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = shorten(key) if not key.isidentifier() else key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class VersaHubAPIHandler(APIHandler):
    """What every VersaHub API handler shares: the calling user, the body, the service."""

    @property
    def service(self) -> LaunchService:
        return service_for(self.settings["versahub_site_file"])

    def calling_user(self) -> Any:
        """The user making the call; it needs the ``servers`` scope for its own servers."""
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, "Launching needs a user (a user's token or login)")
        if any(g.name == GUEST_GROUP for g in user.groups):
            raise web.HTTPError(403, "Guest accounts of public copies cannot launch servers")
        if not has_scope(f"servers!user={user.name}", self.parsed_scopes, db=self.db):
            raise web.HTTPError(403, "This token may not start servers (scope servers missing)")
        return user

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object; a key given twice in one object is an
        :class:`InputError` naming it, never silently merged (the last one would win)."""
        try:
            body = json.loads(self.request.body or b"null", object_pairs_hook=_unique_keys)
        except _DuplicateKey as err:
            raise InputError(err.key, "is given twice in the request") from None
        except (ValueError, RecursionError):
            raise web.HTTPError(400, "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The body must be a JSON object")
        return body

    def directory(self, collaborators: tuple[str, ...]) -> dict[str, list[str]]:
        return known_collaborators(self.db, collaborators)

    def answer(self, status: int, doc: Mapping[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dict(doc))


def same_configuration(user: Any, spec_id: str) -> str | None:
    """The name of ``user``'s named server launched from the configuration ``spec_id``
    (a running one first), else ``None``."""
    found: list[tuple[bool, str]] = []
    for name, orm_spawner in user.orm_user.orm_spawners.items():
        if not name:
            continue
        spec = stored_spec(orm_spawner.user_options, owner=user.name)
        if spec is not None and spec.spec_id == spec_id:
            found.append((orm_spawner.server is None, name))
    return min(found)[1] if found else None


class LaunchHandler(VersaHubAPIHandler):
    """Launch (or open, or update) a named server; report a launch's progress."""

    # one lock per (user, server) being launched, with the number of requests holding or
    # waiting for it; dropped when the last one is done (no lock outlives its launches)
    _locks: ClassVar[dict[tuple[str, str], tuple[asyncio.Lock, list[int]]]] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def serialised(cls, key: tuple[str, str]) -> AsyncIterator[None]:
        """Run launches of one (user, server) one after the other; others run freely."""
        lock, users = cls._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                cls._locks.pop(key, None)

    async def post(self) -> None:
        user = self.calling_user()
        try:
            body = self.json_body()
        except InputError as err:
            self.answer(400, {"status": "invalid", "error": error_document(err),
                              "errors": [error_document(err)]})  # fmt: skip
            return
        action = body.pop("action", None)
        if action not in (None, "open", "update"):
            self.answer(400, {"status": "invalid", "error": {
                "field": "action", "reason": "must be open or update",
                "message": "action: must be open or update"}})  # fmt: skip
            return
        site = await self.service.site()
        try:
            request = parse_request(body, owner=user.name, volumes=list(site.volumes))
        except InputError as err:
            doc = invalid_document(err, body, owner=user.name, volumes=list(site.volumes))
            self.answer(400, {"status": "invalid", **doc})
            return
        spec = request.spec
        if not spec.server_name:
            existing = same_configuration(user, spec.spec_id)
            spec = spec.with_server_name(existing) if existing else spec.named()
            request = LaunchRequest(spec, request.confirmation, request.origin)
        async with self.serialised((user.name, spec.server_name)):
            await self._launch(user, request, action)

    async def _launch(self, user: Any, request: LaunchRequest, action: str | None) -> None:
        spec = request.spec
        name = spec.server_name
        verdict = await self.service.judge(request, user, self.directory)
        answer: dict[str, Any] = {
            "server_name": name,
            "spec_id": spec.spec_id,
            "decision": verdict.decision.to_dict(),
            "url": None,
            "progress_url": url_path_join(self.hub.base_url, "api/versahub/launch", name),
        }
        refused = verdict.refusal()
        if refused is not None:
            answer.update(status=refused.kind, message=refused.message)
            self.answer(refused.status, answer)
            return
        options: Mapping[str, Any] = request.options()
        orm_spawner = user.orm_user.orm_spawners.get(name)
        stored = dict(orm_spawner.user_options or {}) if orm_spawner is not None else {}
        if stored:
            old = stored_spec(stored, owner=user.name)
            old_doc = old.config_dict() if old is not None else {}
            new_doc = spec.config_dict()
            differences = spec_differences(old_doc, new_doc)
            if differences and action is None:
                answer.update(
                    status="differs", differences=differences, choices=["update", "open"],
                    message=f"The server {shorten(name)} exists with another configuration.",
                )  # fmt: skip
                self.answer(409, answer)
                return
            if differences and action == "open":
                options = stored
            spawner = user.spawners[name]
            if differences and action == "update" and (spawner.active or spawner.pending):
                await self.stop_single_user(user, name)
                for _ in range(600):
                    if not spawner.pending:
                        break
                    await asyncio.sleep(0.1)
        else:
            try:
                await self._check_named_server_request(user, name, name)
            except web.HTTPError as err:
                answer.update(status="refused", message=str(err.log_message))
                self.answer(err.status_code, answer)
                return
        spawner = user.get_or_create_spawner(name, "", replace_failed=True)
        if not (spawner.ready or spawner.pending):
            try:
                await self.spawn_single_user(user, name, options=dict(options))
            except web.HTTPError as err:
                self._failed(answer, user, name, err)
                return
            except Exception as err:  # JupyterHub's own errors after its slow-spawn wait
                self.log.warning("launch of %s/%s failed: %r", user.name, name, err)
                launch = launches.current(user.name, name)
                failure = launch.failure if launch else None
                message = (failure or {}).get("message") or f"The server could not start: {err}"
                answer.update(status="failed", message=message, phase="failed")
                self.answer(502, answer)
                return
        url = url_path_join(user.server_url(name), spawner.default_url.lstrip("/"))
        answer["url"] = url
        if spawner.ready:
            answer["status"] = "ready"
            self.answer(200, answer)
        else:
            answer["status"] = "starting"
            self.answer(202, answer)

    def _failed(self, answer: dict[str, Any], user: Any, name: str, err: web.HTTPError) -> None:
        """Answer a start that failed: the failed phase and why (a build failure is 502)."""
        launch = launches.current(user.name, name)
        failure = launch.failure if launch else None
        answer.update(
            status=getattr(err, "kind", "failed"),
            message=str(err.log_message or err),
            phase=(failure or {}).get("phase", "failed"),
        )  # fmt: skip
        if answer["status"] == "build-failed":
            answer["status"] = "failed"
            answer["failed_phase"] = "building"
        self.answer(err.status_code, answer)

    async def get(self, name: str) -> None:
        user = self.calling_user()
        launch = launches.current(user.name, name)
        spawner = user.spawners[name] if name in user.orm_user.orm_spawners else None
        doc: dict[str, Any] = {"server_name": name, "events": list(launch.events) if launch else []}
        if spawner is not None and spawner.ready:
            doc["status"] = "ready"
            doc["url"] = url_path_join(user.server_url(name), spawner.default_url.lstrip("/"))
        elif spawner is not None and spawner.pending == "spawn":
            doc["status"] = "starting"
        elif launch is not None and launch.outcome == "failed":
            failure = launch.failure or {}
            doc.update(status="failed", message=failure.get("message", ""))
            doc["failed_phase"] = "building" if launch.reason == "build-failed" else (
                failure.get("phase", "failed"))  # fmt: skip
        elif spawner is not None:
            doc["status"] = "stopped"
        else:
            raise web.HTTPError(404, f"No launch of a server {shorten(name)}")
        phases = [e.get("phase") for e in doc["events"] if not e.get("final")]
        doc["phase"] = phases[-1] if phases else None
        self.answer(200, doc)


# -- public read-only copies -----------------------------------------------------------------
COPY_PREFIX = "public-"
TOKEN_NAME = "versahub-public-copy"
TOKEN_TTL = 600.0  # seconds an anonymous visitor's one-time token stays valid
RATE_WINDOW = 60.0  # seconds of hub.public_copies.per_minute


def copy_source(options: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """``(owner, server)`` when ``options`` (a server's ``user_options``) are a public copy's."""
    source = (options or {}).get(PUBLIC_KEY)
    if not isinstance(source, Mapping):
        return None
    return str(source.get("owner", "")), str(source.get("server", ""))


def copy_name(owner: str, server: str) -> str:
    """The visitor's server holding the copy of ``owner/server``: ``public-<owner>-<server>``
    when that is a name JupyterHub accepts for a new server (a safe slug of at most 30
    characters), else ``public-`` and ten hex digits of a hash of ``owner/server``."""
    name = f"{COPY_PREFIX}{owner}-{server}"
    if is_valid_safe_slug(name):
        return name
    return COPY_PREFIX + hashlib.sha256(f"{owner}/{server}".encode()).hexdigest()[:10]


def new_guest_name() -> str:
    """``guest-`` and 64 random bits (16 hex digits): not guessable, not enumerable."""
    return f"{GUEST_PREFIX}{secrets.token_hex(8)}"


def public_spec(db: Any, owner: str, server: str) -> tuple[Any, ServerSpec] | None:
    """The owner's orm user and stored spec of ``owner/server`` when it has a public link."""
    target = orm.User.find(db, owner)
    orm_spawner = target.orm_spawners.get(server) if target else None
    spec = stored_spec(orm_spawner.user_options, owner=owner) if orm_spawner else None
    if spec is None or not spec.public_readonly:
        return None
    return target, spec


def live_copies(db: Any) -> Counter[tuple[str, str]]:
    """Live copies per ``(owner, server)``, from the hub's database: servers whose stored
    options make them a public copy and that have a server record (JupyterHub adds it when
    a start begins and removes it when the server stops), guests' and logged-in visitors'."""
    counts: Counter[tuple[str, str]] = Counter()
    for orm_spawner in db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None)):
        source = copy_source(orm_spawner.user_options)
        if source is not None:
            counts[source] += 1
    return counts


class PublicCopiesCollector:
    """``versahub_public_copies``: live public copies, read from the hub's database at each
    scrape of ``/hub/metrics`` (``versahub.launch.metrics``)."""

    NAME = "versahub_public_copies"
    HELP = "Live public read-only copies of servers."

    def describe(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(self.NAME, self.HELP)

    def collect(self) -> Any:
        from jupyterhub.app import JupyterHub
        from prometheus_client.core import GaugeMetricFamily

        db = getattr(JupyterHub.instance(), "db", None) if JupyterHub.initialized() else None
        if db is None:
            return
        yield GaugeMetricFamily(self.NAME, self.HELP, value=sum(live_copies(db).values()))


with contextlib.suppress(ValueError):  # registered once per process
    REGISTRY.register(PublicCopiesCollector())


@dataclass(frozen=True)
class CopyLimits:
    """``hub.public_copies`` of site.yaml."""

    max_per_server: int
    max_total: int
    per_minute: int

    @classmethod
    def of(cls, site: Any) -> CopyLimits:
        doc = site.data["hub"]["public_copies"]
        return cls(int(doc["max_per_server"]), int(doc["max_total"]), int(doc["per_minute"]))


def limit_refusal(
    limits: CopyLimits, live_of_server: int, live_total: int, created: list[float], now: float
) -> tuple[str, int] | None:
    """Why one more copy may not be created now, and the seconds to wait (pure).

    ``live_*`` are live copies (of this server, site-wide); ``created`` the times of the
    copies created in the last :data:`RATE_WINDOW` seconds, oldest first.
    """
    if live_of_server >= limits.max_per_server:
        return (
            f"This server already has {live_of_server} live public copies, the most this site "
            f"allows at once ({limits.max_per_server}). Try again when one has stopped.",
            60,
        )
    if live_total >= limits.max_total:
        return (
            f"This site already runs {live_total} public copies, the most it allows at once "
            f"({limits.max_total}). Try again when one has stopped.",
            60,
        )
    recent = [t for t in created if now - t < RATE_WINDOW]
    if len(recent) >= limits.per_minute:
        wait = int(RATE_WINDOW - (now - recent[0])) + 1 if recent else int(RATE_WINDOW)
        return (
            f"{len(recent)} public copies were created in the last minute, the most this site "
            f"allows ({limits.per_minute} a minute). Try again in {wait} seconds.",
            wait,
        )
    return None


class CopyTokens:
    """One-time tokens that let an anonymous visitor's POST create one copy.

    A token is a value signed with the hub's cookie secret (tornado's signed values, as
    JupyterHub's own cookies): ``{boot, owner, server, expiry, nonce}``. The GET page thus
    stores nothing (a flood of GETs costs no memory); a token is bound to its owner/server
    and expires after :data:`TOKEN_TTL` seconds. Single use: a redeemed nonce is kept in this
    hub process's memory until the token would have expired anyway. ``boot`` is random per
    hub process, so tokens issued before a restart (whose spent nonces were forgotten) are
    refused: the visitor reloads the page.
    """

    def __init__(self) -> None:
        self.boot = secrets.token_hex(8)
        self.spent: dict[str, float] = {}

    def issue(self, handler: Any, owner: str, server: str, now: float) -> str:
        value = json.dumps({
            "b": self.boot, "o": owner, "s": server, "e": now + TOKEN_TTL,
            "n": secrets.token_hex(16),
        })  # fmt: skip
        return handler.create_signed_value(TOKEN_NAME, value).decode("ascii")

    def redeem(self, handler: Any, token: str, owner: str, server: str, now: float) -> str | None:
        """Spend ``token`` for ``owner/server``; ``None`` when it was good, else why not."""
        self.spent = {n: e for n, e in self.spent.items() if e > now}
        if not token:
            return "The one-time token of this page is missing: open the page and press its button."
        raw = web.decode_signed_value(
            handler.application.settings["cookie_secret"], TOKEN_NAME, token, max_age_days=1
        )
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("b") != self.boot:
            return "This page's one-time token is not valid (or the hub restarted): reload it."
        if (doc.get("o"), doc.get("s")) != (owner, server):
            return "This one-time token belongs to another server's page: reload the page."
        expiry, nonce = float(doc.get("e", 0)), str(doc.get("n", ""))
        if expiry <= now:
            return "This page has expired: reload it and press the button again."
        if nonce in self.spent:
            return "This page's one-time token was already used: reload it for another copy."
        self.spent[nonce] = expiry
        return None


class PublicCopyHandler(BaseHandler):
    """``/hub/versahub/public/<owner>/<server>``: a throwaway read-only copy for anyone.

    Only servers whose spec says ``public_readonly: true`` have a link (else 404).

    ``GET`` changes nothing: it shows what would be opened (repository, ref, the read-only
    mounts; nothing of the owner's home, no credentials) and by whom, with a button that
    POSTs. ``POST`` creates the copy: JupyterHub checks its XSRF token (``_xsrf``, for
    every POST); an anonymous visitor's POST also spends the page's one-time token
    (:class:`CopyTokens`). Limits (``hub.public_copies``: live copies per server and
    site-wide, counted from the database, and copies created a minute) answer 429.

    A logged-in visitor gets the copy as a server of their own, ``public-<owner>-<server>``
    (:func:`copy_name`); their login is untouched. An anonymous visitor gets a fresh guest
    account (``guest-<16 hex digits>``, group ``versahub-guests``, logged in by cookie; the
    culler deletes it once its copy is gone) with that server. The copy is started from
    the owner's spec, re-judged at every start as the owner's (the spawner's
    ``public_verdict``): same image, every mount read-only, no home, no credentials, no
    collaborators; its container is removed when it stops.
    """

    tokens: ClassVar[CopyTokens] = CopyTokens()
    # copies being created per (owner, server) (counted as live until their start has a
    # server record), the times of recent creations, and the lock that makes
    # count-then-reserve atomic
    _reserved: ClassVar[Counter[tuple[str, str]]] = Counter()
    _creating: ClassVar[set[tuple[str, str]]] = set()  # (visitor, copy) being started
    _created: ClassVar[deque[float]] = deque()
    _lock: ClassVar[asyncio.Lock | None] = None

    @property
    def service(self) -> LaunchService:
        return service_for(self.settings["versahub_site_file"])

    def source(self, owner: str, server: str) -> ServerSpec:
        found = public_spec(self.db, owner, server)
        if found is None:
            raise web.HTTPError(404, "No such public server")
        return found[1]

    def visitor(self) -> Any:
        """The logged-in visitor (``None``: anonymous). A token without the ``servers``
        scope, or a service, may not open copies."""
        user = self.current_user
        if user is None:
            return None
        if getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, "Public copies open for users, not services")
        if any(g.name == GUEST_GROUP for g in user.groups):
            return None  # a guest of another copy is a visitor without an account
        if not has_scope(f"servers!user={user.name}", self.parsed_scopes, db=self.db):
            raise web.HTTPError(403, "This token may not start servers (scope servers missing)")
        return user

    def visitor_copy_name(self, user: Any, owner: str, server: str) -> str:
        """The name of ``user``'s copy of ``owner/server`` (an existing copy's, else a free
        one); 409 when both candidate names hold something else."""
        first = copy_name(owner, server)
        hashed = COPY_PREFIX + hashlib.sha256(f"{owner}/{server}".encode()).hexdigest()[:10]
        for name in dict.fromkeys((first, hashed)):
            orm_spawner = user.orm_user.orm_spawners.get(name)
            if orm_spawner is None or copy_source(orm_spawner.user_options) == (owner, server):
                return name
        raise web.HTTPError(409, f"You have servers named {first!r} and {hashed!r} already")

    def link(self, owner: str, server: str) -> str:
        return url_path_join(
            self.hub.base_url, "versahub/public", url_escape_path(owner), url_escape_path(server)
        )

    async def page(
        self, owner: str, server: str, spec: ServerSpec, user: Any, *, status: int = 200,
        refusal: str | None = None, form: bool = True,
    ) -> None:  # fmt: skip
        """The copy page: what would be opened, by whom (``user``: the logged-in visitor or
        ``None``), and the button (``form``), or why no copy was opened (``refusal``)."""
        site = await self.service.site()
        name = self.visitor_copy_name(user, owner, server) if user else copy_name(owner, server)
        existing = user.orm_user.orm_spawners.get(name) if user else None
        mounts = effective_mounts(spec, site, public=True)  # what the copy really gets
        anonymous = user is None and form
        token = self.tokens.issue(self, owner, server, time.time()) if anonymous else ""
        copy = {
            "owner": owner,
            "server": server,
            "repo": spec.repo,
            "ref": spec.ref,
            "urlpath": spec.urlpath,
            "internet": spec.internet,
            "mounts": mounts,
            "visitor": user.name if user else None,
            "copy_name": name,
            "has_copy": existing is not None,
            "action": self.link(owner, server),
            "form": form,
            "token": token,
            "ttl_minutes": int(TOKEN_TTL // 60),
        }
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")  # a one-time token: never from a cache
        self.set_header("Referrer-Policy", "same-origin")
        html = await self.render_template("public-copy.html", copy=copy, refusal=refusal)
        self.finish(html)

    async def get(self, owner: str, server: str) -> None:
        spec = self.source(owner, server)
        await self.page(owner, server, spec, self.visitor())

    @classmethod
    def lock(cls) -> asyncio.Lock:
        if cls._lock is None:
            cls._lock = asyncio.Lock()
        return cls._lock

    async def post(self, owner: str, server: str) -> None:
        # JupyterHub has checked the XSRF token (prepare) before we get here
        spec = self.source(owner, server)
        user = self.visitor()
        key = (owner, server)
        if user is None:
            token = self.get_body_argument("token", "")
            refused = self.tokens.redeem(self, token, owner, server, time.time())
            if refused is not None:
                await self.page(owner, server, spec, None, status=403, refusal=refused)
                return
            name = copy_name(owner, server)
        else:
            name = self.visitor_copy_name(user, owner, server)
            if not self.copy_is_live(user, name):
                try:
                    await self._check_named_server_request(user, name, name)
                except web.HTTPError as err:
                    await self.page(owner, server, spec, user, status=err.status_code,
                                    refusal=str(err.log_message))  # fmt: skip
                    return
        site = await self.service.site()
        mine = (user.name if user else "", name)
        async with self.lock():
            if user is not None and (mine in self._creating or self.copy_is_live(user, name)):
                self.redirect(self.pending_url(user.name, name))  # their copy runs already
                return
            now = time.monotonic()
            while self._created and now - self._created[0] >= RATE_WINDOW:
                self._created.popleft()
            counts = live_copies(self.db) + self._reserved
            refused_limit = limit_refusal(
                CopyLimits.of(site), counts[key], sum(counts.values()), list(self._created), now
            )
            if refused_limit is None:
                self._reserved[key] += 1
                self._created.append(now)
                self._creating.add(mine)
        if refused_limit is not None:
            message, wait = refused_limit
            self.log.warning("public copy of %s/%s refused: %s", owner, server, message)
            self.set_header("Retry-After", str(wait))
            await self.page(owner, server, spec, user, status=429, refusal=message)
            return
        try:
            if user is None:
                user = self.new_guest()
            user.get_or_create_spawner(name, "", replace_failed=True)
            self.log.info("public copy of %s/%s for %s as %s", owner, server, user.name, name)
            try:
                await self.spawn_single_user(
                    user, name, options={PUBLIC_KEY: {"owner": owner, "server": server}}
                )
            except web.HTTPError as err:  # refused at its start (e.g. by the policy)
                await self.page(owner, server, spec, user, status=err.status_code,
                                refusal=str(err.log_message or err), form=False)  # fmt: skip
                return
        finally:
            self._creating.discard(mine)
            self._reserved[key] -= 1
            if self._reserved[key] <= 0:
                del self._reserved[key]
        self.redirect(self.pending_url(user.name, name))

    @staticmethod
    def copy_is_live(user: Any, name: str) -> bool:
        if name not in user.orm_user.orm_spawners:
            return False
        spawner = user.spawners[name]
        return bool(spawner.active or spawner.pending)

    def new_guest(self) -> Any:
        """A fresh guest account in the guests' group, logged in by cookie. Only ever for a
        visitor without a login: an existing login is never replaced."""
        assert self.current_user is None
        guest = self.user_from_username(new_guest_name())
        group = orm.Group.find(self.db, GUEST_GROUP)
        if group is None:
            group = orm.Group(name=GUEST_GROUP)
            self.db.add(group)
        guest.orm_user.groups.append(group)
        self.db.commit()
        self.set_login_cookie(guest)
        return guest

    def pending_url(self, user: str, name: str) -> str:
        return url_path_join(
            self.hub.base_url, "spawn-pending", url_escape_path(user), url_escape_path(name)
        )


class PublicLinkAPIHandler(VersaHubAPIHandler):
    """The calling user's public link of one of their servers.

    ``GET /hub/api/versahub/public/<server>``: ``{"server", "public", "url", "live_copies"}``.

    ``DELETE /hub/api/versahub/public/<server>``: revoke. The server's stored spec is
    rewritten with ``public_readonly: false`` (so the link answers 404, and any copy's
    start, which the spawner re-judges from the owner's stored spec, is refused); every
    copy of it is stopped and its server entry removed (guests' accounts then go with the
    culler). The stored confirmation is carried over when the owner had confirmed the old
    configuration and the new one warns about nothing more (turning public access off
    removes risk); else the server's next start asks again. Answers
    ``{"server", "public": false, "url": null, "copies": ["<user>/<server>", …]}``.
    """

    def owned(self, user: Any, name: str) -> tuple[Any, ServerSpec]:
        orm_spawner = user.orm_user.orm_spawners.get(name) if name else None
        spec = stored_spec(orm_spawner.user_options, owner=user.name) if orm_spawner else None
        if orm_spawner is None or spec is None:
            raise web.HTTPError(404, f"You have no server {shorten(name)} with a configuration")
        return orm_spawner, spec

    async def link(self, owner: str, server: str) -> str:
        site = await self.service.site()
        path = url_path_join(
            self.hub.base_url, "versahub/public", url_escape_path(owner), url_escape_path(server)
        )
        return f"{site.hub_url}{path}"

    async def get(self, name: str) -> None:
        user = self.calling_user()
        _, spec = self.owned(user, name)
        public = spec.public_readonly
        self.answer(200, {
            "server": name,
            "public": public,
            "url": await self.link(user.name, name) if public else None,
            "live_copies": live_copies(self.db)[(user.name, name)],
        })  # fmt: skip

    async def delete(self, name: str) -> None:
        user = self.calling_user()
        orm_spawner, spec = self.owned(user, name)
        if spec.public_readonly:
            await self.make_private(user, orm_spawner, spec)
        copies = await self.retire_copies(user.name, name)
        self.answer(200, {"server": name, "public": False, "url": None, "copies": copies})

    async def make_private(self, user: Any, orm_spawner: Any, spec: ServerSpec) -> None:
        stored = dict(orm_spawner.user_options or {})
        try:
            old = parse_request(stored, owner=user.name, volumes=None)
        except InputError:
            old = LaunchRequest(spec)
        private = LaunchRequest(replace(old.spec, public_readonly=False), None, old.origin)
        confirmation = await self.carried_confirmation(user, old, private)
        options = LaunchRequest(private.spec, confirmation, old.origin).options()
        orm_spawner.user_options = options
        self.db.commit()
        if orm_spawner.name in user.spawners:  # what the REST API and My servers show
            user.spawners[orm_spawner.name].user_options = dict(options)
        self.log.info("%s revoked the public link of %s/%s", user.name, user.name, spec.server_name)

    async def carried_confirmation(
        self, user: Any, old: LaunchRequest, private: LaunchRequest
    ) -> str | None:
        """The confirmation of the private configuration when the owner's confirmation of
        the public one covers it (its warnings are a subset of those confirmed)."""
        try:
            site = await self.service.site()
            was = await self.service.judge(old, user, self.directory, site)
            now = await self.service.judge(private, user, self.directory, site)
        except Exception as err:  # revoking never depends on the policy engine
            self.log.warning("revoke: the confirmation is not carried over: %s", err)
            return None
        if was.refusal() is not None or not now.decision.allowed:
            return None
        if not set(now.decision.warn_ids) <= set(was.decision.warn_ids):
            return None
        return now.expected_confirmation if now.decision.warn else None

    async def retire_copies(self, owner: str, server: str) -> list[str]:
        """Stop every copy of ``owner/server`` and remove its entry; wait a while for it."""
        tasks: dict[str, asyncio.Task[None]] = {}
        for orm_spawner in list(self.db.query(orm.Spawner)):
            if copy_source(orm_spawner.user_options) != (owner, server):
                continue
            holder = self.users[orm_spawner.user]
            label = f"{holder.name}/{orm_spawner.name}"
            tasks[label] = asyncio.ensure_future(self.retire(holder, orm_spawner.name))
        if tasks:
            await asyncio.wait(tasks.values(), timeout=20)
        return sorted(tasks)

    async def retire(self, user: Any, name: str) -> None:
        spawner = user.spawners[name]
        for _ in range(3000):  # a start under way is let finish (then stopped), ≤ 10 min
            if not spawner.pending:
                break
            if spawner.pending == "spawn" and spawner._spawn_future is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(spawner._spawn_future), 1)
            else:
                await asyncio.sleep(0.2)
        try:
            if spawner.ready:
                stopping = await self.stop_single_user(user, name)
                await stopping
            if spawner.active or name not in user.orm_user.orm_spawners:
                return
            await user._delete_spawner(spawner)
            self.db.delete(spawner.orm_spawner)
            user.spawners.pop(name, None)
            self.db.commit()
            self.log.info("removed %s/%s: the public link it copies was revoked", user.name, name)
        except Exception as err:
            self.log.warning("could not remove the copy %s/%s: %s", user.name, name, err)


def extra_handlers() -> list[tuple[str, type]]:
    """What ``c.JupyterHub.extra_handlers`` needs (paths are under ``/hub/``)."""
    return [
        (r"/api/versahub/launch", LaunchHandler),
        (r"/api/versahub/launch/([^/]+)", LaunchHandler),
        (r"/versahub/public/([^/]+)/([^/]+)", PublicCopyHandler),
        (r"/api/versahub/public/([^/]+)", PublicLinkAPIHandler),
    ]
