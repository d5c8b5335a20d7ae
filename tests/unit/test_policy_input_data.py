"""build_input and render_site_data (pure): the documents of docs/architecture.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from versahub.errors import InputError
from versahub.policy.data import render_site_data, site_data_file, write_site_data
from versahub.policy.input import build_input
from versahub.site import site_from_mapping
from versahub.spec import parse_spec

GiB = 1024**3

SPEC = {
    "repo": "https://github.com/binder-examples/requirements",
    "ref": "HEAD",
    "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
    "collaborators": ["bob", "group:ds101-teachers"],
    "public_readonly": False,
    "credentials": False,
    "internet": True,
    "resources": {"memory": "2G", "cpu": 1.0, "max_duration": "8h", "idle_timeout": "1h"},
    "provider": "gh",
    "source": {"scheme": "https", "host": "github.com", "port": 443},
    "spec_id": "0123456789abcdef",
}


def test_build_input_from_dict() -> None:
    doc = build_input(SPEC, {"name": "alice", "groups": ["b", "a", "a"]}, None)
    assert set(doc) == {"spec", "user", "origin", "directory", "site"}
    assert doc["spec"]["limits"] == {
        "memory_bytes": 2 * GiB,
        "cpu": 1.0,
        "max_duration_seconds": 8 * 3600,
        "idle_timeout_seconds": 3600,
    }
    assert doc["spec"]["repo"] == SPEC["repo"]
    assert doc["user"] == {"name": "alice", "groups": ["a", "b"], "admin": False}
    assert doc["origin"] == {"external": False, "referrer": None}
    assert doc["directory"] == {"users": ["bob"], "groups": ["ds101-teachers"]}
    assert doc["site"] == {}
    json.dumps(doc)  # JSON-ready


def test_build_input_does_not_mutate_spec() -> None:
    spec = json.loads(json.dumps(SPEC))
    build_input(spec, {"name": "alice"})
    assert spec == SPEC


def test_build_input_unset_resources_are_null() -> None:
    spec = dict(SPEC, resources={"memory": None, "cpu": None})
    assert build_input(spec, {"name": "a"})["spec"]["limits"] == {
        "memory_bytes": None,
        "cpu": None,
        "max_duration_seconds": None,
        "idle_timeout_seconds": None,
    }


def test_build_input_keeps_given_limits() -> None:
    limits = {"memory_bytes": 1, "cpu": 2.0, "max_duration_seconds": 3, "idle_timeout_seconds": 4}
    assert build_input(dict(SPEC, limits=limits), {"name": "a"})["spec"]["limits"] == limits


@dataclass
class _Group:
    name: str


@dataclass
class _User:
    name: str
    groups: list[_Group]
    admin: bool


def test_build_input_from_spec_object_and_hub_user() -> None:
    spec = parse_spec(
        {"repo": SPEC["repo"], "resources": {"memory": "4G", "cpu": 2, "idle_timeout": "10m"}}
    )
    doc = build_input(
        spec,
        _User("alice", [_Group("ds101")], True),
        {"external": True, "referrer": "https://mybinder.org/"},
        {"users": ["bob", "carol"], "groups": []},
        {"name": "Demo", "hub_url": "https://hub.example.org"},
    )
    assert doc["spec"]["limits"] == {
        "memory_bytes": 4 * GiB,
        "cpu": 2.0,
        "max_duration_seconds": None,
        "idle_timeout_seconds": 600,
    }
    assert doc["user"] == {"name": "alice", "groups": ["ds101"], "admin": True}
    assert doc["origin"] == {"external": True, "referrer": "https://mybinder.org/"}
    assert doc["directory"] == {"users": ["bob", "carol"], "groups": []}
    assert doc["site"]["hub_url"] == "https://hub.example.org"


@pytest.mark.parametrize(
    ("spec", "user", "origin", "field"),
    [
        pytest.param(SPEC, {"name": ""}, None, "user.name", id="empty-user"),
        pytest.param(SPEC, {}, None, "user.name", id="no-user"),
        pytest.param(SPEC, {"name": "a", "groups": "ds101"}, None, "user.groups", id="groups-str"),
        pytest.param(SPEC, {"name": "a"}, {"referrer": 3}, "origin.referrer", id="referrer-int"),
        pytest.param(
            dict(SPEC, resources={"memory": "lots"}),
            {"name": "a"},
            None,
            "spec.resources.memory",
            id="bad-memory",
        ),
        pytest.param(
            dict(SPEC, resources={"cpu": "x"}),
            {"name": "a"},
            None,
            "spec.resources.cpu",
            id="bad-cpu",
        ),
        pytest.param("gh:x/y", {"name": "a"}, None, "spec", id="spec-str"),
    ],
)
def test_build_input_bad(spec: Any, user: Any, origin: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        build_input(spec, user, origin)
    assert err.value.field == field


# --- site data ---------------------------------------------------------------------------------

ARCH_EXAMPLE = {
    "trusted_repos": ["https://github.com/binder-examples/*"],
    "trusted_forges": ["github.com", "gitlab.com"],
    "allowed_forges": ["*"],
    "allowed_internal_hosts": [],
    "caps": {
        "default": {
            "memory_bytes": 4294967296,
            "cpu": 2,
            "max_duration_seconds": 86400,
            "idle_timeout_seconds": 14400,
        },
        "groups": {
            "staff": {
                "memory_bytes": 17179869184,
                "cpu": 8,
                "max_duration_seconds": 604800,
                "idle_timeout_seconds": 86400,
            }
        },
    },
    "large_request": {"memory_bytes": 8589934592, "cpu": 4},
    "volumes": {
        "home": {
            "kind": "home",
            "read": {"users": ["*"], "groups": []},
            "write": {"users": ["*"], "groups": []},
        },
        "ds101-shared": {
            "kind": "shared",
            "read": {"users": [], "groups": ["ds101"]},
            "write": {"users": [], "groups": ["ds101-teachers"]},
        },
    },
    "share": {"groups": "member"},
    "decision_log": {"personal_data": "keep"},
}
SITE_POLICY = {
    "trusted_repos": ["https://github.com/binder-examples/*"],
    "trusted_forges": ["github.com", "gitlab.com"],
    "allowed_forges": ["*"],
    "allowed_internal_hosts": [],
    "caps": {
        "default": {"memory": "4G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h"},
        "groups": {
            "staff": {"memory": "16G", "cpu": 8, "max_duration": "7d", "idle_timeout": "1d"}
        },
    },
    "large_request": {"memory": "8G", "cpu": 4},
    "share": {"groups": "member"},
}
VOLUMES = {
    "home": {
        "kind": "home",
        "description": "Your home.",
        "read": {"users": ["*"]},
        "write": {"users": ["*"]},
    },
    "ds101-shared": {
        "kind": "shared",
        "read": {"groups": ["ds101"]},
        "write": {"groups": ["ds101-teachers"]},
    },
}


def test_render_matches_architecture_example() -> None:
    assert render_site_data(SITE_POLICY, VOLUMES) == ARCH_EXAMPLE


def test_group_caps_inherit_default() -> None:
    policy = dict(
        SITE_POLICY,
        caps={"default": SITE_POLICY["caps"]["default"], "groups": {"gpu": {"cpu": 16}}},
    )
    caps = render_site_data(policy, {})["caps"]
    assert caps["groups"]["gpu"] == dict(caps["default"], cpu=16)


def test_render_site_defaults_from_site_module() -> None:
    site = site_from_mapping({})
    doc = render_site_data(site.policy, site.volumes)
    assert set(doc) == set(ARCH_EXAMPLE)
    assert doc["caps"]["default"]["memory_bytes"] == 4 * GiB
    assert doc["caps"]["default"]["max_duration_seconds"] == 86400
    assert doc["allowed_forges"] == ["*"]
    assert doc["volumes"]["home"]["write"] == {"users": ["*"], "groups": []}


def test_write_site_data_atomic(tmp_path: Path) -> None:
    path = write_site_data({"a": 1}, tmp_path)
    assert path == site_data_file(tmp_path) == tmp_path / "versahub" / "site" / "data.json"
    assert json.loads(path.read_text()) == {"a": 1}
    write_site_data({"a": 2}, tmp_path)
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.json"]  # no temp left
