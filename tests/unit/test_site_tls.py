"""``hub.tls`` in site.yaml (versahub/site/tls.py): what the loader refuses, naming the key,
and the hub settings it turns into (HTTPS at the proxy, the redirect, HSTS next to the LTI
frame-ancestors header)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.app.hubconfig import HubPaths, site_settings
from versahub.errors import InputError
from versahub.site.config import load_site
from versahub.site.tls import check_key_pair

TLS = {"certificate": "tls/hub.pem", "key": "tls/hub.key"}


def pair(folder: Path, name: str = "hub") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o600)
    return cert, key


def site(tmp_path: Path, hub: dict[str, Any]) -> Path:
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "hub": hub}))
    return file


def test_relative_paths_and_defaults(tmp_path: Path) -> None:
    pair(tmp_path / "tls")
    loaded = load_site(site(tmp_path, {"url": "https://hub.example.org",
                                       "tls": TLS}))  # fmt: skip
    tls = loaded.hub_tls
    assert tls is not None
    assert (
        tls.certificate == tmp_path / "tls" / "hub.pem" and tls.key == tmp_path / "tls" / "hub.key"
    )
    assert (tls.redirect_port, tls.hsts_max_age, tls.https_port) == (None, 31_536_000, 443)
    check_key_pair(tls)


@pytest.mark.parametrize(
    ("hub", "field", "reason"),
    [
        ({"url": "http://127.0.0.1:8000", "tls": TLS},
         "hub.tls", "must be an https URL"),
        ({"url": "https://h.example.org", "tls": {**TLS, "certificate": "tls/nope.pem"}},
         "hub.tls.certificate", "no such file"),
        ({"url": "https://h.example.org", "tls": {"certificate": "tls/hub.pem", "key": "tls"}},
         "hub.tls.key", "not a regular file"),
        ({"url": "https://h.example.org:8443",
          "tls": {"certificate": "tls/hub.pem", "key": "tls/hub.key", "redirect_port": 8443}},
         "hub.tls.redirect_port", "must differ"),
        ({"url": "https://h.example.org", "tls": {"certificate": "tls/hub.pem"}},
         "hub.tls", "key"),
        ({"url": "https://h.example.org",
          "tls": {"certificate": "tls/hub.pem", "key": "tls/hub.key", "hsts_max_age": -1}},
         "hub.tls.hsts_max_age", ""),
    ],
)  # fmt: skip
def test_refused_naming_the_key(tmp_path: Path, hub: dict, field: str, reason: str) -> None:
    pair(tmp_path / "tls")
    with pytest.raises(InputError) as err:
        load_site(site(tmp_path, hub))
    assert field in err.value.field and reason in str(err.value)


def test_a_key_readable_by_everyone_is_refused(tmp_path: Path) -> None:
    _, key = pair(tmp_path / "tls")
    os.chmod(key, 0o644)
    with pytest.raises(InputError, match="readable by every user") as err:
        load_site(site(tmp_path, {"url": "https://h.example.org",
                                  "tls": TLS}))  # fmt: skip
    assert err.value.field.endswith("hub.tls.key")


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    pair(tmp_path / "tls")
    pair(tmp_path / "tls", "other")
    loaded = load_site(site(tmp_path, {"url": "https://h.example.org",
                                       "tls": {**TLS, "key": "tls/other.key"}}))  # fmt: skip
    assert loaded.hub_tls is not None
    with pytest.raises(InputError, match="cannot be used together") as err:
        check_key_pair(loaded.hub_tls)
    assert err.value.field == "hub.tls.key"


def test_hub_settings_serve_https_redirect_and_hsts(tmp_path: Path) -> None:
    pair(tmp_path / "tls")
    hub = {"url": "https://127.0.0.1:8443", "tls": {
        "certificate": "tls/hub.pem", "key": "tls/hub.key", "redirect_port": 8080,
        "hsts_max_age": 600}}  # fmt: skip
    loaded = load_site(site(tmp_path, hub))
    settings = site_settings(loaded, paths=HubPaths(tmp_path / "state"), demo_password="x",
                             chp="/usr/bin/chp")  # fmt: skip
    jh = settings["JupyterHub"]
    assert (jh["ssl_cert"], jh["ssl_key"]) == (str(tmp_path / "tls/hub.pem"),
                                               str(tmp_path / "tls/hub.key"))  # fmt: skip
    assert jh["tornado_settings"]["headers"]["Strict-Transport-Security"] == "max-age=600"
    assert jh["tornado_settings"]["versahub_site_file"] == str(tmp_path / "site.yaml")
    assert settings["ConfigurableHTTPProxy"]["command"] == [
        "/usr/bin/chp", "--redirect-port", "8080", "--redirect-to", "8443"]  # fmt: skip
    assert settings["ConfigurableHTTPProxy"]["api_url"] == "http://127.0.0.1:8444"


def test_no_tls_changes_nothing(tmp_path: Path) -> None:
    loaded = load_site(site(tmp_path, {"url": "http://127.0.0.1:8000"}))
    assert loaded.hub_tls is None
    settings = site_settings(loaded, paths=HubPaths(tmp_path / "state"), demo_password="x",
                             chp="/usr/bin/chp")  # fmt: skip
    assert "ssl_cert" not in settings["JupyterHub"]
    assert settings["ConfigurableHTTPProxy"]["command"] == ["/usr/bin/chp"]
    assert "headers" not in settings["JupyterHub"]["tornado_settings"]


def test_headers_of_two_parts_are_both_kept() -> None:
    """The LTI frame-ancestors policy and HSTS both land in tornado_settings.headers."""
    from versahub.app.hubconfig import merge_settings

    merged = merge_settings(
        {"JupyterHub": {"tornado_settings": {"headers": {"Content-Security-Policy": "a"}}}},
        {
            "JupyterHub": {
                "tornado_settings": {
                    "headers": {"Strict-Transport-Security": "b"},
                    "versahub_site_file": "s",
                }
            }
        },
    )
    assert merged["JupyterHub"]["tornado_settings"] == {
        "headers": {"Content-Security-Policy": "a", "Strict-Transport-Security": "b"},
        "versahub_site_file": "s",
    }
