"""Turn a :class:`~versahub.site.config.Site` into JupyterHub configuration.

``hub_settings`` is pure: it returns ``{ConfigurableClass: {trait: value}}`` so the result
can be golden-tested and printed; ``apply_settings`` sets (never appends to) the traitlets
on a JupyterHub ``Config`` object. The generated ``jupyterhub_config.py`` of
``versahub up`` is two lines that call ``configure``.

Stock JupyterHub and configurable-http-proxy are used as they are: this module only
chooses values for their own options.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from versahub.hub.config import decision_log_settings, hub_extra_settings, kubernetes_settings
from versahub.site.config import Site, load_site
from versahub.site.lti import (
    LTI_KINDS,
    consumers_path,
    frame_ancestors,
    lti_alongside,
    lti_kind,
    lti_section,
    platforms,
    read_consumers,
)
from versahub.web.config import web_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class HubPaths:
    """Where the hub keeps its state for one site (all under ``site.state_dir``)."""

    state: Path

    @property
    def hub(self) -> Path:
        return self.state / "hub"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def opa_data(self) -> Path:
        return self.state / "opa-data"

    @property
    def config_file(self) -> Path:
        return self.hub / "jupyterhub_config.py"

    @property
    def demo_password_file(self) -> Path:
        return self.hub / "demo-password"

    @property
    def crypt_key_file(self) -> Path:
        """``JUPYTERHUB_CRYPT_KEY`` of the site (auth_state encryption, LTI logins)."""
        return self.hub / "crypt-key"

    @property
    def decision_log_token_file(self) -> Path:
        """The token OPA uploads its decision log with (hub service ``versahub-opa``)."""
        return self.hub / "decision-log-token"

    @property
    def opa_config_file(self) -> Path:
        """OPA's configuration (the decision-log upload; it holds the token: mode 0600)."""
        return self.state / "opa" / "config.json"

    @property
    def run_file(self) -> Path:
        return self.state / "run.json"


