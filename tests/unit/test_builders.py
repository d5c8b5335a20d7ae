"""Remote builders, registry accounts and the storage check: the pure and local parts.

``Endpoint`` (Docker's client variables, mutual TLS), ``BuilderPool`` (least busy first, a
builder that does not answer skipped, none left: one clear error naming each), registry
credentials files, the site.yaml keys (``images.builders``, ``registry.tls`` /
``pull_address`` / ``credentials``, ``storage.remote``) and ``storage_problem``. The engines
here are loopback ports with nothing behind them; real builders are
tests/integration/test_multihost.py's.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from versahub.errors import InputError
from versahub.images.endpoint import LOCAL, Endpoint, EngineError
from versahub.images.pool import BuilderPool, NoBuilder, probe
from versahub.images.registry_access import (
    CredentialsError,
    RegistryAccess,
    docker_config,
    read_credentials,
)
from versahub.launch.storage import STORAGE_MARKER, STORAGE_TIMEOUT, storage_problem, storage_silent
from versahub.site.config import site_from_mapping


def _tls_dir(folder: Path) -> Path:
    """A client certificate folder in Docker's layout (self-signed CA + client cert)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=hub", "-keyout", "key.pem",
            "-out", "client.csr")  # fmt: skip
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", "cert.pem")  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tls_dir(tmp_path_factory.mktemp("client"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- endpoints ---------------------------------------------------------------------------------
def test_a_remote_endpoint_gives_dockers_own_variables(tls_dir: Path) -> None:
    builder = Endpoint("build1", "tcp://build1.example.org:2376", str(tls_dir))
    assert builder.env() == {
        "DOCKER_HOST": "tcp://build1.example.org:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tls_dir),
    }
    assert builder.http_base() == "https://build1.example.org:2376"
    assert not builder.is_local and LOCAL.is_local
    assert LOCAL.env()["DOCKER_HOST"].startswith("unix://")
    assert builder.ssl_context().verify_mode.name == "CERT_REQUIRED"


def test_an_endpoint_never_speaks_plain_tcp(tmp_path: Path) -> None:
    assert "no tls_dir" in str(Endpoint("b", "tcp://b:2376").tls_problem())
    problem = Endpoint("b", "tcp://b:2376", str(tmp_path)).tls_problem()
    assert problem == f"builder b: ca.pem, cert.pem, key.pem missing in {tmp_path}"
    with pytest.raises(EngineError, match="missing"):
        Endpoint("b", "tcp://b:2376", str(tmp_path)).ssl_context()
    with pytest.raises(EngineError, match="not tcp://host:port"):
        Endpoint("b", "tcp://b", str(tmp_path)).http_base()


# -- the pool ----------------------------------------------------------------------------------
def test_least_busy_first_and_ties_keep_the_sites_order(tls_dir: Path) -> None:
    pool = BuilderPool([Endpoint(n, f"tcp://{n}:2376", str(tls_dir)) for n in ("a", "b", "c")])
    pool.states[0].active = 2
    pool.states[2].active = 1
    assert [s.endpoint.name for s in pool.order()] == ["b", "c", "a"]
    assert BuilderPool([]).order()[0].endpoint == LOCAL and not BuilderPool([]).remote


def test_no_answering_builder_fails_at_once_naming_each(tls_dir: Path) -> None:
    names = ("build1", "build2")
    ports = [_closed_port() for _ in names]
    pool = BuilderPool(
        [
            Endpoint(n, f"tcp://127.0.0.1:{p}", str(tls_dir))
            for n, p in zip(names, ports, strict=True)
        ]
    )

    async def one_build() -> None:
        async with pool.use():
            pytest.fail("no builder answers: the block must not run")

    started = time.monotonic()
    with pytest.raises(NoBuilder) as err:
        asyncio.run(one_build())
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert message.startswith("no image builder answers: ")
    assert all(n in message for n in names), message
    assert all(s.problem and s.active == 0 for s in pool.states)
    report = pool.report()
    assert [r["name"] for r in report] == list(names) and all(r["problem"] for r in report)


