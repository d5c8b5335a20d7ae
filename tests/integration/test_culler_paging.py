"""The per-server culler reads every page of ``GET /hub/api/users`` (issue 10, item 10).

A real hub (JupyterHub + proxy + OPA, configured by the product's own ``site_settings``
through ``web_support.WebHub``, with ``hub.cull_every: 2`` in its site.yaml) gets 255 users
through the bulk ``POST /hub/api/users``; one of them, the 230th user of the hub, is a
guest account of a public copy. Without paging the hub answers the first 200 users only,
so the culler never saw it. Here ``iter_users`` sees every user, with an admin token and
with a token holding exactly the culler's scopes, and the hub's own culler service deletes
the stale guest (and nobody else). No server needs to start.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import WebHub

from versahub.hub.config import CULLER_SCOPES
from versahub.hub.culling import iter_users
from versahub.hub.handlers import GUEST_GROUP

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW_USERS = 255
GUEST_RANK = 230  # the guest is the hub's 230th user (by id, the hub's order)
GUEST = "guest-paging0230"
CULL_EVERY = 2  # the culler's guest grace is then max(10, 5 * 2) = 10 s


class PagingHub(WebHub):
    def site_document(self) -> dict[str, Any]:
        doc = super().site_document()
        doc["hub"]["cull_every"] = CULL_EVERY
        return doc


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagingHub]:
    site = PagingHub(tmp_path_factory.mktemp("culler-paging")).start()
    try:
        yield site
    finally:
        site.stop()


def token(admin: requests.Session, hub: WebHub, scopes: list[str] | None = None) -> str:
    body: dict[str, Any] = {"note": "culler paging test", "expires_in": 600}
    if scopes is not None:
        body["scopes"] = scopes
    r = admin.post(f"{hub.url}/hub/api/users/admin/tokens", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def paged_names(hub: WebHub, api_token: str, state: str | None = None) -> list[str]:
    async def collect() -> list[str]:
        headers = {"Authorization": f"token {api_token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            return [u["name"] async for u in iter_users(session, f"{hub.url}/hub/api", state)]

    return asyncio.run(collect())


def test_culler_pages_through_every_user(hub: PagingHub) -> None:
    admin = hub.login("admin")
    admin_token = token(admin, hub)
    culler_token = token(admin, hub, CULLER_SCOPES)
    api = requests.Session()
    api.headers["Authorization"] = f"token {admin_token}"

    before = paged_names(hub, admin_token)
    fillers = [f"pager-{i:03d}" for i in range(NEW_USERS - 1)]
    ahead = GUEST_RANK - 1 - len(before)
    names = [*fillers[:ahead], GUEST, *fillers[ahead:]]
    started = time.monotonic()
    r = api.post(f"{hub.url}/hub/api/users", json={"usernames": names}, timeout=120)
    assert r.status_code == 201, r.text
    created_in = time.monotonic() - started

    # the bug's premise: an unpaged answer stops at the hub's api_page_max_limit
    unpaged = api.get(f"{hub.url}/hub/api/users", timeout=30).json()
    assert len(unpaged) == 200
    assert GUEST not in {u["name"] for u in unpaged}

    everyone = paged_names(hub, admin_token)
    assert everyone == [*before, *names]  # all of them, once each, in the hub's order
    assert len(everyone) >= 250
    assert everyone.index(GUEST) == GUEST_RANK - 1
    # the culler's own scopes list everyone too, and its filter pages the same way
    assert paged_names(hub, culler_token) == everyone
    assert paged_names(hub, culler_token, "inactive") == everyone  # no server runs
    assert paged_names(hub, culler_token, "active") == []

    # make it a guest of a public copy: in the guests' group (the culler may delete no other)
    r = api.post(f"{hub.url}/hub/api/groups/{GUEST_GROUP}", timeout=10)
    assert r.status_code in (201, 409), r.text
    r = api.post(
        f"{hub.url}/hub/api/groups/{GUEST_GROUP}/users", json={"users": [GUEST]}, timeout=10
    )
    assert r.status_code == 200, r.text

    # the hub's culler service (product code, its own token) deletes it after the grace
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if api.get(f"{hub.url}/hub/api/users/{GUEST}", timeout=10).status_code == 404:
            break
        time.sleep(0.5)
    else:
        pytest.fail(
            f"the 230th user, a stale guest, was not deleted:\n{hub.log.read_text()[-3000:]}"
        )
    assert paged_names(hub, admin_token) == [n for n in everyone if n != GUEST]
    # in the hub's log, in the culler's line format
    line = re.compile(
        r"^\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} culler\] "
        rf"deleted guest account {GUEST} \(its public copy is gone\)$",
        re.MULTILINE,
    )
    assert line.search(hub.log.read_text(errors="replace")), hub.log.read_text()[-3000:]
    print(f"created {len(names)} users in {created_in:.1f}s; {len(everyone)} listed")
