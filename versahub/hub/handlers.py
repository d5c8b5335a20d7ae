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
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import has_scope
from jupyterhub.utils import url_path_join
from tornado import web

from versahub.constants import GUEST_GROUP, GUEST_PREFIX
from versahub.errors import InputError
from versahub.launch import progress as launches
from versahub.launch.directory import known_collaborators
from versahub.launch.request import (
    PUBLIC_KEY,
    LaunchRequest,
    parse_request,
    spec_differences,
    stored_spec,
)
from versahub.launch.service import LaunchService, service_for
from versahub.spec import spec_errors

PUBLIC_SERVER = "public"


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
        if not has_scope(f"servers!user={user.name}", self.parsed_scopes, db=self.db):
            raise web.HTTPError(403, "This token may not start servers (scope servers missing)")
        return user

    def json_body(self) -> dict[str, Any]:
        body = self.get_json_body()
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
        body = self.json_body()
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
                    message=f"The server {name!r} exists with another configuration.",
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
                return
        url = url_path_join(user.server_url(name), spawner.default_url.lstrip("/"))
        answer["url"] = url
        if spawner.ready:
            answer["status"] = "ready"
            self.answer(200, answer)
        else:
            answer["status"] = "starting"
            self.answer(202, answer)

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
            raise web.HTTPError(404, f"No launch of a server {name!r}")
        phases = [e.get("phase") for e in doc["events"] if not e.get("final")]
        doc["phase"] = phases[-1] if phases else None
        self.answer(200, doc)


class PublicCopyHandler(BaseHandler):
    """``GET /hub/versahub/public/<owner>/<server>``: a throwaway read-only copy for anyone.

    Only servers whose spec says ``public_readonly: true`` have a link. The visitor gets a
    fresh guest account (``guest-<random>``, in group ``versahub-guests``, logged in by
    cookie; the culler deletes it once its copy is gone) and a server ``public``
    started from the owner's spec, re-judged by the launch service as the owner's (in the
    spawner): same image, every mount read-only, no home, no credentials, no
    collaborators; the container is removed when it stops (idle culling applies).
    """

    async def get(self, owner: str, server: str) -> None:
        target = orm.User.find(self.db, owner)
        orm_spawner = target.orm_spawners.get(server) if target else None
        spec = stored_spec(orm_spawner.user_options, owner=owner) if orm_spawner else None
        if spec is None or not spec.public_readonly:
            raise web.HTTPError(404, "No such public server")
        guest = self.current_user
        if guest is None or not guest.name.startswith(GUEST_PREFIX):
            guest = self.user_from_username(f"{GUEST_PREFIX}{secrets.token_hex(4)}")
            group = orm.Group.find(self.db, GUEST_GROUP)
            if group is None:
                group = orm.Group(name=GUEST_GROUP)
                self.db.add(group)
            guest.orm_user.groups.append(group)
            self.db.commit()
            self.set_login_cookie(guest)
        spawner = guest.get_or_create_spawner(PUBLIC_SERVER, "", replace_failed=True)
        if not (spawner.active or spawner.pending):
            await self.spawn_single_user(
                guest, PUBLIC_SERVER, options={PUBLIC_KEY: {"owner": owner, "server": server}}
            )
        self.redirect(url_path_join(self.hub.base_url, "spawn-pending", guest.name, PUBLIC_SERVER))


def extra_handlers() -> list[tuple[str, type]]:
    """What ``c.JupyterHub.extra_handlers`` needs (paths are under ``/hub/``)."""
    return [
        (r"/api/versahub/launch", LaunchHandler),
        (r"/api/versahub/launch/([^/]+)", LaunchHandler),
        (r"/versahub/public/([^/]+)/([^/]+)", PublicCopyHandler),
    ]
