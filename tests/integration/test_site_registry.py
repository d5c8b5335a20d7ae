"""A hub launch on a site with a registry, started exactly as ``versahub up`` starts it.

The site (``site_support.SiteUnderTest``: the product's ``start_opa``, ``start_registry``
and ``start_hub``, the production ``jupyterhub_config.py``, nothing injected) has
``registry.enabled`` on a free loopback port with its own storage folder, an
``images.base_image`` of its own (``versahub-test/base:<uuid>``: the default base image plus
this test's CA, as a site's bootstrap would install its CA bundle, and a marker) and
``images.ca_bundle`` = that CA. A user launches a tiny repository (served over loopback
HTTPS by ``git http-backend`` with a certificate of that CA, which the operator's shell
trusts; an empty ``requirements.txt`` builds offline) through ``POST
/hub/api/versahub/launch``. Then:

- the build pushed the image to the site's registry (its ``tags/list`` has the commit);
- the server runs from that image, named under the registry's prefix;
- the image was built FROM the configured base image (its layers and its marker), and its
  cache key (the ``org.versahub.cache-key`` label, also hashed into its name) is the one
  of the configured base image's id and the sha256 of the configured CA bundle;
- with the local copy gone, the next launch pulls it back from the registry: no rebuild.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "images"))
from images_support import FixtureRepo, GitHTTPSServer, GitSite
from site_support import SiteUnderTest, free_port, make_ca, wait_for

from versahub.images.builder import BUILDER_VERSION, ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.images.engine import docker_cli
from versahub.images.names import CACHE_KEY_LABEL, cache_key, image_name

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

USER = "alice"
SERVER = "pushed"
BUILD_TIMEOUT = 900
DEFAULT_BASE = ImagesConfig().base_image  # versahub/base:bookworm (`versahub up` builds it)


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(
        [docker_cli(), *args], capture_output=True, text=True, check=check
    ).stdout.strip()


def inspect_image(name: str) -> dict[str, Any]:
    return json.loads(docker("image", "inspect", name))[0]


@dataclass
class RegistrySite:
    hub: SiteUnderTest
    registry: str
    prefix: str
    base: str
    marker: str
    ca: Path
    repo: FixtureRepo


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistrySite]:
    if not docker("images", "-q", DEFAULT_BASE, check=False):
        pytest.fail(f"{DEFAULT_BASE} is missing: run `versahub images bootstrap` first")
    root = tmp_path_factory.mktemp("registry-site")
    run = uuid.uuid4().hex[:12]
    ca, cert, key = make_ca(root / "tls")
    # the site's own base image: the default one plus the site CA (installed as bootstrap
    # installs a CA bundle) and a marker that only this base image has
    base, marker = f"versahub-test/base:{run}", f"VERSAHUB_TEST_BASE={run}"
    ctx = root / "base"
    ctx.mkdir()
    (ctx / "site-ca.crt").write_bytes(ca.read_bytes())
    (ctx / "Dockerfile").write_text(
        f"FROM {DEFAULT_BASE}\n"
        "USER root\n"
        "COPY site-ca.crt /usr/local/share/ca-certificates/versahub/site-ca.crt\n"
        "RUN update-ca-certificates\n"
        f"ENV {marker}\n"
        "USER 1000\n"
    )
    docker("build", "-q", "-t", base, str(ctx))
    xdg = root / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "config").write_text(f"[http]\n\tsslCAInfo = {ca}\n")
    registry = f"127.0.0.1:{free_port()}"
    prefix = f"{registry}/versahub-test-{run}/r2d-"
    hub = SiteUnderTest(
        root,
        {
            "site": {"name": "Registry test site"},
            "hub": {"admin_users": ["admin"], "auth": {"kind": "demo", "users": [USER]}},
            "registry": {"enabled": True, "address": registry, "storage_dir": str(root / "reg")},
            "images": {
                "base_image": base,
                "image_prefix": prefix,
                "ca_bundle": str(ca),
                "cache_dir": str(root / "cache"),
                "build_timeout": BUILD_TIMEOUT,
            },
            "policy": {"allowed_internal_hosts": ["127.0.0.1"]},
        },
        # the operator's shell trusts the site CA (the git server's); ``git ls-remote``
        # gets no GIT_* variables, so it also reads the CA from its XDG config
        env={"GIT_SSL_CAINFO": str(ca), "XDG_CONFIG_HOME": str(xdg)},
    )
    (root / "git" / "srv").mkdir(parents=True)
    try:
        with GitHTTPSServer(root / "git" / "srv", cert, key) as server:
            repo = GitSite(root=root / "git", server=server).repo("requirements", name="tiny")
            repo.commit({"requirements.txt": ""}, message="nothing to install: builds offline")
            hub.start()
            yield RegistrySite(hub, registry, prefix, base, marker, ca, repo)
    finally:
        hub.stop()
        images = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
        mine = [name for name in images if name.startswith(prefix)]
        docker("rmi", "--force", *mine, base, check=False)


def test_launch_pushes_to_the_registry_from_the_sites_base_image(site: RegistrySite) -> None:
    hub, repo = site.hub, site.repo
    # the site's processes are the ones `versahub up` starts, with its generated config
    assert [c.name for c in hub.components] == ["opa", "registry", "hub"]
    assert "configure(c, " in hub.paths.config_file.read_text()
    assert requests.get(f"http://{site.registry}/v2/", timeout=5).status_code == 200

    token = hub.user_token(USER)
    spec = {"repo": repo.url, "ref": "main", "server_name": SERVER}
    answer, done = hub.launch_and_follow(token, spec, timeout=BUILD_TIMEOUT)
    assert answer.status_code == 202 and answer.json()["status"] == "starting", answer.text
    assert done["status"] == "ready", f"{done}\n{hub.tail()}"
    phases = [ev.get("phase") for ev in done["events"]]
    assert {"building", "pushing", "built"} <= set(phases), phases

    # the server runs from the pushed image, named under the registry's prefix
    container = hub.containers(running_only=True, owner=USER, server=SERVER)
    assert len(container) == 1, container
    image = docker("inspect", "--format", "{{.Config.Image}}", container[0])
    assert image.startswith(site.prefix), image
    name, _, tag = image.rpartition(":")
    assert tag == repo.head
    path = name[len(site.registry) + 1 :]
    tags = requests.get(f"http://{site.registry}/v2/{path}/tags/list", timeout=10).json()
    assert repo.head in tags["tags"], tags

    # built FROM the configured base image: its layers first, its marker inherited
    built, base = inspect_image(image), inspect_image(site.base)
    base_layers = base["RootFS"]["Layers"]
    assert built["RootFS"]["Layers"][: len(base_layers)] == base_layers
    assert site.marker in built["Config"]["Env"]
    # ... and keyed by that base image and the configured CA bundle's hash
    config = ImageBuilder(hub.site.images_config()).build_config(base["Id"])
    assert config["base_image"] == base["Id"]
    assert config["ca_bundle"] == hashlib.sha256(site.ca.read_bytes()).hexdigest()
    key = cache_key(repo.url, repo.head, BUILDER_VERSION, config)
    assert built["Config"]["Labels"][CACHE_KEY_LABEL] == key
    expected = image_name(repo.url, repo.head, BUILDER_VERSION, config, prefix=site.prefix)
    assert image == str(expected)
    # the site CA reached the server through the base image
    pem = "".join(site.ca.read_text().split("-----")[2].split())
    trusted = subprocess.run(
        [docker_cli(), "exec", container[0], "cat", "/etc/ssl/certs/ca-certificates.crt"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert pem in "".join(trusted.split())

    # without the local copy, a new launch pulls the image back from the registry
    r = hub.api("DELETE", f"/users/{USER}/servers/{SERVER}", token=token)
    assert r.status_code in (202, 204), r.text

    def server() -> dict[str, Any]:
        return hub.api("GET", f"/users/{USER}", token=token).json()["servers"].get(SERVER) or {}

    wait_for(lambda: not (server().get("ready") or server().get("pending")), 60, "the stop")
    wait_for(lambda: not hub.containers(owner=USER, server=SERVER), 30, "container removal")
    docker("rmi", image)
    answer, done = hub.launch_and_follow(token, spec, timeout=BUILD_TIMEOUT)
    assert done.get("status") == "ready", f"{answer.text}\n{done}\n{hub.tail()}"
    messages = [ev.get("message", "") for ev in done["events"]]
    assert any(f"Pulled built image {image}" in m for m in messages), messages
    assert "building" not in [ev.get("phase") for ev in done["events"]]
    assert docker("images", "-q", image)
