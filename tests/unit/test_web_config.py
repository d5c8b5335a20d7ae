"""The hub settings of the launch page (versahub.web.config) and the catalogue reader."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from versahub.app.hubconfig import HubPaths
from versahub.site.config import Site, site_from_mapping
from versahub.web.catalogue import CATALOGUE_SCHEMA, read_catalogue
from versahub.web.config import STATIC_DIR, TEMPLATES_DIR, web_settings

SITE = {
    "site": {
        "name": "Demo",
        "institution": "Example University",
        "docs_url": "https://docs.example.org",
        "credits": "Provided by RC.",
        "warnings": ["Be careful."],
    },
    "hub": {"url": "https://hub.example.org/"},
    "volumes": {
        "home": {
            "kind": "home",
            "description": "Your home.",
            "read": {"users": ["*"]},
            "write": {"users": ["*"]},
        }
    },
}


def make(catalogue: object = None) -> tuple[Site, HubPaths]:
    site = site_from_mapping(SITE)
    if catalogue is not None:
        site = Site(data={**site.data, "catalogue": catalogue}, path=None)
    return site, HubPaths(Path("/var/lib/versahub"))


def test_settings_shape_and_values() -> None:
    site, paths = make()
    settings = web_settings(site, paths)
    assert list(settings) == ["JupyterHub"]
    hub = settings["JupyterHub"]
    assert set(hub) == {"template_paths", "extra_handlers", "template_vars", "redirect_to_server"}
    assert hub["template_paths"] == [str(TEMPLATES_DIR)]
    assert (TEMPLATES_DIR / "home.html").is_file()
    assert (STATIC_DIR / "versahub.js").is_file() and (STATIC_DIR / "versahub.css").is_file()
    assert hub["redirect_to_server"] is False
    patterns = [h[0] for h in hub["extra_handlers"]]
    assert patterns == [
        r"/v2/(.+)",
        r"/versahub/launch",
        r"/api/versahub/check",
        r"/api/versahub/trust",
        r"/api/versahub/trust/([0-9a-f]{16})",
        r"/badge.svg",
        r"/versahub/static/(.*)",
    ]
    ctx = hub["extra_handlers"][0][2]["versahub"]
    assert ctx == {
        "site_name": "Demo",
        "hub_url": "https://hub.example.org",
        "opa_url": "http://127.0.0.1:8181",
        "opa_timeout": 1.0,
        "trust_file": "/var/lib/versahub/web/trust.json",
        "volumes": {"home": {"kind": "home", "description": "Your home."}},
    }
    json.dumps(hub["extra_handlers"])  # plain data: prints and golden-tests
    tv = hub["template_vars"]["versahub"]
    assert tv["site_name"] == "Demo" and tv["institution"] == "Example University"
    assert tv["docs_url"] == "https://docs.example.org" and tv["credits"] == "Provided by RC."
    assert tv["warnings"] == ["Be careful."]
    assert tv["volumes"] == [{"name": "home", "kind": "home", "description": "Your home."}]
    assert tv["catalogue"] == [] and tv["catalogue_problems"] == []


def test_handler_classes_import() -> None:
    site, paths = make()
    for handler in web_settings(site, paths)["JupyterHub"]["extra_handlers"]:
        module, _, name = handler[1].rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def test_catalogue_entries_are_parsed_and_bad_ones_reported() -> None:
    site, paths = make(
        [
            {
                "id": "reqs",
                "title": "Requirements",
                "description": "Demo",
                "spec": {
                    "repo": "gh:binder-examples/requirements",
                    "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
                },
            },
            {"id": "reqs", "spec": {"repo": "gh:a/b"}},  # duplicate id
            {"id": "Bad Id", "spec": {"repo": "gh:a/b"}},
            {"id": "novol", "spec": {"repo": "gh:a/b", "mounts": [{"volume": "x", "path": "/x"}]}},
            "not a mapping",
        ]
    )
    tv = web_settings(site, paths)["JupyterHub"]["template_vars"]["versahub"]
    assert [e["id"] for e in tv["catalogue"]] == ["reqs"]
    entry = tv["catalogue"][0]
    assert entry["spec"]["repo"] == "https://github.com/binder-examples/requirements"
    assert entry["spec"]["spec_id"]
    problems = tv["catalogue_problems"]
    assert len(problems) == 4
    assert problems[0].startswith("catalogue[1].id: is used twice")
    assert "no such volume" in problems[2]


def test_catalogue_defaults_to_none() -> None:
    assert read_catalogue({}) == ([], [])
    assert read_catalogue({"catalogue": "x"}) == ([], ["catalogue: expected a list"])
    assert CATALOGUE_SCHEMA["items"]["required"] == ["id", "spec"]
