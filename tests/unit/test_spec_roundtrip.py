"""Property tests: spec → URL → spec, spec → JSON → spec, and spec_id stability."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from versahub.errors import InputError
from versahub.spec import ServerSpec, parse_spec
from versahub.urls import launch_url, parse_launch_url

_name = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_repo = st.one_of(
    st.builds(lambda o, r: f"gh:{o}/{r}", _name, _name),
    st.builds(lambda a, b, c: f"gl:{a}/{b}/{c}", _name, _name, _name),
    st.builds(lambda h, p: f"https://{h}.example.org/{p}.git", _name, _name),
    st.builds(lambda u, i: f"gist:{u}/{i}", _name, st.from_regex(r"[0-9a-f]{8}", fullmatch=True)),
)
_ref = st.one_of(
    st.just("HEAD"),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(/[a-z][a-z0-9]{0,5})?", fullmatch=True),
    st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
)
_urlpath = st.one_of(
    st.just(""),
    st.builds(lambda a, b: f"lab/tree/{a} {b}.ipynb", _name, _name),
    st.builds(lambda a: f"voila/render/{a}.ipynb?voila-theme=dark&x=%20", _name),
    st.builds(lambda a: f"tree/{a}/", _name),
)
_server = st.one_of(st.just(""), st.from_regex(r"[a-z]([a-z0-9]|-[a-z0-9]){0,10}", fullmatch=True))
_mounts = st.lists(
    st.builds(
        lambda v, p, m: {"volume": v, "path": f"/home/jovyan/{p}", "mode": m},
        _name,
        _name,
        st.sampled_from(["ro", "rw"]),
    ),
    max_size=4,
    unique_by=lambda m: m["path"],
)
_collabs = st.lists(
    st.one_of(_name, st.builds(lambda g: f"group:{g}", _name)), max_size=5, unique=True
)
_resources = st.fixed_dictionaries(
    {},
    optional={
        "memory": st.sampled_from(["512M", "1G", "1536M", "2G", "1T"]),
        "cpu": st.sampled_from([0.5, 1.0, 2.0, 0.25, 3.125]),
        "max_duration": st.sampled_from(["30s", "1h30m", "8h", "2d"]),
        "idle_timeout": st.sampled_from(["90s", "1h", "1d12h"]),
    },
)
spec_data = st.fixed_dictionaries(
    {"repo": _repo},
    optional={
        "ref": _ref,
        "urlpath": _urlpath,
        "server_name": _server,
        "mounts": _mounts,
        "collaborators": _collabs,
        "public_readonly": st.booleans(),
        "credentials": st.booleans(),
        "internet": st.booleans(),
        "resources": _resources,
    },
)


@settings(max_examples=200, deadline=None)
@given(spec_data, st.sampled_from(["https://hub.example.org", "http://127.0.0.1:8000/base/"]))
def test_url_round_trip(data: dict[str, Any], hub: str) -> None:
    spec = parse_spec(data)
    assert parse_launch_url(launch_url(spec, hub)) == spec


@settings(max_examples=200, deadline=None)
@given(spec_data)
def test_json_round_trip(data: dict[str, Any]) -> None:
    spec = parse_spec(data)
    doc = json.loads(json.dumps(spec.to_dict()))
    again = ServerSpec.from_dict(doc)
    assert again == spec
    assert again.canonical_json() == spec.canonical_json()
    assert again.to_dict() == spec.to_dict()


@settings(max_examples=200, deadline=None)
@given(spec_data, st.randoms(use_true_random=False))
def test_spec_id_stable_under_key_and_list_order(data: dict[str, Any], rnd: random.Random) -> None:
    spec = parse_spec(data)
    keys = list(data)
    rnd.shuffle(keys)
    shuffled = {k: data[k] for k in keys}
    for key in ("mounts", "collaborators"):
        if key in shuffled:
            items = list(shuffled[key])
            rnd.shuffle(items)
            shuffled[key] = items
    assert parse_spec(shuffled).spec_id == spec.spec_id


@settings(max_examples=100, deadline=None)
@given(spec_data)
def test_spec_id_explicit_defaults_equal_omitted(data: dict[str, Any]) -> None:
    explicit = {
        "ref": "HEAD",
        "urlpath": "",
        "server_name": "",
        "mounts": [],
        "collaborators": [],
        "public_readonly": False,
        "credentials": False,
        "internet": True,
        "resources": {"memory": None, "cpu": None, "max_duration": None, "idle_timeout": None},
    }
    explicit.update(data)
    assert parse_spec(explicit) == parse_spec(data)
    assert parse_spec(explicit).spec_id == parse_spec(data).spec_id


@settings(max_examples=100, deadline=None)
@given(spec_data, _server)
def test_spec_id_independent_of_server_name(data: dict[str, Any], name: str) -> None:
    a = parse_spec({**data, "server_name": name})
    b = parse_spec({**data, "server_name": ""})
    assert a.spec_id == b.spec_id
    assert b.named().spec_id == b.spec_id
    assert len(a.spec_id) == 16 and int(a.spec_id, 16) >= 0


def test_spec_id_changes_with_configuration() -> None:
    a = parse_spec({"repo": "gh:o/r"})
    assert parse_spec({"repo": "gh:o/r", "internet": False}).spec_id != a.spec_id
    assert parse_spec({"repo": "gh:o/r", "ref": "main"}).spec_id != a.spec_id


def test_canonical_json_is_compact_and_sorted() -> None:
    text = parse_spec({"repo": "gh:o/r"}).canonical_json()
    assert text.startswith('{"collaborators":[],"credentials":false,')
    assert " " not in text and "spec_id" not in text and "provider" not in text


# ----------------------------------------------------------------------------- fuzzing
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["repo", "ref", "urlpath", "server_name", "mounts", "collaborators", "public_readonly",
     "credentials", "internet", "resources", "provider"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_keys, _json), st.sampled_from(["gh:o/r", None]))
def test_hostile_mappings_raise_only_input_error(data: dict[str, Any], repo: str | None) -> None:
    if repo is not None:
        data.setdefault("repo", repo)
    try:
        spec = parse_spec(data)
    except InputError as err:
        assert "\n" not in str(err) and err.field
    else:
        assert ServerSpec.from_dict(spec.to_dict()) == spec


@settings(max_examples=500, deadline=None)
@given(
    st.text(max_size=80),
    st.sampled_from(["", "?urlpath=", "?labpath=", "?mount=", "?memory=", "?collaborator="]),
)
def test_hostile_urls_raise_only_input_error(tail: str, query: str) -> None:
    for url in (
        f"https://hub/v2/gh/o/r/{tail}",
        f"https://hub/v2/gh/o/r/HEAD{query}{tail}",
        f"https://hub/v2/git/{tail}",
        tail,
    ):
        try:
            parse_launch_url(url)
        except InputError as err:
            assert "\n" not in str(err)
