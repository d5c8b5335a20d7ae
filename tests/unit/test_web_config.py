"""The hub settings of the launch page (versahub.web.config) and the site's catalogue."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from versahub.app.hubconfig import HubPaths
from versahub.errors import InputError
from versahub.site.config import Site, load_site
from versahub.web.config import STATIC_DIR, TEMPLATES_DIR, PageData, template_data, web_settings

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


def make(tmp_path: Path, catalogue: object = None) -> tuple[Site, HubPaths]:
    doc = dict(SITE)
    if catalogue is not None:
        doc["catalogue"] = catalogue
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_site(path), HubPaths(Path("/var/lib/versahub"))


def test_settings_shape_and_values(tmp_path: Path) -> None:
    site, paths = make(tmp_path)
    settings = web_settings(site, paths)
    assert list(settings) == ["JupyterHub"]
    hub = settings["JupyterHub"]
    assert set(hub) == {
        "template_paths", "extra_handlers", "template_vars", "redirect_to_server",
        "tornado_settings",
    }  # fmt: skip
    assert hub["template_paths"] == [str(TEMPLATES_DIR)]
    assert (TEMPLATES_DIR / "home.html").is_file()
    assert (STATIC_DIR / "versahub.js").is_file() and (STATIC_DIR / "versahub.css").is_file()
    assert hub["redirect_to_server"] is False
    patterns = [h[0] for h in hub["extra_handlers"]]
    assert r"/v2/(.+)" in patterns and r"/api/versahub/check" in patterns
    # handlers carry no copy of the site: they read the one site object by its file
    assert all(len(h) == 2 for h in hub["extra_handlers"] if h[0] != r"/versahub/static/(.*)")
    assert hub["tornado_settings"] == {"versahub_site_file": str(site.path)}
    json.dumps(hub["extra_handlers"])  # plain data: prints and golden-tests
    page = hub["template_vars"]["versahub"]
    assert page == PageData(str(site.path))
    tv = page(None)
    assert tv["site_name"] == "Demo" and tv["institution"] == "Example University"
    assert tv["docs_url"] == "https://docs.example.org" and tv["credits"] == "Provided by RC."
    assert tv["warnings"] == ["Be careful."]
    assert tv["volumes"] == [{"name": "home", "kind": "home", "description": "Your home."}]
    assert tv["catalogue"] == []


def test_page_data_follows_site_yaml_edits(tmp_path: Path) -> None:
    site, _ = make(tmp_path)
    page = PageData(str(site.path))
    assert page(None)["site_name"] == "Demo"
    assert site.path is not None
    site.path.write_text(yaml.safe_dump({**SITE, "site": {"name": "Renamed"}}))
    assert page(None)["site_name"] == "Renamed"


def test_handler_classes_import(tmp_path: Path) -> None:
    site, paths = make(tmp_path)
    for handler in web_settings(site, paths)["JupyterHub"]["extra_handlers"]:
        module, _, name = handler[1].rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def test_catalogue_entries_are_parsed_once_with_the_site(tmp_path: Path) -> None:
    site, _ = make(
        tmp_path,
        [
            {
                "id": "reqs",
                "title": "Requirements",
                "description": "Demo",
                "spec": {
                    "repo": "gh:binder-examples/requirements",
                    "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
                },
            }
        ],
    )
    tv = template_data(site)
    assert [e["id"] for e in tv["catalogue"]] == ["reqs"]
    entry = tv["catalogue"][0]
    assert entry["spec"]["repo"] == "https://github.com/binder-examples/requirements"
    assert entry["spec"]["spec_id"]


@pytest.mark.parametrize(
    ("catalogue", "field"),
    [
        pytest.param(
            [
                {"id": "reqs", "spec": {"repo": "gh:a/b"}},
                {"id": "reqs", "spec": {"repo": "gh:a/b"}},
            ],
            "site.yaml: catalogue[1].id",
            id="duplicate-id",
        ),
        pytest.param(
            [{"id": "Bad Id", "spec": {"repo": "gh:a/b"}}],
            "site.yaml: catalogue[0].id",
            id="bad-id",
        ),
        pytest.param(
            [
                {
                    "id": "novol",
                    "spec": {"repo": "gh:a/b", "mounts": [{"volume": "x", "path": "/x"}]},
                }
            ],
            "site.yaml: catalogue[0].spec.mounts[0].volume",
            id="unknown-volume",
        ),
        pytest.param(["not a mapping"], "site.yaml: catalogue[0]", id="not-a-mapping"),
    ],
)
def test_a_bad_catalogue_entry_is_a_site_error(
    tmp_path: Path, catalogue: object, field: str
) -> None:
    with pytest.raises(InputError) as err:
        make(tmp_path, catalogue)
    assert err.value.field == field
