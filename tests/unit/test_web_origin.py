"""Is a launch link internal or external? (versahub.web.origin)"""

from __future__ import annotations

import pytest

from versahub.web.origin import classify_origin

HUB = "https://hub.example.org"


@pytest.mark.parametrize(
    ("headers", "external"),
    [
        ({}, True),  # no Referer at all: unknown, so external
        ({"Referer": "https://mybinder.org/"}, True),
        ({"Referer": "https://mybinder.org/", "Sec-Fetch-Site": "cross-site"}, True),
        ({"Referer": f"{HUB}/hub/home", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Referer": f"{HUB}/hub/home"}, False),  # older browsers send no Sec-Fetch-Site
        ({"Referer": f"{HUB}/hub/v2/gh/a/b/HEAD"}, False),
        # the user's own (or a collaborator's) server is same-origin but not the hub's page
        ({"Referer": f"{HUB}/user/mallory/evil/lab", "Sec-Fetch-Site": "same-origin"}, True),
        # anyone can link to the login page with ?next=<launch link>
        ({"Referer": f"{HUB}/hub/login?next=/hub/v2/gh/a/b/HEAD"}, True),
        ({"Referer": f"{HUB}/hub/oauth_callback?code=x"}, True),
        ({"Referer": f"{HUB}/hub/home", "Sec-Fetch-Site": "same-site"}, True),
        ({"Referer": f"{HUB}/hub/home", "Sec-Fetch-Site": "none"}, True),
        ({"Referer": "https://hub.example.org.evil.com/hub/home"}, True),
        ({"Referer": "http://hub.example.org/hub/home"}, True),  # other scheme: other origin
        ({"Referer": "javascript:alert(1)"}, True),
        ({"Referer": "https://[::1/hub/"}, True),  # unparsable
    ],
)
def test_classify(headers: dict[str, str], external: bool) -> None:
    got = classify_origin(headers, HUB)
    assert got["external"] is external
    assert got["referrer"] == (headers.get("Referer") or None)


def test_the_host_the_browser_used_counts_as_the_hub() -> None:
    headers = {"Referer": "http://127.0.0.1:8000/hub/home", "Sec-Fetch-Site": "same-origin"}
    assert classify_origin(headers, HUB)["external"] is True
    got = classify_origin(headers, HUB, request_host="127.0.0.1:8000", request_scheme="http")
    assert got["external"] is False


def test_long_referrer_is_cut() -> None:
    got = classify_origin({"Referer": "https://x.org/" + "a" * 5000}, HUB)
    assert len(got["referrer"]) == 2048 and got["external"] is True
