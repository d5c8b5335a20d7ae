"""Fuzz targets for the spec and URL parsers (hypothesis, bounded for ``make test``).

For ``parse_spec``, ``parse_launch_url`` and ``legacy_redirect``, on hostile-looking input
(traversal pieces, percent-escapes once and twice, transports, option dashes, controls,
bidi and confusable characters, odd JSON types):

* nothing but :class:`InputError` is ever raised, and its message is one bounded line
  naming its field, with no raw control or bidi character;
* whatever parses round-trips: ``launch_url(spec)`` parses back to the same spec (same
  ``spec_id``), and a legacy link's redirect target is a path on the hub that reads as the
  same spec as the link itself.

Each target is bounded by ``max_examples`` (no deadline: the machine is shared); all of
them together run in well under 30 s (``VERSAHUB_FUZZ_EXAMPLES`` raises the bound).
Integers range far beyond a float (10**400): they must be refused as input errors too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_support import assert_clear_message

from versahub.errors import InputError
from versahub.spec import ServerSpec, parse_spec
from versahub.spec.model import SPEC_KEYS
from versahub.urls import MULTI_PARAMS, SINGLE_PARAMS, launch_url, legacy_redirect, parse_launch_url

HUB = "https://hub.example.org"
VOLUMES = ["home", "teaching"]
OWNER = "alice"
# VERSAHUB_FUZZ_EXAMPLES=20000 for a longer local run; 300 keeps `make test` short.
FUZZ = settings(
    max_examples=int(os.environ.get("VERSAHUB_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)

PIECES = [
    "/", ".", "..", "//", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%00", "%0a", "%252e",
    "%252f", "%25", "\\", ":", "::", "?", "#", "&", "=", "@", "-", "--", "~", "^", "*", "[",
    "]", "{", "}", "<", ">", '"', "'", " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f",
    "\u202e", "\u2066", "\u200b", "\ufeff", "\u0430", "\u0456", "\xe9", "\U0001f600",
    "ext::sh -c id", "file://", "ssh://", "git://", "javascript:", "data:", "http://",
    "https://", "--upload-pack=", "-c", "localhost", "127.0.0.1", "[::1]", "0x7f.1",
    "169.254.169.254", "group:", "home", "lab", "tree", "main", "HEAD", "a", "b", "1",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\ud800",
]  # fmt: skip
hostile_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=10).map(
    "".join
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)
REPO_PREFIXES = [
    "https://github.com/", "gh:", "gl:", "gist:", "git:", "https://", "http://", "zenodo:",
    "zenodo:10.5281/", "hydroshare:", "ckan:", "ckan:https%3A%2F%2F", "", "git:https%3A%2F%2F",
]  # fmt: skip
repos = st.one_of(
    st.builds(lambda p, t: p + t, st.sampled_from(REPO_PREFIXES), hostile_text),
    st.sampled_from(["gh:binder-examples/requirements", "https://example.org/a/b.git"]),
    json_values,
)
mounts = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"volume": st.one_of(st.sampled_from(VOLUMES), hostile_text),
             "path": st.builds(lambda t: "/home/jovyan/" + t, hostile_text)},
            optional={"mode": st.one_of(st.sampled_from(["ro", "rw"]), hostile_text)},
        ),
        json_values,
    ),
    max_size=3,
)  # fmt: skip
field_values: dict[str, Any] = {
    "ref": st.one_of(st.sampled_from(["HEAD", "main", "v1.0"]), hostile_text, json_values),
    "urlpath": st.one_of(st.builds(lambda t: "lab/tree/" + t, hostile_text), hostile_text),
    "server_name": st.one_of(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), hostile_text),
    "mounts": st.one_of(mounts, json_values),
    "collaborators": st.one_of(
        st.lists(
            st.one_of(st.sampled_from(["bob", "group:staff", OWNER]), hostile_text), max_size=3
        ),
        json_values,
    ),
    "public_readonly": st.one_of(st.booleans(), json_values),
    "credentials": st.one_of(st.booleans(), json_values),
    "internet": st.one_of(st.booleans(), json_values),
    "resources": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "memory": st.one_of(st.sampled_from(["1G", "512M"]), scalars),
                "cpu": st.one_of(st.sampled_from([0.5, 2]), scalars),
                "max_duration": st.one_of(st.sampled_from(["8h", "1h30m"]), scalars),
                "idle_timeout": st.one_of(st.sampled_from(["1h"]), scalars),
            },
        ),
        json_values,
    ),
    "provider": st.one_of(st.sampled_from(["gh", "git", "ckan", "zenodo"]), hostile_text),
}
specs = st.fixed_dictionaries(
    {"repo": repos}, optional={key: field_values[key] for key in SPEC_KEYS if key != "repo"}
).flatmap(
    lambda doc: (
        st.dictionaries(hostile_text, json_values, max_size=1).map(lambda extra: {**doc, **extra})
        | st.just(doc)
    )
)


def encoded(text: str) -> st.SearchStrategy[str]:
    """``text`` raw, percent-encoded once, or twice (as attackers send it)."""
    raw = text.encode("utf-8", "surrogatepass")
    return st.sampled_from([text, quote(raw, safe=""), quote(quote(raw, safe=""), safe="")])


segments = hostile_text.flatmap(encoded)
# A path of a real request is printable ASCII without spaces, "?" or "#" (they would end
# it): what a client sends for anything else is its percent-escape.
_PATH_SAFE = "!$&'()*+,;=:@/-._~%<>\"[]{}|\\^`"
path_segments = segments.map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe=_PATH_SAFE))
param_keys = st.one_of(
    st.sampled_from(SINGLE_PARAMS + MULTI_PARAMS + ("utm_source", "build_only")),
    hostile_text,
)
queries = st.lists(st.tuples(param_keys.flatmap(encoded), segments), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).replace("#", "%23")
)
providers = st.sampled_from(
    ["gh", "gl", "git", "gist", "zenodo", "figshare", "hydroshare", "dataverse", "ckan"]
)
launch_urls = st.one_of(
    st.builds(
        lambda base, p, a, b, c, q: f"{base}/v2/{p}/{a}/{b}/{c}" + (f"?{q}" if q else ""),
        st.sampled_from([HUB, "", "http://127.0.0.1:8000/base", "https://mybinder.org"]),
        providers, segments, segments, segments, queries,
    ),
    st.builds(lambda t: HUB + t, hostile_text),
    hostile_text,
)  # fmt: skip


def refusal(err: InputError) -> None:
    assert isinstance(err.field, str) and err.field and err.field.isprintable()
    assert_clear_message(str(err), None)


def round_trips(spec: ServerSpec) -> None:
    url = launch_url(spec, HUB)
    again = parse_launch_url(url, owner=OWNER, volumes=VOLUMES)
    assert again.spec_id == spec.spec_id, url
    assert again == spec, url


@FUZZ
@given(specs)
def test_fuzz_parse_spec(data: dict[str, Any]) -> None:
    try:
        spec = parse_spec(data, owner=OWNER, volumes=VOLUMES)
    except InputError as err:
        refusal(err)
        return
    round_trips(spec)
    assert ServerSpec.from_dict(spec.to_dict(), owner=OWNER, volumes=VOLUMES) == spec


@FUZZ
@given(launch_urls)
def test_fuzz_parse_launch_url(url: str) -> None:
    try:
        spec = parse_launch_url(url, owner=OWNER, volumes=VOLUMES)
    except InputError as err:
        refusal(err)
        return
    round_trips(spec)


legacy_paths = st.builds(
    lambda u, r, p: f"/repo/{u}/{r}" + (f"/{p}" if p else ""),
    st.one_of(st.sampled_from(["binder-examples", "a"]), path_segments),
    st.one_of(st.sampled_from(["requirements", "b.git"]), path_segments),
    st.one_of(
        st.just(""), path_segments, st.builds(lambda a, b: f"{a}/{b}", path_segments, path_segments)
    ),
)


request_queries = queries.map(
    lambda q: quote(q.encode("utf-8", "surrogatepass"), safe=_PATH_SAFE + "?")
)


@FUZZ
@given(legacy_paths, request_queries)
def test_fuzz_legacy_redirect(path: str, query: str) -> None:
    link = HUB + path + (f"?{query}" if query else "")
    try:
        target = legacy_redirect(path, query)
    except InputError as err:
        refusal(err)
        # the launch page reads the same link the same way: refused too
        try:
            parse_launch_url(link, owner=OWNER, volumes=VOLUMES)
        except InputError:
            return
        raise AssertionError(
            f"legacy_redirect refused {link!r}, parse_launch_url did not"
        ) from None
    # the redirect never leaves the hub and never splits a header
    assert target.startswith("/v2/gh/") and not target.startswith("//"), target
    assert not any(c.isspace() or not c.isprintable() for c in target), repr(target)
    try:
        by_link = parse_launch_url(link, owner=OWNER, volumes=VOLUMES)
    except InputError:
        by_link = None
    try:
        by_target = parse_launch_url(HUB + target, owner=OWNER, volumes=VOLUMES)
    except InputError as err:
        refusal(err)
        assert by_link is None, f"{link!r} parses but its redirect {target!r} does not"
        return
    assert by_link is not None and by_target.spec_id == by_link.spec_id, (link, target)
    round_trips(by_target)
