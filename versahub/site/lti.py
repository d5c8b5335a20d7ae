"""The LTI login settings of ``site.yaml`` (``hub.auth.lti13`` / ``hub.auth.lti11``).

Checks a JSON schema cannot express (an allow rule, https, issuers shared by several
registrations, the LTI 1.1 consumers file and its mode) and the plain values the hub's
authenticator gets (``versahub.hub.lti``). Pure apart from reading the consumers file.

Never puts a secret in an error message or a log line: a bad consumers file is reported
by key name, line number or mode, never by its content.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from versahub.errors import InputError, shorten
from versahub.site.defaults import LTI_DEFAULTS
from versahub.util.files import beside
from versahub.util.yamlfile import AliasRefused, DuplicateKey, TooDeep, load_yaml

LTI_KINDS = frozenset({"lti13", "lti11"})
MAX_CONSUMERS_FILE_BYTES = 1_000_000
MIN_SECRET_LENGTH = 16
_LOOPBACK_HOST = re.compile(r"^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_SECRET = re.compile(r"^[\x21-\x7e]+$")


def lti_kind(auth: Mapping[str, Any]) -> str | None:
    """The LTI version the site takes launches from: ``hub.auth.kind`` when it is one,
    else the LTI section given next to a demo or generic login; ``None`` without LTI."""
    kind = auth.get("kind")
    if kind in LTI_KINDS:
        return str(kind)
    for other in ("lti13", "lti11"):
        if auth.get(other) is not None:
            return other
    return None


def lti_alongside(auth: Mapping[str, Any]) -> bool:
    """True when LTI launches come next to the site's own login (demo or generic)."""
    return auth.get("kind") not in LTI_KINDS and lti_kind(auth) is not None


def lti_section(auth: Mapping[str, Any]) -> dict[str, Any]:
    """The section of the site's LTI version with its defaults filled in (``{}`` without)."""
    kind = lti_kind(auth)
    if kind is None:
        return {}
    return {**LTI_DEFAULTS[kind], **dict(auth.get(kind) or {})}


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is a loopback address (127.x.x.x, ::1, localhost)."""
    return bool(_LOOPBACK_HOST.match(urlsplit(url).hostname or ""))


def _secure_url(url: str, field: str) -> None:
    if urlsplit(url).scheme != "https" and not is_loopback_url(url):
        raise InputError(
            field, f"{shorten(url)} must be an https URL (plain http only on loopback, for tests)"
        )


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def frame_ancestors(auth: Mapping[str, Any]) -> list[str]:
    """Origins that may show the hub in a frame: the LTI 1.3 platforms' issuer and
    authorize_url origins, plus the section's ``frame_ancestors``; sorted, unique."""
    section = lti_section(auth)
    origins = set(section.get("frame_ancestors") or [])
    for platform in section.get("platforms") or []:
        origins.add(origin_of(platform["issuer"]))
        origins.add(origin_of(platform["authorize_url"]))
    return sorted(origins)


def lti_endpoints(hub_url: str, kind: str) -> dict[str, str]:
    """What an LMS administrator pastes into the platform (docs/lti.md), for ``kind``."""
    hub = hub_url.rstrip("/") + "/hub"
    if kind == "lti13":
        return {
            "login initiation URL": f"{hub}/lti13/oauth_login",
            "redirect URI": f"{hub}/lti13/oauth_callback",
            "target link URI": f"{hub}/",
            "deep linking URL": f"{hub}/",
            "public keyset (JWKS) URL": f"{hub}/lti13/jwks",
            "tool configuration (JSON)": f"{hub}/lti13/config",
        }
    if kind == "lti11":
        return {
            "launch URL": f"{hub}/lti/launch",
            "tool configuration (XML)": f"{hub}/lti11/config",
        }
    return {}


