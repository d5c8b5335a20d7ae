"""``POST /hub/api/versahub/launch``: one launch endpoint for the launch page and scripts.

A JupyterHub ``APIHandler`` (so: hub tokens, or the browser's cookie *plus* the XSRF token
JupyterHub requires of cookie-authenticated API calls), registered through
``c.JupyterHub.extra_handlers``. Body::

    {"spec": {...}, "confirmation": "<hash>"?, "action": "open"|"update"?, "origin": {...}?}

Answer (JSON): ``{"status", "server_name", "spec_id", "decision", "events", "url",
"differences"?}`` where ``status`` is

- ``denied`` (403) / ``confirmation-required`` (409): the decision, nothing started;
- ``differs`` (409): the named server exists with another spec; ``differences`` lists the
  changed fields; repeat with ``action=update`` (recreate with the new spec, volumes kept)
  or ``action=open`` (start/open it as it is);
- ``ready`` (200): the server runs; ``url`` opens the spec's ``urlpath``.

The same spec launched twice opens the same server; two identical launches racing are
serialised per (user, server), so one server starts. The spawner re-checks everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from versahub.errors import InputError
from versahub.hub.spawner import PUBLIC_KEY, policy_decision, refusal, site_for, split_request
from versahub.spec import ServerSpec, parse_spec

GUEST_PREFIX = "guest-"
# Every guest account is in this group: the culler may delete members of this group only
# (its scope is ``delete:users!group=versahub-guests``), once their copy is gone.
GUEST_GROUP = "versahub-guests"
PUBLIC_SERVER = "public"
DIFF_FIELDS = (
    "repo", "ref", "urlpath", "mounts", "collaborators", "public_readonly", "credentials",
    "internet", "resources",
)  # fmt: skip


def spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fields whose canonical values differ between two spec documents (pure)."""
    return [
        {"field": key, "old": old.get(key), "new": new.get(key)}
        for key in DIFF_FIELDS
        if old.get(key) != new.get(key)
    ]


class LaunchHandler(APIHandler):
    """Launch (or open, or update) a named server from a spec."""

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

    def _json(self, status: int, doc: Mapping[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(doc))

    async def post(self) -> None:
        user = self.current_user
        if user is None or not hasattr(user, "spawners"):
            raise web.HTTPError(403, "Launching needs a user (a user's token or login)")
        if not self.has_scope(f"servers!user={user.name}") and not self.has_scope("servers"):
            raise web.HTTPError(403, "This token may not start servers (scope servers missing)")
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The body must be a JSON object")
        action = body.pop("action", None)
        if action not in (None, "open", "update"):
            raise web.HTTPError(400, "action: must be open or update")
        site = await site_for(self.settings["versahub_site_file"])
        try:
            raw, confirmation, origin = split_request(body)
            spec = parse_spec(raw, owner=user.name, volumes=list(site.volumes)).named()
        except InputError as err:
            raise web.HTTPError(400, f"Invalid server spec: {err}") from None
        name = spec.server_name
        async with self.serialised((user.name, name)):
            await self._launch(user, spec, confirmation, origin, action, site)

    async def _decision(self, user: Any, spec: ServerSpec, origin: Any, site: Any) -> Any:
        return await policy_decision(self.db, user, site, spec, origin)

    async def _launch(
        self, user: Any, spec: ServerSpec, confirmation: str | None, origin: Any,
        action: str | None, site: Any,
    ) -> None:  # fmt: skip
        name = spec.server_name
        decision = await self._decision(user, spec, origin, site)
        answer: dict[str, Any] = {
            "server_name": name,
            "spec_id": spec.spec_id,
            "decision": decision.to_dict(),
            "events": [],
            "url": None,
        }
        refused = refusal(decision, spec, confirmation)
        if refused is not None:
            answer["status"] = "denied" if refused.status_code == 403 else "confirmation-required"
            answer["message"] = str(refused.log_message)
            self._json(refused.status_code, answer)
            return
        options = {"spec": spec.config_dict(), "confirmation": confirmation, "origin": origin}
        spawner = user.get_or_create_spawner(name, "", replace_failed=True)
        stored = dict(spawner.orm_spawner.user_options or {})
        if stored:
            try:
                old_raw, _, _ = split_request(stored)
                old = parse_spec(old_raw, owner=user.name)
            except InputError:
                old = None
            old_doc = old.config_dict() if old is not None else {}
            differences = spec_differences(old_doc, spec.config_dict())
            if differences and action is None:
                answer.update(status="differs", differences=differences)
                answer["choices"] = ["update", "open"]
                self._json(409, answer)
                return
            if differences and action == "open":
                options = stored
            elif differences and action == "update" and (spawner.active or spawner.pending):
                answer["events"].append({"message": "stopping the server to update it"})
                await self.stop_single_user(user, name)
        if not spawner.ready:
            if not spawner.pending:
                await self.spawn_single_user(user, name, options=options)
            future = spawner._spawn_future
            if future is not None:
                try:
                    await future
                except web.HTTPError as err:
                    answer.update(status="failed", message=str(err.log_message))
                    self._json(err.status_code, answer)
                    return
            for _ in range(600):
                if spawner.ready:
                    break
                await asyncio.sleep(0.1)
            answer["events"].extend(getattr(spawner, "_events", []))
        spec_url = url_path_join(user.server_url(name), spawner.default_url.lstrip("/"))
        answer.update(status="ready", url=spec_url)
        answer["events"].append({"message": "ready", "ready": True, "url": spec_url})
        self._json(200, answer)


class PublicCopyHandler(BaseHandler):
    """``GET /hub/versahub/public/<owner>/<server>``: a throwaway read-only copy for anyone.

    Only servers whose spec says ``public_readonly: true`` have a link. The visitor gets a
    fresh guest account (``guest-<random>``, in group ``versahub-guests``, logged in by
    cookie; the culler deletes it once its copy is gone) and a server ``public``
    started from the owner's spec, re-judged by the policy as the owner's: same image,
    every mount read-only, no home, no credentials, no collaborators; the container is
    removed when it stops (idle culling applies).
    """

    async def get(self, owner: str, server: str) -> None:
        from jupyterhub import orm

        target = orm.User.find(self.db, owner)
        orm_spawner = target.orm_spawners.get(server) if target else None
        options = (orm_spawner.user_options or {}) if orm_spawner else {}
        try:
            raw, _, _ = split_request(options)
            public = bool(raw.get("public_readonly"))
        except InputError:
            public = False
        if not public:
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
        (r"/versahub/public/([^/]+)/([^/]+)", PublicCopyHandler),
    ]
