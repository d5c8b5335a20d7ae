"""Golden tests: ServerSpec + site + decision → RuntimePlan → DockerSpawner traits."""

from __future__ import annotations

from typing import Any

import pytest

from versahub.hub.docker import START_COMMAND, docker_traits
from versahub.launch.plan import Layout, PlanError, make_plan, project_urlpath
from versahub.policy import Decision, Finding
from versahub.site import site_from_mapping
from versahub.spec import parse_spec

SITE = site_from_mapping(
    {
        "volumes": {
            "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
            "ds101-shared": {
                "kind": "shared",
                "read": {"groups": ["ds101"]},
                "write": {"groups": ["ds101-teachers"]},
            },
        },
        "policy": {
            "caps": {
                "default": {"memory": "4G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h"}
            }
        },
    }
)
LAYOUT = Layout(state_dir="/var/lib/versahub")
ALLOWED = Decision(allowed=True)
IMAGE = "versahub/r2d-abc:0123"
REPO = "https://github.com/binder-examples/requirements"
GiB = 1024**3

BASE_ENV = {
    "VERSAHUB_REPO": REPO,
    "VERSAHUB_REPO_DIR": "/srv/repo",
    "VERSAHUB_INTERNET": "1",
}


def plan_for(raw: dict[str, Any], **kw: Any) -> dict[str, Any]:
    spec = parse_spec({"repo": REPO, **raw}, owner="alice")
    plan = make_plan(spec, SITE, ALLOWED, owner="alice", image=IMAGE, layout=LAYOUT, **kw)
    return plan.to_dict()


CASES = [
    pytest.param(
        {"server_name": "analysis"},
        {},
        {
            "mounts": [
                {
                    "volume": "home",
                    "source": "/var/lib/versahub/volumes/home/alice",
                    "target": "/home/jovyan",
                    "read_only": False,
                }
            ],
            "network": "versahub-internet",
            "limits": {
                "memory_bytes": 4 * GiB,
                "cpu": 2.0,
                "max_duration_seconds": 86400,
                "idle_timeout_seconds": 14400,
            },
            "default_url": "lab/tree/analysis",
            "project_dir": "/home/jovyan/analysis",
            "credentials": None,
            "collaborators": [],
            "group_collaborators": [],
            "ephemeral": False,
        },
        id="defaults-home-at-tilde",
    ),
    pytest.param(
        {
            "server_name": "course",
            "urlpath": "lab/tree/index.ipynb",
            "mounts": [
                {"volume": "home", "path": "/home/jovyan/work", "mode": "rw"},
                {"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"},
            ],
            "collaborators": ["bob", "group:ds101-teachers"],
            "internet": False,
            "credentials": True,
            "resources": {"memory": "512M", "cpu": 0.5, "idle_timeout": "10m"},
        },
        {},
        {
            "mounts": [
                {
                    "volume": "ds101-shared",
                    "source": "/var/lib/versahub/volumes/shared/ds101-shared",
                    "target": "/home/jovyan/shared",
                    "read_only": True,
                },
                {
                    "volume": "home",
                    "source": "/var/lib/versahub/volumes/home/alice",
                    "target": "/home/jovyan/work",
                    "read_only": False,
                },
            ],
            "network": "versahub-offline",
            "limits": {
                "memory_bytes": 512 * 1024**2,
                "cpu": 0.5,
                "max_duration_seconds": 86400,
                "idle_timeout_seconds": 600,
            },
            "default_url": "lab/tree/course/index.ipynb",
            "project_dir": "/home/jovyan/course",
            "credentials": {
                "host_dir": "/var/lib/versahub/credentials/alice/course",
                "container_file": "/run/secrets/versahub/credentials.json",
            },
            "collaborators": ["bob"],
            "group_collaborators": ["ds101-teachers"],
            "ephemeral": False,
        },
        id="course-offline-credentials-shared",
    ),
    pytest.param(
        {
            "server_name": "demo",
            "mounts": [{"volume": "ds101-shared", "path": "/data", "mode": "rw"}],
            "collaborators": ["bob"],
            "credentials": True,
            "public_readonly": True,
        },
        {"public": True},
        {
            "mounts": [
                {
                    "volume": "ds101-shared",
                    "source": "/var/lib/versahub/volumes/shared/ds101-shared",
                    "target": "/data",
                    "read_only": True,
                }
            ],
            "network": "versahub-internet",
            "limits": {
                "memory_bytes": 4 * GiB,
                "cpu": 2.0,
                "max_duration_seconds": 86400,
                "idle_timeout_seconds": 14400,
            },
            "default_url": "lab/tree/demo",
            "project_dir": "/home/jovyan/demo",
            "credentials": None,
            "collaborators": [],
            "group_collaborators": [],
            "ephemeral": True,
        },
        id="public-copy-readonly-no-home-no-credentials",
    ),
]


