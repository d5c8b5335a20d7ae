"""Per-server culling: stop each server past *its own* ``idle_timeout`` or ``max_duration``.

jupyterhub-idle-culler has one global ``--timeout``/``--max-age``; VersaHub's limits are per
spec. This hub-managed service (``python -m versahub.hub.culling``, started by the hub with
a token holding only ``list:users, read:users:activity, read:servers, delete:servers``
and ``read:users:groups`` for accounting, which runs in it too: ``versahub.hub.accounting``)
reads every page of ``GET /hub/api/users?state=active`` every ``--cull-every`` seconds
(``iter_users``: one answer holds at most ``api_page_max_limit``, 200, users), computes each
server's effective limits from its stored spec (``user_options``) and the site's default
caps, and stops a server with ``DELETE /hub/api/users/<u>/servers/<name>`` (removing it
when it is a public throwaway copy). Guest accounts of public copies whose server is gone
are deleted too (``delete:users!group=versahub-guests``: no other account can be).
``due`` and ``stale_guest`` are pure and unit-tested.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from versahub.constants import GUEST_PREFIX
from versahub.hub.accounting import Sampler
from versahub.launch.plan import Limits, default_limits, effective_limits
from versahub.launch.request import PUBLIC_KEY, stored_spec
from versahub.site.source import site_file

log = logging.getLogger("versahub.culling")

PAGINATION_MEDIA_TYPE = "application/jupyterhub-pagination+json"
PAGE_SIZE = 200  # JupyterHub's default api_page_max_limit; the hub lowers it to its own cap
LOG_FORMAT = "[%(levelname)1.1s %(asctime)s.%(msecs).03d culler] %(message)s"
LOG_DATEFMT = "%Y-%m-%d %H:%M:%S"  # the hub's own log_datefmt


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def iter_users(
    session: aiohttp.ClientSession, api_url: str, state: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every user model of ``GET {api_url}/users`` (``state``: active, ready, inactive, or
    ``None`` for all), page by page, in the hub's order (user id).

    The same protocol as jupyterhub-idle-culler's ``fetch_paginated``: ask with
    ``Accept: application/jupyterhub-pagination+json`` and go on while the answer's
    ``_pagination.next`` names a next page. That function is not reused because it cannot be:
    it is a closure inside ``cull_idle`` (not importable) built on tornado's
    ``HTTPRequest``/``AsyncHTTPClient``, while this service uses aiohttp. One difference:
    the next page is asked for with ``next``'s ``offset``/``limit`` at ``api_url`` rather
    than at ``next.url``, which the hub builds from the scheme and Host it saw; the token
    then never goes anywhere but ``JUPYTERHUB_API_URL``. A hub that answers a plain list
    (no pagination support) is one page.

    Offsets shift when users leave the filtered set, so callers list everything first and
    act afterwards; a user deleted by someone else between two pages may be missed until
    the next pass.
    """
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    if state is not None:
        params["state"] = state
    headers = {"Accept": PAGINATION_MEDIA_TYPE}
    offset = 0
    while True:
        async with session.get(f"{api_url}/users", params=params, headers=headers) as resp:
            resp.raise_for_status()
            page = await resp.json()
        if isinstance(page, list):
            for user in page:
                yield user
            return
        for user in page["items"]:
            yield user
        following = (page.get("_pagination") or {}).get("next")
        if not following or int(following["offset"]) <= offset:
            return
        offset = int(following["offset"])
        params = {**params, "offset": offset, "limit": int(following["limit"])}


def limits_of(user_options: Mapping[str, Any] | None, site: Any) -> Limits:
    """Effective limits of a server from its stored request (read by the launch service's
    own request parser); the site's default caps when it has none or it no longer parses."""
    spec = stored_spec(user_options, owner=None)
    if spec is None:
        return default_limits(site)
    return effective_limits(spec, site)


def due(server: Mapping[str, Any], limits: Limits, now: datetime) -> str | None:
    """Why ``server`` (a hub server model) must stop now, or ``None`` (pure)."""
    if server.get("pending") or not server.get("ready", True):
        return None
    started = _parse_time(server.get("started"))
    last = _parse_time(server.get("last_activity")) or started
    if limits.max_duration_seconds and started is not None:
        age = (now - started).total_seconds()
        if age >= limits.max_duration_seconds:
            return f"max_duration {limits.max_duration_seconds}s reached (age {age:.0f}s)"
    if limits.idle_timeout_seconds and last is not None:
        idle = (now - last).total_seconds()
        if idle >= limits.idle_timeout_seconds:
            return f"idle_timeout {limits.idle_timeout_seconds}s reached (idle {idle:.0f}s)"
    return None


