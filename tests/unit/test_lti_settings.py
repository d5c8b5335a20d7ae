"""LTI login settings: site.yaml checks, the consumers file, the hub settings (pure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from versahub.app.hubconfig import HubPaths, configure, hub_settings
from versahub.app.up import crypt_key
from versahub.errors import InputError
from versahub.hub.lti import NonceLedger, Refused, VersaHubLTI13Authenticator
from versahub.site.config import site_from_mapping
from versahub.site.lti import lti_endpoints, read_consumers

SECRET = "0123456789abcdef0123456789abcdef"


def platform(host: str = "moodle", **over: Any) -> dict[str, Any]:
    base = f"https://{host}.example.org"
    entry = {
        "name": host.title(),
        "issuer": base,
        "client_ids": [f"{host}-client"],
        "authorize_url": f"{base}/mod/lti/auth.php",
        "jwks_url": f"{base}/mod/lti/certs.php",
        "deployment_ids": ["1"],
    }
    return {**entry, **over}


def lti13_doc(*platforms: dict[str, Any], **auth: Any) -> dict[str, Any]:
    return {
        "hub": {
            "url": "https://hub.example.org",
            "admin_users": ["2"],
            "auth": {
                "kind": "lti13",
                "allow_all": True,
                "lti13": {"platforms": list(platforms or [platform()])},
                **auth,
            },
        }
    }


def consumers_file(folder: Path, doc: Any = None, mode: int = 0o600) -> Path:
    file = folder / "consumers.yaml"
    file.write_text(yaml.safe_dump({"moodle-key": SECRET} if doc is None else doc))
    file.chmod(mode)
    return file


def lti11_doc(file: Path, **auth: Any) -> dict[str, Any]:
    return {
        "hub": {
            "url": "https://hub.example.org",
            "auth": {
                "kind": "lti11",
                "allowed_users": ["s1"],
                "lti11": {"consumers_file": str(file)},
                **auth,
            },
        }
    }


def test_two_platforms_golden(tmp_path: Path) -> None:
    site = site_from_mapping(lti13_doc(platform("moodle"), platform("canvas", name="Canvas")))
    settings = hub_settings(site, paths=HubPaths(tmp_path), demo_password=None, chp="chp",
                            crypt_key="ab" * 32)  # fmt: skip
    assert settings["JupyterHub"]["authenticator_class"] == (
        "versahub.hub.lti.VersaHubLTI13Authenticator"
    )
    assert settings["JupyterHub"]["tornado_settings"] == {
        "headers": {
            "Content-Security-Policy": "frame-ancestors 'self' https://canvas.example.org "
            "https://moodle.example.org"
        },
        "cookie_options": {"samesite": "None", "secure": True},
    }
    assert settings["Authenticator"] == {
        "admin_users": {"2"},
        "enable_auth_state": True,
        "manage_groups": True,
        "allow_all": True,
    }
    assert settings["CryptKeeper"] == {"keys": ["ab" * 32]}
    own = settings["VersaHubLTI13Authenticator"]
    assert own["username_key"] == "sub"
    assert own["uri_scheme"] == "https"
    assert [p["name"] for p in own["platforms"]] == ["Moodle", "Canvas"]
    assert own["platforms"][1] == {
        "name": "Canvas",
        "issuer": "https://canvas.example.org",
        "client_ids": ["canvas-client"],
        "authorize_url": "https://canvas.example.org/mod/lti/auth.php",
        "jwks_url": "https://canvas.example.org/mod/lti/certs.php",
        "deployment_ids": ["1"],
    }
    assert "DummyAuthenticator" not in settings


def test_site_groups_go_to_the_authenticator_not_load_groups(tmp_path: Path) -> None:
    """With manage_groups JupyterHub refuses load_groups at start: the site's groups
    reach the authenticator instead, which applies them at each launch."""
    doc = lti13_doc(platform("moodle"))
    doc["hub"]["groups"] = {"staff": ["2", "ops"]}
    settings = hub_settings(site_from_mapping(doc), paths=HubPaths(tmp_path),
                            demo_password=None, chp="chp", crypt_key="ab" * 32)  # fmt: skip
    assert "load_groups" not in settings["JupyterHub"]
    assert settings["Authenticator"]["manage_groups"] is True
    assert settings["VersaHubLTI13Authenticator"]["site_groups"] == {"staff": ["2", "ops"]}


def test_loopback_http_keeps_the_browsers_cookie_default(tmp_path: Path) -> None:
    loopback = "http://127.0.0.1:9"
    doc = lti13_doc(platform(issuer=loopback + "/p", authorize_url=loopback + "/a",
                             jwks_url=loopback + "/j"))  # fmt: skip
    doc["hub"]["url"] = "http://127.0.0.1:8000"
    settings = hub_settings(site_from_mapping(doc), paths=HubPaths(tmp_path),
                            demo_password=None, chp="chp")  # fmt: skip
    assert "cookie_options" not in settings["JupyterHub"]["tornado_settings"]
    assert settings["VersaHubLTI13Authenticator"]["uri_scheme"] == "http"
    assert "CryptKeeper" not in settings  # JUPYTERHUB_CRYPT_KEY of the environment


def test_lti11_settings_allow_list_is_exact(tmp_path: Path) -> None:
    site = site_from_mapping(lti11_doc(consumers_file(tmp_path)))
    settings = hub_settings(site, paths=HubPaths(tmp_path), demo_password=None, chp="chp",
                            lti11_consumers={"moodle-key": SECRET})  # fmt: skip
    assert settings["JupyterHub"]["authenticator_class"] == (
        "versahub.hub.lti.VersaHubLTI11Authenticator"
    )
    assert settings["Authenticator"]["allowed_users"] == {"s1"}
    assert settings["Authenticator"]["allow_existing_users"] is False
    assert "allow_all" not in settings["Authenticator"]
    assert settings["VersaHubLTI11Authenticator"]["consumers"] == {"moodle-key": SECRET}
    assert settings["VersaHubLTI11Authenticator"]["username_key"] == "user_id"


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        pytest.param(lti13_doc(allow_all=False), "hub.auth.allow_all", "allowed_users",
                     id="no-allow-rule"),
        pytest.param(lti13_doc(allowed_users=["a"]), "hub.auth.allowed_users", "allow_all",
                     id="both-allow-rules"),
        pytest.param(lti13_doc(platform(issuer="http://moodle.example.org")),
                     "hub.auth.lti13.platforms[0].issuer", "https", id="http-issuer"),
        pytest.param(lti13_doc(platform(jwks_url="http://moodle.example.org/certs")),
                     "hub.auth.lti13.platforms[0].jwks_url", "https", id="http-jwks"),
        pytest.param(lti13_doc(platform(issuer="https://m.example.org/?x=1")),
                     "hub.auth.lti13.platforms[0].issuer", "accepted form", id="issuer-query"),
        pytest.param(lti13_doc(platform(deployment_ids=[])),
                     "hub.auth.lti13.platforms[0].deployment_ids", "", id="no-deployment"),
        pytest.param(lti13_doc(platform(client_ids=[])),
                     "hub.auth.lti13.platforms[0].client_ids", "", id="no-client-id"),
        pytest.param(lti13_doc(platform(), platform(name="Other")),
                     "hub.auth.lti13.platforms[1].client_ids", "already registered",
                     id="same-issuer-same-client"),
        pytest.param({"hub": {"url": "http://hub.example.org",
                              "auth": {"kind": "lti13", "allow_all": True}}},
                     "hub.url", "SameSite=None", id="http-hub"),
        pytest.param({"hub": {"url": "https://h.example.org",
                              "auth": {"kind": "lti13", "allow_all": True}}},
                     "hub.auth.lti13", "platforms", id="no-lti13-section"),
        pytest.param(lti13_doc(lti11={"consumers_file": "x"}), "hub.auth.lti11",
                     "kind is lti13", id="other-kind-section"),
        pytest.param({"hub": {"auth": {"kind": "demo", "allow_all": True}}},
                     "hub.auth.allow_all", "demo", id="demo-allow-all"),
        pytest.param(lti13_doc(platform(unknown=1)), "hub.auth.lti13.platforms[0]",
                     "unknown key", id="unknown-platform-key"),
    ],
)  # fmt: skip
def test_bad_lti_settings_name_the_key(doc: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert err.value.field == f"site.yaml: {field}"
    assert reason in err.value.reason


def test_shared_issuer_with_distinct_client_ids_is_accepted() -> None:
    canvas = platform("canvas", issuer="https://canvas.instructure.com")
    other = {**canvas, "name": "Canvas 2", "client_ids": ["10000000000002"]}
    site = site_from_mapping(lti13_doc(canvas, other))
    assert len(site.data["hub"]["auth"]["lti13"]["platforms"]) == 2


@pytest.mark.parametrize(
    ("content", "mode", "reason"),
    [
        pytest.param(None, 0o644, "other users may access it (mode 0644)", id="world-readable"),
        pytest.param(None, 0o640, "mode 0640", id="group-readable"),
        pytest.param({"k": "short-secret"}, 0o600, "shorter than 16", id="short-secret"),
        pytest.param({"k": "has a space in it !!"}, 0o600, "without spaces", id="space"),
        pytest.param({}, 0o600, "at least one consumer key", id="empty"),
        pytest.param(["a"], 0o600, "at least one consumer key", id="a-list"),
        pytest.param({"bad key": SECRET}, 0o600, "not in the accepted form", id="bad-key"),
    ],
)
def test_bad_consumers_file(tmp_path: Path, content: Any, mode: int, reason: str) -> None:
    file = consumers_file(tmp_path, content, mode)
    with pytest.raises(InputError) as err:
        site_from_mapping(lti11_doc(file))
    assert err.value.field == "site.yaml: hub.auth.lti11.consumers_file"
    assert reason in err.value.reason
    assert SECRET not in str(err.value)


def test_consumers_file_errors_never_echo_a_secret(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(f"k: {SECRET}\n  broken: [{SECRET}\n")
    file.chmod(0o600)
    with pytest.raises(InputError) as err:
        read_consumers(file, "f")
    assert "not valid YAML at line" in err.value.reason
    assert SECRET not in str(err.value)
    (tmp_path / "d.yaml").write_text(f"k: {SECRET}\nk: {SECRET}\n")
    (tmp_path / "d.yaml").chmod(0o400)
    with pytest.raises(InputError) as err:
        read_consumers(tmp_path / "d.yaml", "f")
    assert "given twice (line 2)" in err.value.reason and SECRET not in str(err.value)
    with pytest.raises(InputError, match="cannot read"):
        read_consumers(tmp_path / "missing.yaml", "f")


def test_relative_consumers_file_is_read_next_to_site_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumers_file(tmp_path)
    doc = lti11_doc(Path("consumers.yaml"))
    doc["state_dir"] = str(tmp_path / "state")
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(doc))
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
    paths = HubPaths(tmp_path / "state")
    key = crypt_key(paths)
    assert len(bytes.fromhex(key)) == 32
    assert os.stat(paths.crypt_key_file).st_mode & 0o777 == 0o600
    assert crypt_key(paths) == key  # made once
    c = Config()
    configure(c, site_file)
    assert c.VersaHubLTI11Authenticator.consumers == {"moodle-key": SECRET}
    assert c["CryptKeeper"]["keys"] == [key]
    assert c.Authenticator.enable_auth_state is True
    # an operator's own JUPYTERHUB_CRYPT_KEY wins over the generated file
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "cd" * 32)
    c = Config()
    configure(c, site_file)
    assert "keys" not in c["CryptKeeper"]


def test_endpoints_to_paste_into_the_lms() -> None:
    assert lti_endpoints("https://hub.example.org/", "lti13") == {
        "login initiation URL": "https://hub.example.org/hub/lti13/oauth_login",
        "redirect URI": "https://hub.example.org/hub/lti13/oauth_callback",
        "target link URI": "https://hub.example.org/hub/",
        "deep linking URL": "https://hub.example.org/hub/",
        "public keyset (JWKS) URL": "https://hub.example.org/hub/lti13/jwks",
        "tool configuration (JSON)": "https://hub.example.org/hub/lti13/config",
    }
    assert lti_endpoints("https://h.example.org", "lti11")["launch URL"] == (
        "https://h.example.org/hub/lti/launch"
    )
    assert lti_endpoints("https://h.example.org", "demo") == {}


def test_platform_is_chosen_by_issuer_and_client_id() -> None:
    canvas = platform("canvas", issuer="https://canvas.instructure.com")
    second = {**canvas, "name": "Canvas 2", "client_ids": ["c2"]}
    moodle = platform("moodle")
    auth = VersaHubLTI13Authenticator(platforms=[moodle, canvas, second])
    assert auth.platform_for("https://moodle.example.org", None) == (moodle, "moodle-client")
    assert auth.platform_for("https://canvas.instructure.com", "c2") == (second, "c2")
    with pytest.raises(Refused, match="several registrations"):
        auth.platform_for("https://canvas.instructure.com", None)
    with pytest.raises(Refused, match="unknown issuer"):
        auth.platform_for("https://evil.example.org", None)
    with pytest.raises(Refused, match="is not registered"):
        auth.platform_for("https://moodle.example.org", "c2")
    assert auth.platform_by("https://canvas.instructure.com", "c2") == second
    assert auth.platform_by("https://canvas.instructure.com", "moodle-client") is None


def test_nonce_ledger_refuses_a_replay_until_it_expires() -> None:
    ledger = NonceLedger(ttl=10)
    assert ledger.use("iss", "n1", now=0)
    assert not ledger.use("iss", "n1", now=5)
    assert ledger.use("other", "n1", now=5)
    assert ledger.use("iss", "n1", now=11)
    full = NonceLedger(ttl=10, max_entries=2)
    assert full.use("i", "a", now=0) and full.use("i", "b", now=0)
    assert not full.use("i", "c", now=1)  # full of live nonces: refused, none forgotten
    assert full.use("i", "c", now=11)


def test_generic_login_takes_the_allow_rule_too(tmp_path: Path) -> None:
    doc = {"hub": {"auth": {"kind": "generic", "class": "x.Y", "allow_all": True}}}
    settings = hub_settings(site_from_mapping(doc), paths=HubPaths(tmp_path),
                            demo_password=None, chp="chp")  # fmt: skip
    assert settings["Authenticator"] == {"admin_users": set(), "allow_all": True}
    assert "enable_auth_state" not in settings["Authenticator"]


# -- LTI next to the site's own login ---------------------------------------------------------
def alongside_doc(**section: Any) -> dict[str, Any]:
    return {
        "hub": {
            "url": "https://hub.example.org",
            "admin_users": ["ops"],
            "groups": {"staff": ["alice"]},
            "auth": {
                "kind": "demo",
                "users": ["alice", "bob"],
                "lti13": {"platforms": [platform()], **section},
            },
        }
    }


def test_lti_next_to_the_demo_login(tmp_path: Path) -> None:
    site = site_from_mapping(alongside_doc(allowed_users=["2", "3"]))
    s = hub_settings(site, paths=HubPaths(tmp_path), demo_password="pw", chp="chp",
                     crypt_key="ab" * 32)  # fmt: skip
    assert s["JupyterHub"]["authenticator_class"] == (
        "versahub.hub.multi_auth.VersaHubMultiAuthenticator"
    )
    assert s["VersaHubMultiAuthenticator"] == {
        "primary_class": "jupyterhub.auth.DummyAuthenticator",
        "lti_class": "versahub.hub.lti.VersaHubLTI13Authenticator",
    }
    # the site's login keeps its groups and its exact users; the demo password never
    # lets in someone who came from the LMS
    assert s["JupyterHub"]["load_groups"] == {"staff": {"users": ["alice"]}}
    assert s["Authenticator"]["allowed_users"] == {"alice", "bob", "ops"}
    assert s["Authenticator"]["enable_auth_state"] is True
    assert "manage_groups" not in s["Authenticator"]
    assert s["DummyAuthenticator"] == {"password": "pw", "allow_existing_users": False}
    # the LTI class: its own allow rule, every key set (nothing inherited), its groups
    own = s["VersaHubLTI13Authenticator"]
    assert own["allow_all"] is False and own["allowed_users"] == {"2", "3"}
    assert own["allow_existing_users"] is False and own["manage_groups"] is True
    assert own["site_groups"] == {"staff": ["alice"]}
    assert s["CryptKeeper"] == {"keys": ["ab" * 32]}


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        (alongside_doc(), "site.yaml: hub.auth.lti13.allow_all", "needs allow_all"),
        (alongside_doc(allow_all=True, allowed_users=["2"]),
         "site.yaml: hub.auth.lti13.allowed_users", "cannot be combined"),
        (lti13_doc(lti13={"platforms": [platform()], "allow_all": True}),
         "site.yaml: hub.auth.lti13.allow_all", "goes at hub.auth.allow_all"),
    ],
)  # fmt: skip
def test_allow_rule_of_lti_next_to_a_login(doc: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert err.value.field == field and reason in err.value.reason


def test_one_lti_version_next_to_a_login(tmp_path: Path) -> None:
    doc = alongside_doc(allow_all=True)
    doc["hub"]["auth"]["lti11"] = {"consumers_file": str(tmp_path / "c.yaml"), "allow_all": True}
    with pytest.raises(InputError) as err:
        site_from_mapping(doc)
    assert err.value.field == "site.yaml: hub.auth.lti11"
