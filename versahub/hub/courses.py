"""Course launches from an LMS: the LTI claims → course, role, groups, and the course server.

Used by both LTI authenticators (``versahub.hub.lti``), in two steps of one launch:

1. :func:`course_login` — inside ``authenticate``, before JupyterHub creates or updates the
   user: the launch must name a live course of the site (custom parameter ``course``, or
   an LMS context bound with ``versahub course update --lti-context``) and carry a
   teaching or learning role; else :class:`CourseRefused` and nothing is created. The
   returned auth model carries ``groups`` for JupyterHub's own group management
   (``Authenticator.manage_groups``): this course's role group replaces the other one,
   groups of other courses are kept, and the groups ``site.yaml`` lists are applied.
2. :func:`launch_course` — after the login, in the same POST: the course's server for that
   role goes through the one launch service (spec → OPA → confirmation → image → plan)
   and JupyterHub's ``spawn_single_user``, exactly as a launch from the launch page; the
   browser is sent to the server's progress page. A course server the policy warns about
   (its trust is missing from OPA's data) goes to the launch page's risk dialog instead;
   a denial is an error page. Nothing here decides what the policy decides.
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
from versahub.site.courses import Course, course_spec, find_course, lti_groups, role_of
from versahub.urls import launch_url

COURSE_STATE_KEY = "versahub_course"


class CourseRefused(Exception):
    """A launch that names no usable course or role: ``reason`` is one sentence."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class CourseClaims:
    """What an LTI launch says about the course: the ``course`` custom parameter, the
    platform (1.3 issuer or 1.1 consumer key), the LMS context id and the roles."""

    named: str | None
    platform: str | None
    context_id: str | None
    roles: tuple[str, ...]


def site_groups_of(
    name: str, site_groups: Mapping[str, Iterable[str]]
) -> tuple[set[str], set[str]]:
    """(groups ``site.yaml`` puts ``name`` in, groups it lists without ``name``)."""
    member = {g for g, users in site_groups.items() if name in users}
    return member, set(site_groups) - member


async def course_login(
    handler: Any, model: dict[str, Any], claims: CourseClaims,
    site_groups: Mapping[str, Iterable[str]],
) -> dict[str, Any]:  # fmt: skip
    """``model`` (the stock authenticator's ``{"name", "auth_state"}``) with the course,
    the role and the groups of this launch; :class:`CourseRefused` otherwise."""
    site = await service_for(handler.settings["versahub_site_file"]).site()
    try:
        course = find_course(site.courses, named=claims.named or None,
                             platform=claims.platform, context_id=claims.context_id)  # fmt: skip
    except InputError as err:
        raise CourseRefused(err.reason) from None
    role = role_of(claims.roles)
    if role is None:
        raise CourseRefused("the launch carries no teaching or learning role for the course", 403)
    name = model["name"]
    user = handler.find_user(name)
    current = {g.name for g in user.groups} if user is not None else set()
    member, others = site_groups_of(name, site_groups)
    groups = set(lti_groups(current - others, course, role)) | member
    state = dict(model.get("auth_state") or {})
    state[COURSE_STATE_KEY] = {"id": course.id, "role": role}
    handler._versahub_course = (course.id, role)
    return {**model, "auth_state": state, "groups": sorted(groups)}


def _pending_url(handler: Any, user: Any, name: str) -> str:
    return url_path_join(handler.hub.base_url, "spawn-pending", user.escaped_name,
                         url_escape_path(name))  # fmt: skip


async def launch_course(handler: Any, user: Any) -> str:
    """Start (or open) the course server of the launch :func:`course_login` accepted for
    ``user``; return where to send the browser. Refusals are ``web.HTTPError``."""
    course_id, role = handler._versahub_course
    service = service_for(handler.settings["versahub_site_file"])
    site = await service.site()
    course: Course | None = site.courses.get(course_id)
    if course is None or course.archived:
        raise web.HTTPError(404, f"The course {course_id} is no longer available")
    spec = course_spec(course, role)
    # a signed launch from a registered platform, not a link: not an outside origin
    request = LaunchRequest(spec=spec, origin=origin_document(None))
    verdict = await service.judge(
        request, user, lambda names: known_collaborators(handler.db, names), site
    )
    refused = verdict.refusal()
    if refused is not None:
        if refused.kind == "confirmation-required":
            handler.log.warning("course %s: %s must confirm warnings %s (no trust in OPA data?)",
                                course.id, user.name, verdict.decision.warn_ids)  # fmt: skip
            return launch_url(spec, site.hub_url)
        raise web.HTTPError(refused.status, refused.message)
    name = course.id
    spawner = user.spawners[name] if name in user.orm_user.orm_spawners else None
    if spawner is not None and (spawner.active or spawner.pending):
        stored = stored_spec(spawner.user_options, owner=user.name)
        if stored is not None and stored.spec_id == spec.spec_id:
            return _pending_url(handler, user, name)
        # the course changed, or the user's role did: the server restarts as it is now
        await handler.stop_single_user(user, name)
        for _ in range(600):
            if not spawner.pending:
                break
            await asyncio.sleep(0.1)
    elif spawner is None:
        await handler._check_named_server_request(user, name, name)
    spawner = user.get_or_create_spawner(name, "", replace_failed=True)
    await handler.spawn_single_user(user, name, options=request.options())
    return _pending_url(handler, user, name)