async def cull_once(session: aiohttp.ClientSession, api_url: str, site: Any) -> list[str]:
    """One pass; returns ``user/server`` names stopped."""
    stopped: list[str] = []
    users = [user async for user in iter_users(session, api_url, "active")]
    now = datetime.now(UTC)
    for user in users:
        for name, server in (user.get("servers") or {}).items():
            options = server.get("user_options") or {}
            reason = due(server, limits_of(options, site), now)
            if reason is None:
                continue
            path = f"{api_url}/users/{quote(user['name'])}/servers/{quote(name)}"
            body = {"remove": True} if options.get(PUBLIC_KEY) else {}
            log.info("stopping %s/%s: %s", user["name"], name, reason)
            async with session.delete(path, json=body) as resp:
                if resp.status >= 400:
                    log.warning("could not stop %s/%s: %s", user["name"], name, resp.status)
                    continue
            stopped.append(f"{user['name']}/{name}")
    return stopped


MIN_GUEST_GRACE = 10.0


def stale_guest(user: Mapping[str, Any], now: datetime, grace: float) -> bool:
    """A guest account whose throwaway copy is gone, idle for ``grace`` seconds (pure).

    The hub refuses to delete anyone outside the guests' group whatever this says: the
    culler's scope is ``delete:users!group=versahub-guests``.
    """
    if not str(user.get("name", "")).startswith(GUEST_PREFIX):
        return False
    for server in (user.get("servers") or {}).values():
        if server.get("pending") or server.get("ready") or server.get("started"):
            return False
    last = _parse_time(user.get("last_activity")) or _parse_time(user.get("created"))
    return last is not None and (now - last).total_seconds() >= grace


async def remove_stale_guests(
    session: aiohttp.ClientSession, api_url: str, grace: float
) -> list[str]:
    """Delete guest accounts whose copies are gone; returns their names."""
    removed: list[str] = []
    users = [user async for user in iter_users(session, api_url, "inactive")]
    now = datetime.now(UTC)
    for user in users:
        if not stale_guest(user, now, grace):
            continue
        async with session.delete(f"{api_url}/users/{quote(user['name'])}") as resp:
            if resp.status >= 400:
                log.warning("could not delete guest %s: %s", user["name"], resp.status)
                continue
        log.info("deleted guest account %s (its public copy is gone)", user["name"])
        removed.append(user["name"])
    return removed


async def run(site_path: str, cull_every: float) -> None:
    source = site_file(site_path)
    api_url = os.environ["JUPYTERHUB_API_URL"].rstrip("/")
    headers = {"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(cull_loop(session, api_url, source, cull_every),
                             account_loop(session, api_url, source))  # fmt: skip


async def account_loop(session: aiohttp.ClientSession, api_url: str, source: Any) -> None:
    """Sample the servers' usage every ``accounting.sample_every`` seconds (docs/accounting.md)."""
    site = source.current()
    sampler = Sampler(site.state_dir, site.data["accounting"])
    while True:
        settings = source.current().data["accounting"]
        if settings["enabled"]:
            try:
                users = [u async for u in iter_users(session, api_url, state="active")]
                await sampler.sample_once(users)
            except Exception as err:  # keep sampling; the hub or Docker may be restarting
                log.warning("accounting pass failed: %s", err)
        await asyncio.sleep(float(settings["sample_every"]))


async def cull_loop(
    session: aiohttp.ClientSession, api_url: str, source: Any, cull_every: float
) -> None:
    while True:
        try:
            # the site as site.yaml says now (caps edited without a restart apply)
            await cull_once(session, api_url, source.current())
            await remove_stale_guests(session, api_url, grace=max(MIN_GUEST_GRACE, 5 * cull_every))
        except Exception as err:  # keep culling; the hub may be restarting
            log.warning("cull pass failed: %s", err)
        await asyncio.sleep(cull_every)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="versahub.hub.culling", description=__doc__)
    parser.add_argument("--site", required=True, help="site.yaml of the site")
    parser.add_argument("--cull-every", type=float, default=60.0, help="seconds between passes")
    args = parser.parse_args(argv)
    # the hub's format family: its lines are ``[I 2026-… JupyterHub app:123] …``
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt=LOG_DATEFMT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(until_stopped(run(args.site, args.cull_every)))


async def until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until SIGINT or SIGTERM, then return at once.

    JupyterHub stops a managed service with SIGINT, then SIGTERM, then SIGKILL, 10 + 5 + 5 s
    apart. A process started from a non-interactive shell's background job inherits SIGINT
    *ignored*, which Python then leaves ignored: the culler kept running, the hub waited for it
    until its own stop timed out, and a killed hub left the culler behind. Handlers installed
    on the loop replace an inherited "ignore"."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("stopped")


if __name__ == "__main__":
    main()
