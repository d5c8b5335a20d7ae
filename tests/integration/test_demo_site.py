"""The shipped demo site is whole: each catalogue entry can be launched by a demo user.

The real OPA serves the repository's policies with the site data of the shipped
``site.yaml``; each entry is judged through the launch service's own input builder for
every demo user, with the groups ``hub.groups`` gives them (as the hub loads them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from versahub.launch.plan import effective_mounts
from versahub.launch.request import LaunchRequest
from versahub.launch.service import site_summary
from versahub.policy import PolicyClient, build_input, render_site_data, write_site_data
from versahub.policy.server import REPO_ROOT, OpaProcess, find_opa
from versahub.site import Site, load_site
from versahub.spec import ServerSpec

pytestmark = pytest.mark.integration

SITE = load_site(REPO_ROOT / "site.yaml")


@pytest.fixture(scope="module")
def demo_opa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaProcess]:
    root = tmp_path_factory.mktemp("demo-opa")
    write_site_data(render_site_data(SITE.policy, SITE.volumes), root / "data")
    proc = OpaProcess(REPO_ROOT / "policies", root / "data", log_path=root / "opa.log",
                      opa=find_opa())  # fmt: skip
    proc.start(timeout=15)
    try:
        yield proc
    finally:
        proc.stop()


def demo_users(site: Site) -> dict[str, dict[str, object]]:
    hub = site.data["hub"]
    people = sorted(set(hub["auth"]["users"]) | set(hub["admin_users"]))
    return {
        name: {
            "name": name,
            "groups": sorted(g for g, members in hub["groups"].items() if name in members),
            "admin": name in hub["admin_users"],
        }
        for name in people
    }


@pytest.mark.parametrize("entry", SITE.catalogue, ids=lambda e: str(e["id"]))
async def test_every_catalogue_entry_is_launchable_by_a_demo_user(
    demo_opa: OpaProcess, entry: dict[str, object]
) -> None:
    allowed_for: list[str] = []
    refusals: dict[str, list[str]] = {}
    async with PolicyClient(demo_opa.url, timeout=5) as client:
        for name, user in demo_users(SITE).items():
            spec = ServerSpec.from_dict(entry["spec"], owner=name)  # type: ignore[arg-type]
            request = LaunchRequest(spec)
            decision = await client.decide(
                build_input(spec, user, request.origin, {"users": [], "groups": []},
                            site_summary(SITE), mounts=effective_mounts(spec, SITE))
            )  # fmt: skip
            if decision.allowed:
                allowed_for.append(name)
            else:
                refusals[name] = [f.id for f in decision.deny]
    assert allowed_for, f"nobody of the demo site may launch {entry['id']}: {refusals}"


def test_the_shipped_site_names_only_existing_demo_people() -> None:
    assert Path(REPO_ROOT / "site.yaml").is_file()
    users = demo_users(SITE)
    for members in SITE.data["hub"]["groups"].values():
        assert set(members) <= set(users)
