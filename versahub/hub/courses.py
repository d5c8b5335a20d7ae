"""Launches from an LMS: the LTI claims → what to open, the groups, and the server.

Used by both LTI authenticators (``versahub.hub.lti``), in two steps of one launch:

1. :func:`course_login` — inside ``authenticate``, before JupyterHub creates or updates the
   user. A launch names a live course of the site (custom parameter ``course``, or an LMS
   context bound with ``versahub course update --lti-context``) and carries a teaching or
   learning role; or it names an entry of the site's catalogue (custom parameter
   ``catalogue``, made by deep linking). Anything else is :class:`CourseRefused` and
   nothing is created. The returned auth model carries ``groups`` for JupyterHub's own
   group management (``Authenticator.manage_groups``): a course launch's role group
   replaces the course's other one, groups of other courses are kept, and the groups
   ``site.yaml`` lists are applied.
2. :func:`launch_course` — after the login, in the same POST: the server goes through the
   one launch service (spec → OPA → confirmation → image → plan) and JupyterHub's
   ``spawn_single_user``, exactly as a launch from the launch page; the browser is sent
   to the server (its progress page while it starts). A server the policy warns about
   (a catalogue entry, or a course whose trust is missing from OPA's data) goes to the
   launch page's risk dialog instead; a denial is an error page. Nothing here decides
   what the policy decides. The custom parameter ``path`` names a notebook to open,
   inside the server's project folder; it never changes the spec.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web

from versahub.errors import InputError
from versahub.launch.directory import known_collaborators
from versahub.launch.request import LaunchRequest, stored_spec
from versahub.launch.service import service_for
from versahub.policy.input import origin_document
from versahub.site.courses import (
    course_spec,
    find_course,
    lti_groups,
    material_urlpath,
    role_of,
    validate_open_path,
)
from versahub.spec import ServerSpec
from versahub.urls import launch_url

COURSE_STATE_KEY = "versahub_course"


class CourseRefused(Exception):
    """A launch that names nothing usable: ``reason`` is one sentence."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class CourseClaims:
    """What an LTI launch says about what to open: the ``course`` or ``catalogue`` custom
    parameter, the platform (1.3 issuer or 1.1 consumer key), the LMS context id, the
    roles and the ``path`` custom parameter."""

    named: str | None
    platform: str | None
    context_id: str | None
    roles: tuple[str, ...]
    catalogue: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class Target:
    """What the launch opens: ``kind`` course (with ``role``) or catalogue, ``id``, ``path``."""

    kind: str
    id: str
    role: str | None
    path: str


def site_groups_of(
    name: str, site_groups: Mapping[str, Iterable[str]]
) -> tuple[set[str], set[str]]:
    """(groups ``site.yaml`` puts ``name`` in, groups it lists without ``name``)."""
    member = {g for g, users in site_groups.items() if name in users}
    return member, set(site_groups) - member


def groups_after(
    handler: Any,
    name: str,
    site_groups: Mapping[str, Iterable[str]],
    course: Any = None,
    role: str | None = None,
) -> list[str]:
    """The user's groups after this login (see the module's docstring)."""
    user = handler.find_user(name)
    current = {g.name for g in user.groups} if user is not None else set()
    member, others = site_groups_of(name, site_groups)
    kept = current - others
    if course is not None and role is not None:
        kept = set(lti_groups(kept, course, role))
    return sorted(kept | member)


async def course_login(
    handler: Any,
    model: dict[str, Any],
    claims: CourseClaims,
    site_groups: Mapping[str, Iterable[str]],
) -> dict[str, Any]:
    """``model`` (the stock authenticator's ``{"name", "auth_state"}``) with what the
    launch opens and the user's groups; :class:`CourseRefused` otherwise."""
    site = await service_for(handler.settings["versahub_site_file"]).site()
    name = model["name"]
    try:
        path = validate_open_path("path", claims.path)
        if claims.catalogue and not claims.named:
            if not any(e["id"] == claims.catalogue for e in site.catalogue):
                raise InputError(
                    "catalogue", f"{claims.catalogue!r} is not in this hub's catalogue"
                )
            target = Target("catalogue", claims.catalogue, None, path)
            groups = groups_after(handler, name, site_groups)
        else:
            course = find_course(
                site.courses,
                named=claims.named or None,
                platform=claims.platform,
                context_id=claims.context_id,
            )
            role = role_of(claims.roles)
            if role is None:
                raise CourseRefused(
                    "the launch carries no teaching or learning role for the course", 403
                )
            target = Target("course", course.id, role, path)
            groups = groups_after(handler, name, site_groups, course, role)
    except InputError as err:
        raise CourseRefused(err.reason) from None
    state = dict(model.get("auth_state") or {})
    state[COURSE_STATE_KEY] = {"kind": target.kind, "id": target.id, "role": target.role}
    handler._versahub_target = target
    return {**model, "auth_state": state, "groups": groups}


def _pending_url(handler: Any, user: Any, name: str) -> str:
    return url_path_join(
        handler.hub.base_url, "spawn-pending", user.escaped_name, url_escape_path(name)
    )


async def launch_course(handler: Any, user: Any) -> str:
    """Start (or open) the server of the launch :func:`course_login` accepted for
    ``user``; return where to send the browser. Refusals are ``web.HTTPError``."""
    target: Target = handler._versahub_target
    service = service_for(handler.settings["versahub_site_file"])
    site = await service.site()
    spec: ServerSpec
    if target.kind == "course":
        course = site.courses.get(target.id)
        if course is None or course.archived:
            raise web.HTTPError(404, f"The course {target.id} is no longer available")
        assert target.role is not None
        spec = course_spec(course, target.role)
        opened = material_urlpath(course, target.path) if target.path else ""
    else:
        entry = next((e for e in site.catalogue if e["id"] == target.id), None)
        if entry is None:
            raise web.HTTPError(404, f"The catalogue entry {target.id} is no longer available")
        spec = ServerSpec.from_dict(entry["spec"], owner=user.name, volumes=list(site.volumes))
        spec = spec if spec.server_name else spec.with_server_name(target.id)
        opened = f"lab/tree/{spec.server_name}/{target.path}" if target.path else ""
    # a signed launch from a registered platform, not a link: not an outside origin
    request = LaunchRequest(spec=spec, origin=origin_document(None))
    verdict = await service.judge(
        request, user, lambda names: known_collaborators(handler.db, names), site
    )
    refused = verdict.refusal()
    if refused is not None:
        if refused.kind == "confirmation-required":
            handler.log.info(
                "LTI launch of %s %s by %s: warnings %s go to the risk dialog",
                target.kind,
                target.id,
                user.name,
                verdict.decision.warn_ids,
            )
            return launch_url(spec, site.hub_url)
        raise web.HTTPError(refused.status, refused.message)
    name = spec.server_name
    spawner = user.spawners[name] if name in user.orm_user.orm_spawners else None
    where = (
        url_path_join(user.server_url(name), opened)
        if opened
        else _pending_url(handler, user, name)
    )
    if spawner is not None and (spawner.active or spawner.pending):
        stored = stored_spec(spawner.user_options, owner=user.name)
        if stored is not None and stored.spec_id == spec.spec_id:
            return where
        # the course changed, or the user's role did: the server restarts as it is now
        await handler.stop_single_user(user, name)
        for _ in range(600):
            if not spawner.pending:
                break
            await asyncio.sleep(0.1)
    elif spawner is None:
        await handler._check_named_server_request(user, name, name)
    user.get_or_create_spawner(name, "", replace_failed=True)
    await handler.spawn_single_user(user, name, options=request.options())
    return where
