"""Decide whether a launch link was followed from outside the hub (pure).

A link counts as *internal* only when the browser says so in two independent ways: the
``Referer`` is a page of this hub under its ``/hub/`` prefix (not the login or OAuth pages,
which anyone can link to with ``?next=``), and ``Sec-Fetch-Site``, when sent, is
``same-origin``. Everything else — another site, a user's own server under ``/user/`` (same
origin, but its content is written by whoever controls that server), no ``Referer`` at all
(``Referrer-Policy: no-referrer``) — is *external*, so the dialog is shown. Never guess
"internal": a wrong "external" costs one click, a wrong "internal" skips a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# Hub pages anyone may link to with a ?next= that lands on a launch link after login.
PASS_THROUGH_PAGES = ("login", "logout", "oauth_login", "oauth_callback", "lti", "lti13")
MAX_REFERRER = 2048


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower(), port or default


def classify_origin(
    headers: Mapping[str, str], hub_url: str, *, request_host: str | None = None,
    request_scheme: str = "http", hub_prefix: str = "/hub/",
) -> dict[str, Any]:  # fmt: skip
    """Return the policy's ``origin`` document ``{"external": bool, "referrer": str|None}``.

    ``hub_url`` is the site's public URL; ``request_host``/``request_scheme`` (the Host the
    browser used) also count as this hub, so a hub reached by another name still works.
    """
    referrer = headers.get("Referer") or headers.get("Referrer") or None
    if referrer is not None:
        referrer = referrer[:MAX_REFERRER]
    fetch_site = (headers.get("Sec-Fetch-Site") or "").lower()
    own = {_origin_of(hub_url)}
    if request_host:
        own.add(_origin_of(f"{request_scheme}://{request_host}/"))
    own.discard(None)
    external = True
    if referrer and fetch_site in ("", "same-origin"):
        ref_origin = _origin_of(referrer)
        path = urlsplit(referrer).path if ref_origin else ""
        if ref_origin in own and path.startswith(hub_prefix):
            page = path[len(hub_prefix) :].split("/", 1)[0]
            external = page in PASS_THROUGH_PAGES
    return {"external": external, "referrer": referrer}
