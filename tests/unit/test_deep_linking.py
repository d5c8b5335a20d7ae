"""LTI Deep Linking: the tool's keys, the request's checks, the signed response."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from tornado import web

from versahub.errors import InputError
from versahub.hub.deep_linking import (
    CONTENT_ITEMS,
    DATA,
    DEPLOYMENT,
    MESSAGE_TYPE,
    SETTINGS,
    PendingLinks,
    content_item,
    deep_link_request,
    response_token,
)
from versahub.site.tool_keys import ToolKeys

ISSUER = "https://lms.example.org"


def token(**settings: Any) -> dict[str, Any]:
    base = {"deep_link_return_url": f"{ISSUER}/dl/return", "accept_types": ["ltiResourceLink"],
            "data": "opaque-123", "title": "Week 1"}  # fmt: skip
    return {"iss": ISSUER, DEPLOYMENT: "7", MESSAGE_TYPE: "LtiDeepLinkingRequest",
            SETTINGS: {**base, **settings}}  # fmt: skip


def test_keys_are_made_once_rotated_and_retired(tmp_path: Path) -> None:
    keys = ToolKeys(tmp_path / "keys")
    assert keys.all() == [] and keys.jwks() == {"keys": []}
    first = keys.signing_key()
    assert keys.signing_key().kid == first.kid  # made once
    assert (tmp_path / "keys" / f"{first.kid}.pem").stat().st_mode & 0o777 == 0o600
    second = keys.add()
    assert keys.signing_key().kid == second.kid
    assert [k["kid"] for k in keys.jwks()["keys"]] == [first.kid, second.kid]
    assert all("d" not in k for k in keys.jwks()["keys"])  # public halves only
    keys.retire(first.kid)
    assert [k.kid for k in keys.all()] == [second.kid]
    for kid, reason in ((second.kid, "is the only key"), ("nope", "is not a key")):
        with pytest.raises(InputError) as err:
            keys.retire(kid)
        assert reason in err.value.reason


def test_response_is_signed_for_the_platform_and_verifies_with_the_jwks(tmp_path: Path) -> None:
    keys = ToolKeys(tmp_path / "keys")
    request = deep_link_request(token(), client_id="client-1", user="grace")
    item = content_item("course", "ds101", "Data Science 101", "", "material/l1.ipynb",
                        "https://hub.example.org/hub/")  # fmt: skip
    signed = response_token(request, [item], keys, now=1_000_000)
    header = jwt.get_unverified_header(signed)
    (jwk,) = [k for k in keys.jwks()["keys"] if k["kid"] == header["kid"]]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    claims = jwt.decode(signed, public, algorithms=["RS256"], audience=ISSUER,
                        options={"verify_exp": False})  # fmt: skip
    assert claims["iss"] == "client-1" and claims["exp"] == 1_000_600
    assert claims[MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert claims[DEPLOYMENT] == "7" and claims[DATA] == "opaque-123"
    assert claims[CONTENT_ITEMS] == [{
        "type": "ltiResourceLink", "title": "Data Science 101",
        "url": "https://hub.example.org/hub/",
        "custom": {"course": "ds101", "path": "material/l1.ipynb"},
    }]  # fmt: skip
    with pytest.raises(jwt.InvalidSignatureError):
        other = ToolKeys(tmp_path / "other").signing_key().jwk()
        wrong = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(other))
        jwt.decode(signed, wrong, algorithms=["RS256"], audience=ISSUER,
                   options={"verify_exp": False})  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"deep_link_return_url": "http://lms.example.org/return"}, "deep_link_return_url"),
        ({"deep_link_return_url": "javascript:alert(1)"}, "deep_link_return_url"),
        ({"deep_link_return_url": ""}, "deep_link_return_url"),
        ({"accept_types": ["file"]}, "accept_types"),
        ({"accept_types": "ltiResourceLink"}, "accept_types"),
    ],
)
def test_bad_deep_link_requests_are_refused(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        deep_link_request(token(**settings), client_id="c", user="grace")
    assert err.value.field == field
    with pytest.raises(InputError):
        deep_link_request({"iss": ISSUER}, client_id="c", user="grace")


def test_pending_requests_belong_to_their_teacher_and_are_used_once() -> None:
    links = PendingLinks()
    request = deep_link_request(token(), client_id="c", user="grace")
    key = links.add(request)
    with pytest.raises(web.HTTPError):
        links.get(key, "ada")
    assert links.pop(key, "grace") == request
    with pytest.raises(web.HTTPError):
        links.get(key, "grace")
