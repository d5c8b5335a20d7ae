"""Hostile input against the pure parsers: every refusal is an ``InputError`` naming the field.

``parse_spec`` (and ``spec_errors``, the form's every-error view of the same rules),
``parse_launch_url``, ``legacy_redirect`` and ``parse_request`` get the corpus of
``hostile_corpus``. Each case asserts the refusal is an :class:`InputError` whose
``.field`` is the expected one and whose message is one bounded line without raw control
or bidi characters. Values the parser accepts on purpose are checked too: internal hosts
reach the policy with their real host in ``source``, and inert values (HTML in a git ref,
in a urlpath query) come out of every link and badge escaped. No I/O, no hub.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_corpus import (
    HUB,
    INERT,
    LEGACY_REFUSED,
    POLICY_DENIED,
    REQUEST_REFUSED,
    SPEC_REFUSED,
    URL_REFUSED,
    WHOLE_URL_REFUSED,
    params,
    spec,
)
from hostile_support import assert_clear_message

from versahub.errors import InputError
from versahub.launch.request import parse_request
from versahub.spec import parse_spec, spec_errors
from versahub.urls import (
    badge_html,
    badge_markdown,
    launch_url,
    legacy_redirect,
    parse_launch_url,
)

VOLUMES = ["home", "teaching"]
OWNER = "alice"


def refused(call: Any, field: str) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    err = caught.value
    assert err.field == field, f"field {err.field!r}, expected {field!r}: {err}"
    assert_clear_message(str(err), field)
    return err


@pytest.mark.parametrize(("fields", "field"), params(SPEC_REFUSED))
def test_parse_spec_refuses(fields: dict[str, Any], field: str) -> None:
    doc = spec(fields)
    refused(lambda: parse_spec(doc, owner=OWNER, volumes=VOLUMES), field)
    # the form's view (every field's error at once) refuses it the same way
    errors = spec_errors(doc, owner=OWNER, volumes=VOLUMES)
    assert errors and errors[0].field == field
    for err in errors:
        assert_clear_message(str(err), err.field)


@pytest.mark.parametrize(("path", "field"), params(URL_REFUSED))
def test_launch_url_refuses(path: str, field: str) -> None:
    refused(lambda: parse_launch_url(HUB + path, owner=OWNER, volumes=VOLUMES), field)
    # the same link as a path on the hub ("/v2/…", what the launch page reads)
    refused(lambda: parse_launch_url(path, owner=OWNER, volumes=VOLUMES), field)


@pytest.mark.parametrize(("url", "field"), params(WHOLE_URL_REFUSED))
def test_whole_launch_url_refuses(url: str, field: str) -> None:
    refused(lambda: parse_launch_url(url, owner=OWNER, volumes=VOLUMES), field)


@pytest.mark.parametrize(("path", "query", "field"), params(LEGACY_REFUSED))
def test_legacy_redirect_refuses(path: str, query: str, field: str) -> None:
    refused(lambda: legacy_redirect(path, query), field)
    link = path + ("?" + query if query else "")
    refused(lambda: parse_launch_url(HUB + link, owner=OWNER, volumes=VOLUMES), field)


@pytest.mark.parametrize(("body", "field"), params(REQUEST_REFUSED))
def test_launch_request_refuses(body: dict[str, Any], field: str) -> None:
    refused(lambda: parse_request(body, owner=OWNER, volumes=VOLUMES), field)


def test_a_stored_request_cannot_start_another_server() -> None:
    body = {"spec": spec({"server_name": "other"})}
    refused(
        lambda: parse_request(body, owner=OWNER, volumes=VOLUMES, server_name="mine"),
        "server_name",
    )


@pytest.mark.parametrize(("fields", "deny_ids"), params(POLICY_DENIED))
def test_the_parser_leaves_hosts_and_people_to_the_policy(
    fields: dict[str, Any], deny_ids: tuple[str, ...]
) -> None:
    """These parse (hosts and people are the policy's business), and the policy input
    names the host a clone would really reach (checked against OPA elsewhere)."""
    parsed = parse_spec(spec(fields), owner=OWNER, volumes=VOLUMES)
    source = parsed.to_dict()["source"]
    assert source["host"] and source["scheme"] in ("http", "https")
    if "repo" in fields and fields["repo"].startswith("https://"):
        host = fields["repo"].split("/")[2].lower().strip("[]").rstrip(".")
        assert source["host"] == host


@pytest.mark.parametrize("fields", params(INERT))
def test_inert_values_come_out_escaped(fields: dict[str, Any]) -> None:
    parsed = parse_spec(spec(fields), owner=OWNER, volumes=VOLUMES)
    url = launch_url(parsed, HUB)
    for char in "<>\"' ()\\":
        assert char not in url, f"{char!r} raw in the launch URL {url}"
    assert parse_launch_url(url, owner=OWNER, volumes=VOLUMES) == parsed
    badge = badge_html(parsed, HUB)
    assert re.fullmatch(
        r'<a href="[^"<>]*"><img src="[^"<>]*" alt="Launch on VersaHub"></a>', badge
    )
    markdown = badge_markdown(parsed, HUB)
    target = markdown.rsplit("](", 1)[1]
    assert target.endswith(")") and not any(c in target[:-1] for c in "() <>")
    # the urlpath is percent-encoded, never raw markup
    assert not any(c in parsed.urlpath for c in '<>" ')
    if "repo" in fields:  # a confusable host is another host, shown as punycode
        assert parsed.provider == "git" and parsed.source.host.startswith("xn--")