@pytest.mark.parametrize(("raw", "kw", "expected"), CASES)
def test_plan_golden(raw: dict[str, Any], kw: dict[str, Any], expected: dict[str, Any]) -> None:
    plan = plan_for(raw, **kw)
    for key, value in expected.items():
        assert plan[key] == value, key
    assert plan["image"] == IMAGE
    assert plan["root_dir"] == "/home/jovyan"
    assert plan["labels"]["org.versahub.owner"] == "alice"


def test_plan_environment_and_labels_carry_no_secret() -> None:
    plan = plan_for({"server_name": "x", "credentials": True})
    env = plan["environment"]
    assert {k: env[k] for k in BASE_ENV} == BASE_ENV
    assert env["VERSAHUB_CREDENTIALS_FILE"] == "/run/secrets/versahub/credentials.json"
    text = repr(plan)
    assert "token" not in text.lower()


def test_denied_decision_gives_no_plan() -> None:
    spec = parse_spec({"repo": REPO, "server_name": "x"})
    denied = Decision(
        allowed=False,
        deny=(Finding("some-rule", "high", "t", "m", "x"),),
    )
    with pytest.raises(PlanError):
        make_plan(spec, SITE, denied, owner="alice", image=IMAGE, layout=LAYOUT)


@pytest.mark.parametrize(
    ("urlpath", "expected"),
    [
        pytest.param("", "lab/tree/p", id="empty-opens-project"),
        pytest.param("lab/tree/index.ipynb", "lab/tree/p/index.ipynb", id="lab"),
        pytest.param("tree/a/b.ipynb", "tree/p/a/b.ipynb", id="classic-tree"),
        pytest.param("doc/tree/x.ipynb", "doc/tree/p/x.ipynb", id="labpath"),
        pytest.param("voila/render/app.ipynb", "voila/render/p/app.ipynb", id="voila"),
        pytest.param("proxy/8050/", "proxy/8050/", id="other-route-kept"),
        pytest.param("lab", "lab", id="lab-home"),
    ],
)
def test_project_urlpath(urlpath: str, expected: str) -> None:
    assert project_urlpath(urlpath, "p") == expected


def test_docker_traits_golden() -> None:
    spec = parse_spec(
        {
            "repo": REPO,
            "server_name": "course",
            "mounts": [{"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"}],
            "internet": False,
            "credentials": True,
            "resources": {"memory": "1G", "cpu": 1.5},
        },
        owner="alice",
    )
    plan = make_plan(spec, SITE, ALLOWED, owner="alice", image=IMAGE, layout=LAYOUT)
    traits = docker_traits(plan)
    assert traits == {
        "image": IMAGE,
        "volumes": {
            "/var/lib/versahub/volumes/shared/ds101-shared": {
                "bind": "/home/jovyan/shared",
                "mode": "ro",
            },
            "/var/lib/versahub/volumes/home/alice": {"bind": "/home/jovyan", "mode": "rw"},
            "/var/lib/versahub/credentials/alice/course": {
                "bind": "/run/secrets/versahub",
                "mode": "ro",
            },
        },
        "read_only_volumes": {},
        "network_name": "versahub-offline",
        "use_internal_ip": True,
        "mem_limit": GiB,
        "cpu_limit": 1.5,
        "remove": True,
        "extra_create_kwargs": {
            "labels": {
                "org.versahub.owner": "alice",
                "org.versahub.server": "course",
                "org.versahub.spec-id": spec.spec_id,
                "org.versahub.internet": "false",
                "org.versahub.public": "false",
            },
            "working_dir": "/home/jovyan",
            "hostname": "course",
        },
        "extra_host_config": {
            "pids_limit": 4096,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "memswap_limit": GiB,
        },
        "environment": {
            "VERSAHUB_SPEC_ID": spec.spec_id,
            "VERSAHUB_REPO": REPO,
            "VERSAHUB_REPO_DIR": "/srv/repo",
            "VERSAHUB_INTERNET": "0",
            "VERSAHUB_PROJECT_DIR": "/home/jovyan/course",
            "VERSAHUB_CREDENTIALS_FILE": "/run/secrets/versahub/credentials.json",
        },
        "notebook_dir": "/home/jovyan",
        "default_url": "/lab/tree/course",
        "cmd": START_COMMAND,
    }