def test_a_silent_builder_is_skipped_for_the_next(tls_dir: Path) -> None:
    """The first builder's port accepts TCP but never answers TLS: after the probe's timeout
    the pool moves on; the local engine (a builder list without remotes) is never probed."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        port = silent.getsockname()[1]
        endpoint = Endpoint("silent", f"tcp://127.0.0.1:{port}", str(tls_dir))
        started = time.monotonic()
        problem = asyncio.run(probe(endpoint, timeout=1.0))
        assert problem is not None and "silent" in problem
        assert time.monotonic() - started < 5
    finally:
        silent.close()


# -- registry accounts --------------------------------------------------------------------------
def test_credentials_files(tmp_path: Path) -> None:
    good = tmp_path / "push.credentials"
    good.write_text("builder:s3cret:with:colons\n")
    assert read_credentials(str(good)) == ("builder", "s3cret:with:colons")
    for text, reason in (("a:b\nc:d\n", "one line"), ("nocolon\n", "one line"),
                         (":pw\n", "empty username"), ("user:\n", "empty")):  # fmt: skip
        bad = tmp_path / "bad"
        bad.write_text(text)
        with pytest.raises(CredentialsError, match=reason) as err:
            read_credentials(str(bad))
        assert "pw" not in str(err.value).replace("password", "")
    with pytest.raises(CredentialsError, match="No such file"):
        read_credentials(str(tmp_path / "absent"))


def test_the_docker_client_gets_one_private_account(tmp_path: Path) -> None:
    creds = tmp_path / "pull.credentials"
    creds.write_text("spawn:pw\n")
    access = RegistryAccess("reg.example.org:5001", "https", str(creds))
    assert access.url == "https://reg.example.org:5001"
    folder = Path(access.env()["DOCKER_CONFIG"])
    config = folder / "config.json"
    assert json.loads(config.read_text()) == json.loads(
        docker_config("reg.example.org:5001", "spawn", "pw")
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert access.env() == {"DOCKER_CONFIG": str(folder)}  # made once
    assert RegistryAccess("127.0.0.1:5000").env() == {}


# -- site.yaml ----------------------------------------------------------------------------------
def _site(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "hub": {"auth": {"kind": "demo", "users": ["alice"]}},
        "registry": {"enabled": True, "address": "reg.example.org:5000", "tls": True},
        "images": {"builders": [
            {"name": "build1", "docker_host": "tcp://build1.example.org:2376",
             "tls_dir": "/etc/versahub/builders"},
        ]},
    }  # fmt: skip
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None:
            doc[section].pop(name)
        else:
            doc[section][name] = value
    return doc


def test_the_builders_and_registry_keys_reach_the_image_settings() -> None:
    doc = _site(registry__pull_address="reg.example.org:5001",
                registry__credentials={"push": "/etc/r/push", "pull": "/etc/r/pull"})  # fmt: skip
    config = site_from_mapping(doc).images_config()
    assert config.registry == "reg.example.org:5000" and config.registry_scheme == "https"
    assert config.registry_pull == "reg.example.org:5001"
    assert (config.registry_push_credentials, config.registry_pull_credentials) == (
        "/etc/r/push", "/etc/r/pull",
    )  # fmt: skip
    assert config.builders == (
        Endpoint("build1", "tcp://build1.example.org:2376", "/etc/versahub/builders"),
    )
    assert config.image_prefix == "reg.example.org:5000/versahub/r2d-"
    assert hash(config)  # the launch service keys its builders by the settings


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"registry__enabled": False}, "images.builders", "need the site registry"),
        ({"registry__tls": False}, "registry.tls", "plain HTTP only to a registry on loopback"),
        ({"images__builders": [{"name": "b", "docker_host": "tcp://b:2376", "tls_dir": "/t"}] * 2},
         "images.builders", "b named twice"),
        ({"images__builders": [{"name": "b", "docker_host": "http://b:2376", "tls_dir": "/t"}]},
         "images.builders[0].docker_host", ""),
        ({"images__builders": [{"name": "b", "docker_host": "tcp://b:2376", "tls_dir": "t"}]},
         "images.builders[0].tls_dir", ""),
        ({"images__builders": [{"name": "b", "docker_host": "tcp://b:2376"}]},
         "images.builders[0]", "tls_dir"),
        ({"registry__credentials": {"push": "relative/file"}}, "registry.credentials.push", ""),
        ({"registry__pull_address": "reg example:5001"}, "registry.pull_address", ""),
    ],
)  # fmt: skip
def test_bad_builder_and_registry_keys_are_refused_naming_the_key(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping(_site(**changes))
    assert err.value.field.endswith(field), err.value.field
    assert reason in err.value.reason


def test_a_loopback_registry_needs_no_tls_for_builders() -> None:
    doc = _site(registry__tls=False, registry__address="127.0.0.1:5000")
    assert site_from_mapping(doc).images_config().registry_scheme == "http"


# -- storage -----------------------------------------------------------------------------------
def test_storage_marker_decides_for_remote_storage_only(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    root.mkdir()
    home = [str(root / "home" / "alice")]
    assert storage_problem(False, str(root), home) is None
    assert storage_problem(True, str(root), [str(tmp_path / "volumes-other" / "x")]) is None
    assert storage_problem(True, str(root), []) is None
    problem = storage_problem(True, str(root), home)
    assert problem is not None and "not mounted on this host" in problem and str(root) in problem
    (root / STORAGE_MARKER).write_text("VersaHub volume folders\n")
    assert storage_problem(True, str(root), home) is None
    assert site_from_mapping({"storage": {"remote": True}}).data["storage"]["remote"] is True
    with pytest.raises(InputError, match="storage"):
        site_from_mapping({"storage": {"remote": "yes"}})


def test_a_storage_that_does_not_answer_is_named_in_the_refusal() -> None:
    message = storage_silent("/var/lib/versahub/volumes/")
    assert message.startswith("the volume storage at /var/lib/versahub/volumes does not answer")
    assert f"{STORAGE_TIMEOUT:g} s" in message


def test_status_shows_a_silent_builder_down_with_the_reason(tmp_path: Path, tls_dir: Path) -> None:
    """``versahub status`` pings each builder itself (here a loopback port nobody answers)."""
    from versahub.app.up import status

    port = _closed_port()
    doc = _site(registry__address="127.0.0.1:5000", registry__tls=False)
    doc["images"]["builders"] = [
        {"name": "build1", "docker_host": f"tcp://127.0.0.1:{port}", "tls_dir": str(tls_dir)},
        {"name": "build2", "docker_host": "tcp://127.0.0.1:2376", "tls_dir": str(tmp_path)},
    ]
    doc["state_dir"] = str(tmp_path / "state")
    components = status(site_from_mapping(doc))["components"]
    one, two = components["builder build1"], components["builder build2"]
    assert one["state"] == "down" and one["url"] == f"tcp://127.0.0.1:{port}"
    assert "build1" in one["detail"]
    assert two == {
        "state": "down", "url": "tcp://127.0.0.1:2376",
        "detail": f"builder build2: ca.pem, cert.pem, key.pem missing in {tmp_path}",
    }  # fmt: skip
