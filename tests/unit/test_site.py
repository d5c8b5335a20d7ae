"""site.yaml: defaults, schema, and the errors an operator sees."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from versahub.app.hubconfig import HubPaths, hub_settings, render_config_file
from versahub.errors import InputError
from versahub.site.config import load_site, merge_defaults, site_from_mapping, site_schema
from versahub.site.defaults import DEFAULTS

REPO = Path(__file__).resolve().parents[2]


def test_defaults_alone_validate() -> None:
    jsonschema.Draft202012Validator(site_schema()).validate(DEFAULTS)
    site = site_from_mapping({})
    assert site.name == "VersaHub"
    assert site.opa_url == "http://127.0.0.1:8181"


def test_shipped_site_file_validates() -> None:
    site = load_site(REPO / "site.yaml")
    assert "ds101-shared" in site.volumes
    assert site.policy["caps"]["groups"]["staff"]["memory"] == "16G"


def test_merge_keeps_defaults_and_replaces_lists() -> None:
    merged = merge_defaults(DEFAULTS, {"policy": {"trusted_forges": ["git.example.org"]}})
    assert merged["policy"]["trusted_forges"] == ["git.example.org"]
    assert merged["policy"]["allowed_forges"] == ["*"]
    assert DEFAULTS["policy"]["trusted_forges"] == []  # not mutated


def test_volumes_replace_the_default_catalogue() -> None:
    site = site_from_mapping({"volumes": {"scratch": {"kind": "project"}}})
    assert list(site.volumes) == ["scratch"]


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        pytest.param({"bogus": 1}, "(top level)", "unknown key", id="unknown-top-key"),
        pytest.param({"hub": {"url": "ftp://x"}}, "hub.url", "accepted form", id="hub-url-scheme"),
        pytest.param(
            {"policy": {"caps": {"default": {"memory": "lots"}}}},
            "policy.caps.default.memory",
            "accepted form",
            id="caps-memory",
        ),
        pytest.param(
            {"policy": {"caps": {"default": {"cpu": -1}}}},
            "policy.caps.default.cpu",
            "",
            id="caps-cpu-negative",
        ),
        pytest.param(
            {"volumes": {"../etc": {"kind": "shared"}}}, "volumes", "", id="volume-name-traversal"
        ),
        pytest.param(
            {"volumes": {"a": {"kind": "nfs"}}}, "volumes.a.kind", "not one of", id="volume-kind"
        ),
        pytest.param({"opa": {"address": "8.8.8.8"}}, "opa.address", "", id="opa-no-port"),
        pytest.param(
            {"hub": {"auth": {"kind": "demo", "users": []}}},
            "hub.auth.users",
            "",
            id="demo-without-users",
        ),
        pytest.param(
            {"hub": {"auth": {"kind": "generic"}}}, "hub.auth.class", "", id="generic-no-class"
        ),
        pytest.param(
            {"volumes": {"a": {"kind": "home"}, "b": {"kind": "home"}}},
            "volumes",
            "only one",
            id="two-homes",
        ),
        pytest.param(
            {"policy": {"share": {"groups": "everyone"}}},
            "policy.share.groups",
            "",
            id="share-mode",
        ),
        pytest.param(
            {"site": {"warnings": "x"}}, "site.warnings", "expected array", id="warnings-type"
        ),
        # policy: and volumes: are checked here only (render_site_data converts, checks nothing)
        pytest.param(
            {"policy": {"caps": {"default": {"max_duration": "soon"}}}},
            "policy.caps.default.max_duration",
            "accepted form",
            id="caps-duration",
        ),
        pytest.param(
            {"policy": {"caps": {"groups": {"g": {"cpu": 0}}}}},
            "policy.caps.groups.g.cpu",
            "",
            id="group-caps-cpu-zero",
        ),
        pytest.param(
            {"policy": {"caps": {"default": {"ram": "4G"}}}},
            "policy.caps.default",
            "unknown key",
            id="caps-unknown-key",
        ),
        pytest.param(
            {"policy": {"trusted_forges": "github.com"}},
            "policy.trusted_forges",
            "expected array",
            id="forges-string",
        ),
        pytest.param(
            {"volumes": {"v": {"kind": "shared", "read": {"users": "*"}}}},
            "volumes.v.read.users",
            "expected array",
            id="volume-users-string",
        ),
        # ranges of versahub/spec/sizes.py, met when the site is converted once at load
        pytest.param(
            {"policy": {"caps": {"default": {"memory": "512K"}}}},
            "policy.caps.default.memory",
            "at least 1M",
            id="caps-memory-below-1M",
        ),
        pytest.param(
            {"policy": {"large_request": {"memory": "100T"}}},
            "policy.large_request.memory",
            "at most 64T",
            id="large-request-memory-above-64T",
        ),
        pytest.param(
            {"policy": {"caps": {"groups": {"g": {"idle_timeout": "30m1h"}}}}},
            "policy.caps.groups.g.idle_timeout",
            "must be a duration",
            id="group-caps-duration-order",
        ),
        # images: checked here only (ImagesConfig converts)
        pytest.param(
            {"images": {"target_repo_dir": "srv/repo"}},
            "images.target_repo_dir",
            "accepted form",
            id="images-repo-dir-relative",
        ),
        pytest.param(
            {"images": {"max_concurrent_builds": 0}},
            "images.max_concurrent_builds",
            "minimum",
            id="images-no-builds",
        ),
        pytest.param(
            {"images": {"build_timeout": 0}}, "images.build_timeout", "", id="images-timeout-zero"
        ),
        pytest.param(
            {"images": {"resolve_timeout": -1}},
            "images.resolve_timeout",
            "",
            id="images-resolve-timeout-negative",
        ),
        pytest.param(
            {"images": {"disk_budget": -1}}, "images.disk_budget", "", id="images-budget-negative"
        ),
        pytest.param(
            {"images": {"disk_budget": "512K"}},
            "images.disk_budget",
            "at least 1M",
            id="images-budget-below-1M",
        ),
        pytest.param({"images": {"user_id": 1}}, "images", "unknown key", id="images-unknown"),
        pytest.param(
            {"registry": {"enabled": True}, "images": {"image_prefix": "versahub/r2d-"}},
            "images.image_prefix",
            "must start with the registry address '127.0.0.1:5000/'",
            id="image-prefix-outside-registry",
        ),
    ],
)
def test_bad_site_names_the_key(doc: dict, field: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert err.value.field == f"site.yaml: {field}"
    assert reason in err.value.reason
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("a: [", "not valid YAML", id="bad-yaml"),
        pytest.param("- 1\n- 2\n", "expected a mapping", id="not-a-mapping"),
    ],
)
def test_bad_site_file(tmp_path: Path, text: str, reason: str) -> None:
    file = tmp_path / "site.yaml"
    file.write_text(text)
    with pytest.raises(InputError, match=reason):
        load_site(file)


def test_missing_site_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_site(tmp_path / "nope.yaml")


def test_relative_state_dir_resolves_next_to_the_file(tmp_path: Path) -> None:
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump({"state_dir": "state"}))
    assert load_site(file).state_dir == tmp_path / "state"


def test_hub_settings_golden(tmp_path: Path) -> None:
    site = load_site(REPO / "site.yaml")
    paths = HubPaths(tmp_path)
    settings = hub_settings(site, paths=paths, demo_password="pw", chp="/x/chp")
    assert settings["JupyterHub"] == {
        "bind_url": "http://127.0.0.1:8000",
        "hub_bind_url": "http://127.0.0.1:8081",
        "db_url": f"sqlite:///{tmp_path}/hub/jupyterhub.sqlite",
        "cookie_secret_file": f"{tmp_path}/hub/jupyterhub_cookie_secret",
        "pid_file": f"{tmp_path}/hub/jupyterhub.pid",
        "allow_named_servers": True,
        "named_server_limit_per_user": 20,
        "cleanup_servers": False,
        "cleanup_proxy": True,
        "load_groups": {"ds101": {"users": ["alice"]}, "ds101-teachers": {"users": ["bob"]}},
        "logging_config": {
            "loggers": {
                "versahub": {"handlers": ["console"], "level": "DEBUG", "propagate": False},
            },
        },
        "authenticator_class": "dummy",
    }
    assert settings["ConfigurableHTTPProxy"] == {
        "command": ["/x/chp"],
        "api_url": "http://127.0.0.1:8001",
        "pid_file": f"{tmp_path}/hub/jupyterhub-proxy.pid",
        "should_start": True,
    }
    assert settings["Authenticator"] == {
        "admin_users": {"admin"},
        "allowed_users": {"alice", "bob", "admin"},
    }
    assert settings["DummyAuthenticator"] == {"password": "pw"}


def test_generated_config_file_is_valid_python(tmp_path: Path) -> None:
    text = render_config_file(tmp_path / "site's.yaml")
    compile(text, "jupyterhub_config.py", "exec")
    assert "configure(c, " in text


@pytest.mark.parametrize(
    ("catalogue", "field"),
    [
        pytest.param(
            [{"id": "a", "spec": {"repo": "file:///etc"}}], "catalogue[0].spec.repo", id="bad-repo"
        ),
        pytest.param(
            [{"id": "a", "spec": {"repo": "gh:a/b", "mounts": [{"volume": "nope", "path": "/x"}]}}],
            "catalogue[0].spec.mounts[0].volume",
            id="unknown-volume",
        ),
        pytest.param(
            [{"id": "a", "spec": {"repo": "gh:a/b"}}, {"id": "a", "spec": {"repo": "gh:a/c"}}],
            "catalogue[1].id",
            id="duplicate-id",
        ),
        pytest.param([{"id": "A b", "spec": {}}], "catalogue[0].id", id="bad-id"),
    ],
)
def test_bad_catalogue_entry_names_the_field(catalogue: list, field: str) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping({"catalogue": catalogue})
    assert err.value.field == f"site.yaml: {field}"


def test_demo_groups_name_only_people_who_can_log_in() -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping({"hub": {"groups": {"ds101": ["mallory"]}}})
    assert err.value.field == "site.yaml: hub.groups.ds101"
    assert "mallory cannot log in" in err.value.reason
    site = site_from_mapping({"hub": {"groups": {"ds101": ["alice"]}}})
    assert site.data["hub"]["groups"] == {"ds101": ["alice"]}


def test_registry_mode_image_prefix_under_the_registry() -> None:
    site = site_from_mapping({"registry": {"enabled": True}})
    assert site.images_config().image_prefix == "127.0.0.1:5000/versahub/r2d-"
    given = {"registry": {"enabled": True}, "images": {"image_prefix": "127.0.0.1:5000/x/"}}
    assert site_from_mapping(given).images_config().registry == "127.0.0.1:5000"