def find_chp(repo_root: Path = REPO_ROOT) -> str:
    """Locate configurable-http-proxy: ``$VERSAHUB_CHP``, the repo's ``.tools``, then PATH."""
    candidates = [
        os.environ.get("VERSAHUB_CHP", ""),
        str(repo_root / ".tools" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("configurable-http-proxy")
    return found or "configurable-http-proxy"


def _proxy_api_url(hub_url: str) -> str:
    parts = urlsplit(hub_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # The proxy's REST API listens next to the public port, on loopback only.
    return f"http://127.0.0.1:{port + 1}"


LTI_AUTHENTICATORS = {
    "lti13": "versahub.hub.lti.VersaHubLTI13Authenticator",
    "lti11": "versahub.hub.lti.VersaHubLTI11Authenticator",
}
LTI_CLASS = {"lti13": "VersaHubLTI13Authenticator", "lti11": "VersaHubLTI11Authenticator"}
MULTI_AUTHENTICATOR = "versahub.hub.multi_auth.VersaHubMultiAuthenticator"
PRIMARY_CLASSES = {"dummy": "jupyterhub.auth.DummyAuthenticator"}


def hub_settings(
    site: Site,
    *,
    paths: HubPaths,
    demo_password: str | None,
    chp: str,
    lti11_consumers: Mapping[str, str] | None = None,
    crypt_key: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Return the traitlets to set for ``site``: ``{class name: {trait: value}}``.

    ``lti11_consumers`` (consumer key → secret, read from the site's consumers file) and
    ``crypt_key`` (the auth_state key; ``None`` leaves JupyterHub's ``JUPYTERHUB_CRYPT_KEY``
    environment variable in charge) matter only to the LTI logins.
    """
    hub = site.data["hub"]
    auth = hub["auth"]
    settings: dict[str, dict[str, Any]] = {
        "JupyterHub": {
            "bind_url": site.hub_url,
            "hub_bind_url": "http://127.0.0.1:8081",
            "db_url": f"sqlite:///{paths.hub / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(paths.hub / "jupyterhub_cookie_secret"),
            "pid_file": str(paths.hub / "jupyterhub.pid"),
            "allow_named_servers": True,
            "named_server_limit_per_user": 20,
            # servers keep running across a hub restart unless the site says otherwise
            "cleanup_servers": bool(hub["cleanup_servers"]),
            "cleanup_proxy": True,
            # VersaHub's loggers (``versahub.*``) write through the hub's own ``console``
            # handler and formatter (traitlets' default logging config, which
            # ``Application._configure_logging`` merges this into); that handler's level is
            # the hub's ``log_level``, so the logger itself passes everything on.
            "logging_config": {
                "loggers": {
                    "versahub": {"handlers": ["console"], "level": "DEBUG", "propagate": False},
                },
            },
        },
        "ConfigurableHTTPProxy": {
            "command": [chp],
            "api_url": _proxy_api_url(site.hub_url),
            "pid_file": str(paths.hub / "jupyterhub-proxy.pid"),
            "should_start": True,
        },
        "Authenticator": {
            "admin_users": set(hub["admin_users"]),
        },
    }
    if hub["groups"]:
        settings["JupyterHub"]["load_groups"] = {
            name: {"users": list(users)} for name, users in sorted(hub["groups"].items())
        }
    if auth["kind"] == "demo":
        settings["JupyterHub"]["authenticator_class"] = "dummy"
        settings["Authenticator"]["allowed_users"] = set(auth["users"]) | set(hub["admin_users"])
        settings["DummyAuthenticator"] = {"password": demo_password or ""}
    elif auth["kind"] == "generic":
        settings["JupyterHub"]["authenticator_class"] = auth["class"]
        _allow_rule(settings["Authenticator"], auth)
    elif auth["kind"] in LTI_KINDS:
        # groups are the authenticator's (course groups at each launch, site.yaml's too)
        settings["JupyterHub"].pop("load_groups", None)
    if lti_kind(auth) is not None:
        settings = merge_settings(
            settings, lti_settings(site, consumers=lti11_consumers, crypt_key=crypt_key)
        )
    if lti_alongside(auth):
        primary = settings["JupyterHub"]["authenticator_class"]
        settings["JupyterHub"]["authenticator_class"] = MULTI_AUTHENTICATOR
        settings["VersaHubMultiAuthenticator"] = {
            "primary_class": PRIMARY_CLASSES.get(primary, primary),
            "lti_class": LTI_AUTHENTICATORS[str(lti_kind(auth))],
        }
        if auth["kind"] == "demo":
            # the demo password lets in exactly the demo users, never someone from the LMS
            settings["DummyAuthenticator"]["allow_existing_users"] = False
    return settings


def _allow_rule(section: dict[str, Any], auth: Mapping[str, Any]) -> None:
    """JupyterHub >= 5 lets nobody in without an allow rule: set the site's."""
    if auth.get("allow_all"):
        section["allow_all"] = True
    elif auth.get("allowed_users"):
        section["allowed_users"] = set(auth["allowed_users"])
        # exactly the list: a name removed from site.yaml may no longer log in, even if
        # the hub's database still has that user
        section["allow_existing_users"] = False


def lti_settings(
    site: Site, *, consumers: Mapping[str, str] | None, crypt_key: str | None
) -> dict[str, dict[str, Any]]:
    """The LTI login (``hub.auth.kind: lti13|lti11``, docs/lti.md) as traitlets (pure).

    - the authenticator (``versahub.hub.lti``), its platforms or consumers, its username
      key, and the URL scheme of ``hub.url`` (not guessed from forwarded headers);
    - ``auth_state`` on: the LTI claims (roles, context, resource link, custom) and the
      launch's course and role are kept, encrypted with ``crypt_key``;
    - ``manage_groups`` on: each launch sets the user's course groups (``<course>-teachers``
      or ``<course>-students``) through JupyterHub, plus the groups site.yaml lists
      (``site_groups``; JupyterHub then loads no groups itself);
    - the site's allow rule (``allow_all`` or ``allowed_users``; admins are always in);
    - cookies a cross-site launch needs: on https, ``SameSite=None; Secure`` for the hub's
      cookies (login, session, XSRF, the LTI 1.3 state and nonce), which an LMS's form post
      and an LMS iframe need; on plain http (loopback only, tests) browsers refuse
      ``SameSite=None`` without ``Secure``, so their default stays (docs/lti.md);
    - ``frame-ancestors``: the hub's pages may be framed by itself and the platforms.
    """
    auth = site.data["hub"]["auth"]
    kind = str(lti_kind(auth))
    section = lti_section(auth)
    cls = LTI_CLASS[kind]
    scheme = urlsplit(site.hub_url).scheme
    own: dict[str, Any] = {
        "username_key": section["username_key"],
        "uri_scheme": scheme,
        "site_groups": {g: list(users) for g, users in sorted(site.data["hub"]["groups"].items())},
    }
    if kind == "lti13":
        own["platforms"] = platforms(auth)
        own["tool_name"] = site.name
    else:
        own["consumers"] = dict(consumers or {})
        own["config_title"] = site.name
    authenticator: dict[str, Any] = {"enable_auth_state": True}
    if lti_alongside(auth):
        # next to the site's login (versahub.hub.multi_auth): the LTI class has its own
        # allow rule, every key set so that none is inherited from the site's login's
        own["allow_all"] = bool(section.get("allow_all"))
        own["allowed_users"] = set(section.get("allowed_users") or [])
        own["allow_existing_users"] = False
        own["manage_groups"] = True
    else:
        authenticator["manage_groups"] = True
        _allow_rule(authenticator, auth)
    tornado: dict[str, Any] = {
        "headers": {
            "Content-Security-Policy": " ".join(["frame-ancestors 'self'", *frame_ancestors(auth)]),
        },
    }
    if scheme == "https":
        tornado["cookie_options"] = {"samesite": "None", "secure": True}
    hub: dict[str, Any] = {"tornado_settings": tornado}
    if not lti_alongside(auth):
        hub["authenticator_class"] = LTI_AUTHENTICATORS[kind]
    settings: dict[str, dict[str, Any]] = {
        "JupyterHub": hub,
        "Authenticator": authenticator,
        cls: own,
    }
    if crypt_key:
        settings["CryptKeeper"] = {"keys": [crypt_key]}
    return settings


def merge_settings(*parts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge settings trait by trait; later parts win (pure).

    Lists of the same trait are concatenated (``extra_handlers``, ``services``,
    ``load_roles``, ``template_paths`` come from several parts) and mappings are merged
    (``tornado_settings``, ``template_vars``); any other value is replaced.
    """
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for cls, traits in part.items():
            section = merged.setdefault(cls, {})
            for trait, value in traits.items():
                old = section.get(trait)
                if isinstance(old, list) and isinstance(value, list):
                    section[trait] = [*old, *value]
                elif isinstance(old, dict) and isinstance(value, dict):
                    section[trait] = _merge_dicts(old, value)
                else:
                    section[trait] = value
    return merged


def _merge_dicts(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` over ``old``, mappings merged key by key (``tornado_settings.headers`` gets
    both the LTI frame-ancestors policy and HSTS)."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def tls_settings(site: Site) -> dict[str, dict[str, Any]]:
    """``hub.tls`` (pure): the proxy serves HTTPS with the site's certificate; with
    ``redirect_port``, plain HTTP there answers with a redirect to the https port
    (configurable-http-proxy's own ``--redirect-port``); HSTS on the hub's responses."""
    tls = site.hub_tls
    if tls is None:
        return {}
    hub: dict[str, Any] = {"ssl_cert": str(tls.certificate), "ssl_key": str(tls.key)}
    if tls.hsts_max_age:
        hub["tornado_settings"] = {
            "headers": {"Strict-Transport-Security": f"max-age={tls.hsts_max_age}"}
        }
    settings: dict[str, dict[str, Any]] = {"JupyterHub": hub}
    if tls.redirect_port is not None:
        # appended to the proxy's command (``merge_settings`` concatenates lists)
        settings["ConfigurableHTTPProxy"] = {"command": [
            "--redirect-port", str(tls.redirect_port), "--redirect-to", str(tls.https_port),
        ]}  # fmt: skip
    return settings


def site_settings(
    site: Site,
    *,
    paths: HubPaths,
    demo_password: str | None,
    chp: str,
    lti11_consumers: Mapping[str, str] | None = None,
    crypt_key: str | None = None,
    decision_log_token: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Everything the hub of a site needs: the base settings, spawning, the launch page,
    the service OPA uploads its decision log as (when ``versahub up`` made its token)."""
    return merge_settings(
        hub_settings(
            site,
            paths=paths,
            demo_password=demo_password,
            chp=chp,
            lti11_consumers=lti11_consumers,
            crypt_key=crypt_key,
        ),
        hub_extra_settings(
            site,
            paths,
            hub_ip=str(site.data["hub"]["internal_ip"]),
            hub_port=int(site.data["hub"]["internal_port"]),
            cull_every=int(site.data["hub"]["cull_every"]),
        ),
        web_settings(site, paths),
        tls_settings(site),
        decision_log_settings(decision_log_token),
        kubernetes_settings(site) if site.data["hub"]["spawner"] == "kubernetes" else {},
    )


def apply_settings(c: Any, settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Set every trait of ``settings`` on the JupyterHub config object ``c``."""
    for cls, traits in settings.items():
        section = c[cls]
        for trait, value in traits.items():
            section[trait] = value


def configure(c: Any, site_file: str | os.PathLike[str]) -> Site:
    """Entry point of the generated ``jupyterhub_config.py``: load the site and apply it."""
    site = load_site(site_file)
    paths = HubPaths(site.state_dir)
    password = None
    if paths.demo_password_file.exists():
        password = paths.demo_password_file.read_text("utf-8").strip()
    auth = site.data["hub"]["auth"]
    consumers = None
    if lti_kind(auth) == "lti11":
        consumers = read_consumers(
            consumers_path(auth, site.path), "site.yaml: hub.auth.lti11.consumers_file"
        )
    crypt_key = None
    if lti_kind(auth) is not None and not os.environ.get(CRYPT_KEY_ENV):
        # the operator's own JUPYTERHUB_CRYPT_KEY wins; else the one `versahub up` made
        crypt_key = read_crypt_key(paths)
    settings = site_settings(
        site,
        paths=paths,
        demo_password=password,
        chp=find_chp(),
        lti11_consumers=consumers,
        crypt_key=crypt_key,
        # a cluster's hub gets it from its Secret; `versahub up` and Ansible write the file
        decision_log_token=os.environ.get(DECISION_LOG_TOKEN_ENV)
        or read_secret(paths.decision_log_token_file),
    )
    apply_settings(c, settings)
    return site


CRYPT_KEY_ENV = "JUPYTERHUB_CRYPT_KEY"
DECISION_LOG_TOKEN_ENV = "VERSAHUB_DECISION_LOG_TOKEN"


def read_crypt_key(paths: HubPaths) -> str | None:
    """The site's auth_state key (``<state>/hub/crypt-key``), if ``versahub up`` made one."""
    return read_secret(paths.crypt_key_file)


def read_secret(file: Path) -> str | None:
    """The content of a secret file ``versahub up`` made, or ``None`` when it has none."""
    try:
        return file.read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def render_config_file(site_file: Path) -> str:
    """The text of the generated ``jupyterhub_config.py`` (pure)."""
    return (
        '"""Generated by `versahub up`; edit site.yaml instead."""\n'
        "from versahub.app.hubconfig import configure\n\n"
        f"configure(c, {str(site_file)!r})  # noqa: F821 - `c` is JupyterHub's config\n"
    )
