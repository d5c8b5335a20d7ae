"""Inventory checks of ``versahub deploy`` before anything runs (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from versahub.deploy.inventory import check_inventory, parse_inventory_list
from versahub.errors import InputError

HUB = {"url": "http://127.0.0.1:8000", "auth": {"kind": "demo", "users": ["a"]}}
GOOD_SITE = {"hub": HUB, "registry": {"enabled": True, "address": "127.0.0.1:5000"}}
NO_REGISTRY = {"hub": HUB}


def listing(site: object = GOOD_SITE, groups: tuple[str, ...] = ("hub", "registry")) -> dict:
    data: dict = {"all": {"children": ["versahub", "ungrouped"]}}
    data["versahub"] = {"children": list(groups)}
    for group in groups:
        data[group] = {"hosts": ["h1"]}
    data["_meta"] = {"hostvars": {"h1": {"versahub_site": site}}}
    return data


def test_children_resolve_into_parent_groups() -> None:
    inv = parse_inventory_list(Path("x"), listing())
    assert inv.groups["versahub"] == ["h1"]
    assert inv.groups["hub"] == ["h1"]


def test_good_inventory_passes() -> None:
    check_inventory(parse_inventory_list(Path("x"), listing()))


@pytest.mark.parametrize(
    ("site", "groups", "field"),
    [
        pytest.param(GOOD_SITE, ("registry",), "inventory x", id="no-hub-group"),
        pytest.param(
            {"hub": {"url": "ftp://hub"}}, ("hub",), "versahub_site: hub.url", id="bad-url"
        ),
        pytest.param({"hub": {"colour": 1}}, ("hub",), "versahub_site: hub", id="unknown-key"),
        pytest.param(
            {"state_dir": "rel"}, ("hub",), "versahub_site.state_dir", id="relative-state"
        ),
        pytest.param(["not", "a", "map"], ("hub",), "versahub_site", id="not-a-mapping"),
        pytest.param(
            NO_REGISTRY,
            ("hub", "registry"),
            "versahub_site.registry.enabled",
            id="registry-host-but-registry-off",
        ),
        pytest.param(
            {"hub": HUB, "registry": {"enabled": False}},
            ("hub", "registry"),
            "versahub_site.registry.enabled",
            id="registry-host-but-registry-disabled",
        ),
        pytest.param(
            GOOD_SITE,
            ("hub",),
            "versahub_site.registry.enabled",
            id="registry-enabled-without-a-host",
        ),
    ],
)
def test_bad_inventory_is_one_input_error(
    site: object, groups: tuple[str, ...], field: str
) -> None:
    with pytest.raises(InputError) as err:
        check_inventory(parse_inventory_list(Path("x"), listing(site, groups)))
    assert field in err.value.field
    assert "\n" not in str(err.value)


def test_site_without_registry_and_no_registry_host_passes() -> None:
    check_inventory(parse_inventory_list(Path("x"), listing(NO_REGISTRY, ("hub",))))


def test_registry_mismatch_names_the_hosts() -> None:
    with pytest.raises(InputError) as err:
        check_inventory(parse_inventory_list(Path("x"), listing(NO_REGISTRY)))
    assert "registry group has hosts (h1)" in str(err.value)


def test_values_with_jinja_are_left_to_the_playbook() -> None:
    site = {"hub": {"url": "{{ vault_hub_url }}"}}
    check_inventory(parse_inventory_list(Path("x"), listing(site)))