def platforms(auth: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The LTI 1.3 platforms as the authenticator's ``platforms`` trait takes them."""
    return [
        {
            "name": str(p.get("name") or urlsplit(p["issuer"]).hostname or p["issuer"]),
            "issuer": p["issuer"],
            "client_ids": list(p["client_ids"]),
            "authorize_url": p["authorize_url"],
            "jwks_url": p["jwks_url"],
            "deployment_ids": list(p["deployment_ids"]),
        }
        for p in lti_section(auth).get("platforms") or []
    ]


def consumers_path(auth: Mapping[str, Any], site_path: Path | None) -> Path:
    """Where the LTI 1.1 consumers file is: absolute, or relative to site.yaml's folder."""
    return beside(str(lti_section(auth)["consumers_file"]), site_path)


def read_consumers(path: Path, field: str) -> dict[str, str]:
    """Read the LTI 1.1 consumers file: a YAML mapping of consumer key to shared secret.

    Refused, naming ``field``: not a regular file, readable or writable by group or others
    (it holds secrets: mode 0600 or 0400), larger than 1 MB, not a mapping, a key not in
    the accepted form, a secret shorter than 16 characters or with spaces. The message
    names the key or the line, never a secret.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        raise InputError(field, f"cannot read {str(path)!r}: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(field, f"{str(path)!r} is not a regular file")
    if st.st_mode & 0o077:
        raise InputError(
            field,
            f"{str(path)!r} holds secrets but other users may access it "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it",
        )
    if st.st_size > MAX_CONSUMERS_FILE_BYTES:
        raise InputError(field, f"{str(path)!r} is larger than {MAX_CONSUMERS_FILE_BYTES} bytes")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise InputError(field, f"cannot read {str(path)!r}: {reason}") from None
    try:
        doc = load_yaml(text)
    except DuplicateKey as err:
        raise InputError(field, f"a consumer key is given twice (line {err.line})") from None
    except (TooDeep, AliasRefused):
        raise InputError(field, "is not a plain mapping of consumer key to secret") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        # the parser's own message may quote the file: only the line is reported
        raise InputError(field, f"not valid YAML{where}") from None
    if not isinstance(doc, Mapping) or not doc:
        raise InputError(field, "must map at least one consumer key to its shared secret")
    consumers: dict[str, str] = {}
    for key, secret in doc.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InputError(field, f"consumer key {shorten(key)} is not in the accepted form")
        if not isinstance(secret, str) or not _SECRET.match(secret):
            raise InputError(field, f"the secret of {key!r} must be text without spaces")
        if len(secret) < MIN_SECRET_LENGTH:
            raise InputError(
                field,
                f"the secret of {key!r} is shorter than {MIN_SECRET_LENGTH} characters "
                "(make one with `openssl rand -hex 32`)",
            )
        consumers[key] = secret
    return consumers


def check_lti(doc: Mapping[str, Any], origin: str, site_path: Path | None) -> None:
    """Semantic checks of the login settings that involve LTI (raise ``InputError``)."""
    auth = doc["hub"]["auth"]
    kind = auth["kind"]
    where = f"{origin}: hub.auth"
    if kind in LTI_KINDS:
        for other in sorted(LTI_KINDS - {kind}):
            if other in auth:
                raise InputError(f"{where}.{other}", f"is set but hub.auth.kind is {kind}")
    elif "lti13" in auth and "lti11" in auth:
        raise InputError(f"{where}.lti11", "one LTI version at a time (lti13 is set)")
    if kind == "demo":
        for key in ("allow_all", "allowed_users"):
            if key in auth:
                raise InputError(
                    f"{where}.{key}", "the demo login lets in exactly hub.auth.users; remove it"
                )
    lti = lti_kind(auth)
    if lti is None:
        return
    section = auth.get(lti) or {}
    if kind in LTI_KINDS:
        for key in ("allow_all", "allowed_users"):
            if key in section:
                raise InputError(
                    f"{where}.{lti}.{key}", f"goes at hub.auth.{key} when hub.auth.kind is {lti}"
                )
        _check_allow_rule(auth, where)
    else:
        _check_allow_rule(section, f"{where}.{lti}")
    try:
        _secure_url(str(doc["hub"]["url"]), f"{origin}: hub.url")
    except InputError as err:
        raise InputError(
            err.field, f"{err.reason}: LTI launches from an LMS need cookies with SameSite=None, "
            "which browsers accept only over https"
        ) from None  # fmt: skip
    if auth.get(lti) is None:
        need = "platforms" if lti == "lti13" else "consumers_file"
        raise InputError(f"{where}.{lti}", f"is missing ({lti} needs its {need})")
    if lti == "lti13":
        _check_platforms(section.get("platforms"), f"{where}.lti13.platforms")
    else:
        field = f"{where}.lti11.consumers_file"
        if not section.get("consumers_file"):
            raise InputError(field, "is missing (a YAML file of consumer key: secret)")
        read_consumers(consumers_path(auth, site_path), field)


def _check_allow_rule(holder: Mapping[str, Any], where: str) -> None:
    if holder.get("allow_all") and holder.get("allowed_users"):
        raise InputError(
            f"{where}.allowed_users",
            "cannot be combined with allow_all: true (which lets anyone in)",
        )
    if not holder.get("allow_all") and not holder.get("allowed_users"):
        raise InputError(
            f"{where}.allow_all",
            "an LTI login needs allow_all: true (everyone the platforms send) or "
            "allowed_users (JupyterHub refuses every login otherwise)",
        )


def _check_platforms(items: Any, where: str) -> None:
    if not items:
        raise InputError(where, "lti13 needs at least one platform")
    seen: dict[str, set[str]] = {}
    for index, platform in enumerate(items):
        at = f"{where}[{index}]"
        for key in ("issuer", "authorize_url", "jwks_url"):
            _secure_url(platform[key], f"{at}.{key}")
        issuer = platform["issuer"]
        ids = set(platform["client_ids"])
        shared = sorted(ids & seen.get(issuer, set()))
        if shared:
            raise InputError(
                f"{at}.client_ids",
                f"{shorten(shared[0])} is already registered for issuer {shorten(issuer)}: "
                "a launch must name exactly one registration",
            )
        seen.setdefault(issuer, set()).update(ids)
