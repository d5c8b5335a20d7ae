"""The site's state is private: folders 0700, the hub database and cookie secret 0600.

The site is started with ``versahub.app.up``'s own functions (``site_support.SiteUnderTest``),
then the modes are read with ``stat``. Issue 11: the hub database was 0644 in 0755 folders.
"""

from __future__ import annotations

import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # site_support.py: --import-mode=importlib
from site_support import SiteUnderTest

from versahub.app.hubconfig import HubPaths

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO = {"hub": {"auth": {"kind": "demo", "users": ["alice"]}, "admin_users": ["alice"]}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(paths: HubPaths) -> None:
    folders = [paths.state, paths.hub, paths.logs, paths.opa_data]
    files = [
        paths.hub / "jupyterhub.sqlite",
        paths.hub / "jupyterhub_cookie_secret",
        paths.demo_password_file,
    ]
    modes = {str(p.relative_to(paths.state)): oct(mode(p)) for p in folders + files}
    expected = {name: oct(0o700) for name in modes} | {
        str(f.relative_to(paths.state)): oct(0o600) for f in files
    }
    assert modes == expected
    # the hub really keeps its users in the file created for it (not in one of its own)
    assert (paths.hub / "jupyterhub.sqlite").stat().st_size > 0


@pytest.fixture
def started() -> Iterator[list[SiteUnderTest]]:
    sites: list[SiteUnderTest] = []
    yield sites
    for site in sites:
        site.stop()


def test_a_new_site_keeps_its_state_private(tmp_path: Path, started: list) -> None:
    site = SiteUnderTest(tmp_path / "new", DEMO)
    started.append(site)
    site.start()
    assert site.token  # the hub answered a login and wrote to its database
    assert_private(site.paths)


def test_state_left_open_by_an_older_version_is_tightened(tmp_path: Path, started: list) -> None:
    site = SiteUnderTest(tmp_path / "old", DEMO)
    hub = site.state / "hub"
    hub.mkdir(parents=True, mode=0o755)
    site.state.chmod(0o755)
    hub.chmod(0o755)
    (hub / "jupyterhub.sqlite").touch(mode=0o644)
    secret = hub / "jupyterhub_cookie_secret"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o640)  # JupyterHub itself only refuses world-readable secrets
    started.append(site)
    site.start()
    assert site.token
    assert_private(site.paths)
