"""Other hubs: Launch on… links, an entry point's routing, the site checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from versahub.errors import InputError
from versahub.site.config import site_from_mapping
from versahub.site.federation import Hub, hubs_of, launch_on, member_url, route
from versahub.spec import parse_spec
from versahub.urls import launch_url

REPO = "https://github.com/binder-examples/requirements"
HUBS = [
    {"name": "uni-b", "url": "https://b.example.org", "kind": "versahub",
     "description": "Hub B"},
    {"name": "mybinder", "url": "https://mybinder.org", "kind": "binderhub",
     "providers": ["gh", "gl"]},
    {"name": "zenodo-only", "url": "https://z.example.org", "kind": "versahub",
     "providers": ["zenodo"]},
]  # fmt: skip
SPEC = parse_spec({
    "repo": REPO, "ref": "main", "urlpath": "lab/tree/a.ipynb", "server_name": "x",
    "mounts": [{"volume": "home", "path": "/home/jovyan/data", "mode": "ro"}],
    "collaborators": ["bob"], "internet": False,
})  # fmt: skip


def site(**federation: Any) -> Any:
    return site_from_mapping({"federation": {"hubs": HUBS, **federation}})


def test_launch_on_gives_a_versahub_everything_and_a_binderhub_what_it_knows() -> None:
    links = {link["name"]: link for link in launch_on(SPEC, hubs_of(site().data))}
    assert set(links) == {"uni-b", "mybinder"}  # zenodo-only does not take GitHub
    assert links["uni-b"]["url"] == launch_url(SPEC, "https://b.example.org")
    assert links["uni-b"]["dropped"] == [] and links["uni-b"]["note"] == ""
    binder = urlsplit(links["mybinder"]["url"])
    assert (binder.netloc, binder.path) == (
        "mybinder.org",
        "/v2/gh/binder-examples/requirements/main",
    )
    assert parse_qs(binder.query) == {"urlpath": ["lab/tree/a.ipynb"]}
    assert links["mybinder"]["dropped"] == [
        "mounted folders",
        "collaborators",
        "internet off",
        "the server name",
    ]
    assert "mounted folders, collaborators, internet off" in links["mybinder"]["note"]


def test_entry_point_routes_by_rule_then_default() -> None:
    hubs = hubs_of(site().data)
    entry = {
        "rules": [
            {"providers": ["gh"], "repos": ["https://github.com/binder-examples/*"],
             "hubs": ["mybinder", "uni-b"]},
            {"providers": ["zenodo"], "hubs": ["zenodo-only"]},
        ],
        "default": ["uni-b"],
    }  # fmt: skip
    names = lambda **k: [h.name for h in route(entry, hubs, **k)]  # noqa: E731
    assert names(provider="gh", repo=REPO) == ["mybinder", "uni-b"]
    assert names(provider="gh", repo="https://github.com/other/x") == ["uni-b"]
    assert names(provider="zenodo", repo="10.5281/zenodo.1") == ["zenodo-only"]
    assert names(provider="gl", repo="https://gitlab.com/a/b") == ["uni-b"]
    # a rule for an institution matches a logged-in visitor of one of its groups only
    entry["rules"].insert(0, {"institutions": ["uni-z"], "hubs": ["zenodo-only", "uni-b"]})
    assert names(provider="gh", repo=REPO, groups=["uni-z"]) == ["uni-b"]  # z takes no gh
    assert names(provider="gh", repo=REPO, groups=["other"]) == ["mybinder", "uni-b"]
    assert names(provider="gh", repo=REPO) == ["mybinder", "uni-b"]


def test_member_links_keep_what_each_kind_understands() -> None:
    b = Hub("b", "https://b.example.org", "versahub")
    binder = Hub("m", "https://mybinder.org", "binderhub")
    query = "urlpath=lab&mount=home:/d:ro&collaborator=bob&labpath=x"
    assert (
        member_url(b, "/v2/gh/o/r/main", query) == f"https://b.example.org/v2/gh/o/r/main?{query}"
    )
    assert member_url(binder, "/v2/gh/o/r/main", query) == (
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab&labpath=x"
    )


@pytest.mark.parametrize(
    ("federation", "field", "reason"),
    [
        ({"hubs": [*HUBS, HUBS[0]]}, "federation.hubs[3].name", "listed twice"),
        ({"entry_point": {"default": ["nope"]}}, "federation.entry_point.default",
         "not in federation.hubs"),
        ({"entry_point": {"rules": [{"hubs": ["nope"]}]}}, "federation.entry_point.rules[0].hubs",
         "not in federation.hubs"),
        ({"entry_point": {"enabled": True}}, "federation.entry_point.default", "needs members"),
        ({"hubs": [{"name": "x", "url": "javascript:alert(1)", "kind": "versahub"}]},
         "federation.hubs.0.url", ""),
        ({"hubs": [{"name": "x", "url": "https://x.org", "kind": "jupyterhub"}]},
         "federation.hubs.0.kind", "not one of"),
    ],
)  # fmt: skip
def test_bad_federation_settings_are_refused(federation: Any, field: str, reason: str) -> None:
    doc = (
        {"federation": {"hubs": HUBS, **federation}}
        if "hubs" not in federation
        else {"federation": federation}
    )
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert (
        err.value.field.replace("[", ".")
        .replace("]", "")
        .endswith(field.replace("[", ".").replace("]", ""))
    ), err.value.field
    assert reason in err.value.reason
