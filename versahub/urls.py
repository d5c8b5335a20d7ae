"""Binder-compatible launch URLs: parse them into a ServerSpec, and make them from one.

A mybinder.org link with only its host changed must open the same environment on a
VersaHub site. The rules follow BinderHub exactly:

* routes ``/v2/<provider>/<spec>`` (``binderhub/app.py`` handlers) found anywhere in the
  path, so a BinderHub under a base path (``https://host/binder/v2/…``) works; the raw,
  still-escaped spec is cut out of the path after the first ``/v2/`` and trailing ``/``
  are stripped (``BaseHandler.get_spec_from_request`` and
  ``ParameterizedMainHandler.get``: ``get_spec_from_request(prefix).rstrip("/")``);
* the spec per provider (``binderhub/repoproviders.py``): ``gh`` →
  ``tokenize_spec``: ``<user>/<repo>/<ref>`` split at the first two ``/`` (the ref may
  contain ``/``), ``.git`` stripped from the repo; ``gl`` →
  ``<url-escaped namespace>/<ref>`` (``GitLabRepoProvider.__init__``, both unquoted);
  ``git`` → ``<url-escaped url>/<ref>`` (``GitRepoProvider.__init__``); ``gist`` →
  ``<user>/<id>[/<ref>]`` (``GistRepoProvider.__init__``); ``zenodo``/``figshare``/
  ``dataverse`` → the DOI; ``hydroshare`` → anything holding the 32-hex resource id;
  ``ckan`` → the url-escaped dataset URL. Percent-escapes in refs are decoded
  (``feature%2Fx`` is the branch ``feature/x``), as GitHub's API does for BinderHub;
* legacy ``/repo/<user>/<repo>[/<path>]`` → ``/v2/gh/<user>/<repo>/master?urlpath=/<path>``
  (``binderhub/main.py:LegacyRedirectHandler.get``: the path arguments are percent-decoded
  by tornado, ``urlpath`` only when ``path.strip("/")`` is not empty); ``legacy_redirect``
  gives the target for the hub's ``/hub/repo/…`` handler, with ``user`` and ``repo`` held
  to GitHub's name characters and the path validated and normalised like any urlpath;
* ``urlpath``/``labpath``/``filepath`` (``js/packages/binderhub-client/lib/spec.js``:
  ``LaunchSpec.fromSearchParams``): ``labpath`` wins over ``filepath`` wins over
  ``urlpath``; ``labpath=X`` → ``doc/tree/`` + ``encodeURI(X minus one trailing /)``,
  ``filepath=X`` → ``tree/`` + the same; leading ``/`` dropped (``LaunchSpec`` constructor,
  ``replace(/^\\/*/, "")``). READMEs often write ``filepath=/x`` or ``labpath=%2Fx``, which
  BinderHub turns into ``tree//x`` and Jupyter opens as ``tree/x``: VersaHub drops the
  leading ``/`` of a ``labpath``/``filepath`` value and collapses repeated ``/``, so the
  urlpath is ``tree/x``. ``urlpath`` itself keeps the rule of ``validate_urlpath`` (one
  leading ``/`` dropped, ``//host`` refused, inner ``//`` collapsed). VersaHub then
  validates the result (BinderHub does not), naming the parameter the link used.

VersaHub's own fields are query parameters: ``server_name``, repeated ``mount``
(``volume:path[:ro|rw]``), repeated ``collaborator``, ``public``, ``credentials``,
``internet`` (true/false/1/0/yes/no), ``memory``, ``cpu``, ``max_duration``,
``idle_timeout``. Any other parameter is an error naming it — except ``utm_*``, ``fbclid``,
``gclid`` and ``build_token``-style Binder parameters listed in ``IGNORED_PARAMS``, which
are dropped — so a typo such as ``memroy=8G`` never launches silently with defaults.

This module is pure: it never fetches a URL, never resolves a ref.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from versahub.errors import InputError, shorten
from versahub.spec import ServerSpec, parse_spec
from versahub.spec.paths import validate_urlpath
from versahub.spec.repos import DOI_PROVIDERS, PROVIDERS
from versahub.spec.text import require_no_space, require_str

URL_MAX = 8192
MAX_PARAMS = 200
BADGE_PATH = "/badge.svg"
BADGE_ALT = "Launch on VersaHub"
SINGLE_PARAMS = (
    "urlpath", "labpath", "filepath", "server_name", "public", "credentials", "internet",
    "memory", "cpu", "max_duration", "idle_timeout",
)  # fmt: skip
MULTI_PARAMS = ("mount", "collaborator")
IGNORED_PARAMS = ("fbclid", "gclid", "mc_cid", "mc_eid", "build_only")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
_CPU = re.compile(r"^\d{1,4}(?:\.\d{1,3})?\Z")
_V2 = re.compile(r"/v2/(" + "|".join(PROVIDERS) + r")(?:/|$)")
_LEGACY_PREFIX = "/repo/"
# GitHub user/org and repository names (as versahub.spec.repos checks gh: repos).
_GH_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")
_SLASHES = re.compile(r"//+")
_PATH_PARAMS = ("urlpath", "labpath", "filepath")
# encodeURI leaves these unescaped (ECMAScript: uriReserved + uriUnescaped + "#").
_ENCODE_URI_SAFE = ";,/?:@&=+$-_.!~*'()#"


def parse_launch_url(
    url: str,
    *,
    owner: str | None = None,
    volumes: Collection[str] | None = None,
) -> ServerSpec:
    """Parse a Binder/VersaHub launch URL (absolute http(s) URL or a ``/…`` path)."""
    text = require_no_space("url", require_str("url", url, max_len=URL_MAX))
    try:
        parts = urlsplit(text)
    except ValueError as err:
        raise InputError("url", f"is not a valid URL ({err})") from None
    if parts.scheme:
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise InputError("url", f"must be an http(s) launch URL: {shorten(text)}")
    elif not text.startswith("/") or text.startswith("//"):
        raise InputError("url", f"must be an http(s) launch URL or a /v2/ path: {shorten(text)}")
    params = _query(parts.query)
    data = _path_to_data(parts.path, params)
    data.update(_params_to_data(params))
    return parse_spec(data, owner=owner, volumes=volumes)


def _path_to_data(path: str, params: dict[str, list[str]]) -> dict[str, Any]:
    # BinderHub's routes are anchored at its base URL, which we do not know: take the
    # first "/v2/<known provider>/", else the first legacy "/repo/", so that a base path
    # such as "/repo/" or "/v2/" itself cannot be mistaken for the route.
    match = _V2.search(path)
    if match:
        provider = match.group(1)
        spec = path[match.end() :].rstrip("/")
        if not spec:
            raise InputError("repo", f"is missing after /v2/{provider}/")
        return _spec_to_data(provider, spec)
    legacy = path.find("/repo/")
    if legacy >= 0:
        return _legacy(path[legacy:], params)
    v2 = path.find("/v2/")
    if v2 >= 0:
        provider = path[v2 + len("/v2/") :].partition("/")[0]
        raise InputError(
            "provider", f"unknown provider {shorten(provider)}; known: {', '.join(PROVIDERS)}"
        )
    raise InputError("url", f"is not a launch URL (no /v2/<provider>/…): {shorten(path)}")


def _legacy(path: str, params: dict[str, list[str]]) -> dict[str, Any]:
    user, repo, urlpath = _legacy_parts(path)
    if urlpath and not _has_path_param(params):
        params["urlpath"] = [urlpath]
    return {"repo": f"gh:{user}/{repo}", "ref": "master"}


def _legacy_parts(path: str) -> tuple[str, str, str]:
    """``/repo/<user>/<repo>[/<path>]`` (still percent-encoded) → user, repo, urlpath.

    The path arguments are decoded once, as tornado does for BinderHub's handler; the
    names must then be GitHub names (no ``/``, ``..``, ``%``, controls: nothing that could
    change where the redirect goes), and the urlpath is the canonical one with a leading
    ``/`` (``""`` when the path is empty or only slashes).
    """
    if not path.startswith(_LEGACY_PREFIX):
        raise InputError("url", f"is not a legacy /repo/ link: {shorten(path)}")
    # BinderHub's route: /repo/([^/]+)/([^/]+)(/.*)?
    user, _, rest = path[len(_LEGACY_PREFIX) :].partition("/")
    repo, _, tail = rest.partition("/")
    names = []
    for field, raw in (("user", user), ("repo", repo)):
        if not raw:
            raise InputError(field, "is missing: expected /repo/<user>/<repo>[/<path>]")
        name = unquote(raw)
        if not _GH_NAME.match(name) or name in (".", ".."):
            raise InputError(
                field,
                f"must be a GitHub name (letters, digits and - _ . only): {shorten(name)}",
            )
        names.append(name)
    urlpath = unquote(tail).lstrip("/")
    if urlpath:
        urlpath = "/" + validate_urlpath("urlpath", urlpath)
    return names[0], names[1], urlpath


def legacy_redirect(path: str, query: str = "") -> str:
    """Where BinderHub's ``LegacyRedirectHandler`` sends ``/repo/<user>/<repo>[/<path>]``.

    ``path`` is the request path from ``/repo/`` on, still percent-encoded, and ``query``
    its query string. Returns ``/v2/gh/<user>/<repo>/master[?urlpath=/<path>&…]``: a path
    on the same site (prefix it with the hub's base URL). BinderHub drops the query; here
    VersaHub's own parameters ride along, checked as in a launch link, and a ``urlpath``,
    ``labpath`` or ``filepath`` in the query wins over the path (as ``parse_launch_url``
    reads the same link). Raises :class:`InputError` naming ``user``, ``repo``,
    ``urlpath`` or the bad parameter.
    """
    user, repo, urlpath = _legacy_parts(path)
    params = _query(query)
    pairs: list[tuple[str, str]] = []
    if urlpath and not _has_path_param(params):
        pairs.append(("urlpath", urlpath))
    for key in SINGLE_PARAMS + MULTI_PARAMS:
        pairs += [(key, value) for value in params.get(key, [])]
    target = f"/v2/gh/{user}/{repo}/master"
    if pairs:
        target += "?" + urlencode(pairs, quote_via=quote, safe="/:")
    return target


def _has_path_param(params: dict[str, list[str]]) -> bool:
    return any(k in params for k in _PATH_PARAMS)


def _spec_to_data(provider: str, spec: str) -> dict[str, Any]:
    if provider == "gh":
        # repoproviders.tokenize_spec: spec.split("/", 2) -> user, repo, ref
        parts = spec.split("/", 2)
        if len(parts) != 3:
            raise InputError(
                "ref", f"is missing: expected gh/<user>/<repo>/<ref>, got {shorten(spec)}"
            )
        return {"repo": f"gh:{unquote(parts[0])}/{unquote(parts[1])}", "ref": unquote(parts[2])}
    if provider in ("gl", "git"):
        # GitLabRepoProvider / GitRepoProvider: spec.split("/", 1), both parts unquoted
        escaped, sep, ref = spec.partition("/")
        if not sep or not ref:
            raise InputError("ref", f"is missing: expected {provider}/<escaped>/<ref>")
        return {"repo": f"{provider}:{escaped}", "ref": unquote(ref)}
    if provider == "gist":
        # GistRepoProvider: user, gist_id[, ref]; "" / master / main mean HEAD
        parts = spec.split("/")
        if len(parts) not in (2, 3):
            raise InputError("repo", f"expected gist/<user>/<id>[/<ref>], got {shorten(spec)}")
        ref = unquote(parts[2]) if len(parts) == 3 else "HEAD"
        return {"repo": f"gist:{parts[0]}/{parts[1]}", "ref": ref}
    if provider in DOI_PROVIDERS:
        return {"repo": f"{provider}:{unquote(spec)}"}
    if provider == "hydroshare":
        return {"repo": f"hydroshare:{unquote(spec)}"}
    # ckan: the whole spec is the url-escaped dataset URL
    if "/" in spec:
        raise InputError("repo", "expected ckan/<url-escaped dataset URL>")
    return {"repo": f"ckan:{unquote(spec)}"}


def _query(query: str) -> dict[str, list[str]]:
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_PARAMS
        )
    except ValueError:
        raise InputError("url", f"has too many query parameters (at most {MAX_PARAMS})") from None
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        if key.startswith("utm_") or key in IGNORED_PARAMS:
            continue
        if key not in SINGLE_PARAMS and key not in MULTI_PARAMS:
            plain = 0 < len(key) <= 40 and key.isprintable() and not any(c.isspace() for c in key)
            raise InputError(key if plain else "url", f"unknown launch parameter {shorten(key)}")
        params.setdefault(key, []).append(value)
    for key in SINGLE_PARAMS:
        if len(params.get(key, [])) > 1:
            raise InputError(key, "is given more than once")
    return params


def _params_to_data(params: dict[str, list[str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    one = {k: v[0] for k, v in params.items() if k in SINGLE_PARAMS}
    urlpath = _launch_urlpath(one)
    if urlpath is not None:
        data["urlpath"] = urlpath
    if "server_name" in one:
        data["server_name"] = one["server_name"]
    flags = (
        ("public", "public_readonly"),
        ("credentials", "credentials"),
        ("internet", "internet"),
    )
    for key, field in flags:
        if key in one:
            data[field] = _bool(field, one[key])
    resources: dict[str, Any] = {}
    for key in ("memory", "max_duration", "idle_timeout"):
        if key in one:
            resources[key] = one[key]
    if "cpu" in one:
        if not _CPU.match(one["cpu"]):
            raise InputError(
                "resources.cpu", f"must be a number like 0.5 or 2: {shorten(one['cpu'])}"
            )
        resources["cpu"] = float(one["cpu"])
    if resources:
        data["resources"] = resources
    if "mount" in params:
        data["mounts"] = [_mount(i, m) for i, m in enumerate(params["mount"])]
    if "collaborator" in params:
        data["collaborators"] = params["collaborator"]
    return data


def _launch_urlpath(one: dict[str, str]) -> str | None:
    """``LaunchSpec.fromSearchParams``: labpath > filepath > urlpath."""
    for key, prefix in (("labpath", "doc/tree/"), ("filepath", "tree/")):
        if key in one:
            value = require_str(key, one[key], max_len=2048, allow_empty=True)
            path, sep, rest = value.partition("?")  # encodeURI keeps "?": a query follows
            # "/x", "%2Fx", "//x" and "a//b" (READMEs do this): tree/x and tree/a/b.
            value = _SLASHES.sub("/", path).lstrip("/") + sep + rest
            if value.endswith("/"):
                value = value[:-1]  # .replace(/(\/$)/g, "")
            _reject_escape(key, value)
            return validate_urlpath(key, prefix + quote(value, safe=_ENCODE_URI_SAFE))
    return one.get("urlpath")


def _reject_escape(key: str, value: str) -> None:
    # encodeURI keeps "/" and ".", so "../x" would survive into the urlpath; make the
    # error name the parameter the user wrote rather than "urlpath". Decoded again and
    # again, so %2e%2e, %252e%252e and mixed forms (.%2e) are caught too.
    decoded = value
    for _ in range(4):
        if any(seg in (".", "..") for seg in decoded.split("/")):
            raise InputError(key, f"must not contain '.' or '..' segments: {shorten(value)}")
        decoded, previous = unquote(decoded), decoded
        if decoded == previous:
            return


def _bool(field: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InputError(field, f"must be true/false/1/0/yes/no, not {shorten(value)}")


def _mount(index: int, value: str) -> dict[str, str]:
    where = f"mounts[{index}]"
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise InputError(where, f"must be volume:path[:ro|rw], not {shorten(value)}")
    mount = {"volume": parts[0], "path": parts[1]}
    if len(parts) == 3:
        mount["mode"] = parts[2]
    return mount


# --------------------------------------------------------------------------- making URLs


def launch_url(spec: ServerSpec, hub_url: str) -> str:
    """The canonical launch URL of ``spec`` on the hub at ``hub_url`` (deterministic).

    Only non-default fields appear as parameters, in a fixed order, so equal specs give
    equal URLs and ``parse_launch_url(launch_url(spec, hub)) == spec``.
    """
    base = normalise_hub_url(hub_url)
    path = f"/v2/{spec.provider}/{_binder_spec(spec)}"
    query: list[tuple[str, str]] = []
    if spec.urlpath:
        query.append(("urlpath", spec.urlpath))
    if spec.server_name:
        query.append(("server_name", spec.server_name))
    query += [("mount", f"{m.volume}:{m.path}:{m.mode}") for m in spec.mounts]
    query += [("collaborator", c) for c in spec.collaborators]
    if spec.public_readonly:
        query.append(("public", "true"))
    if spec.credentials:
        query.append(("credentials", "true"))
    if not spec.internet:
        query.append(("internet", "false"))
    res = spec.resources
    numbers = (
        ("memory", res.memory),
        ("cpu", res.cpu),
        ("max_duration", res.max_duration),
        ("idle_timeout", res.idle_timeout),
    )
    for key, value in numbers:
        if value is not None:
            query.append((key, f"{value:g}" if isinstance(value, float) else value))
    url = base + path
    if query:
        url += "?" + urlencode(query, quote_via=quote, safe="/:")
    return url


def _binder_spec(spec: ServerSpec) -> str:
    """The BinderHub ``<spec>`` part for ``spec.provider`` (inverse of ``_spec_to_data``)."""
    ref = quote(spec.ref, safe="")
    if spec.provider == "gh":
        org_repo = spec.repo.removeprefix("https://github.com/")
        return f"{org_repo}/{ref}"
    if spec.provider == "gl":
        namespace = spec.repo.removeprefix("https://gitlab.com/").removesuffix(".git")
        return f"{quote(namespace, safe='')}/{ref}"
    if spec.provider == "git":
        return f"{quote(spec.repo, safe='')}/{ref}"
    if spec.provider == "gist":
        user_id = spec.repo.removeprefix("https://gist.github.com/").removesuffix(".git")
        return user_id if spec.ref == "HEAD" else f"{user_id}/{ref}"
    if spec.provider in DOI_PROVIDERS:
        return quote(spec.repo, safe="/:;")
    if spec.provider == "hydroshare":
        return spec.repo.rsplit("/", 1)[1]
    return quote(spec.repo, safe="")  # ckan


def normalise_hub_url(hub_url: str) -> str:
    """Check ``hub_url`` (http(s), no credentials/query/fragment) and drop trailing ``/``."""
    text = require_no_space("hub", require_str("hub", hub_url, max_len=1024))
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as err:
        raise InputError("hub", f"is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("hub", f"must be an http(s) URL: {shorten(text)}")
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in text or "#" in text:
        raise InputError(
            "hub", f"must not contain credentials, a query or a fragment: {shorten(text)}"
        )
    if re.search(r"[<>\"'`\\]", text):
        raise InputError("hub", f"contains characters not allowed in a URL: {shorten(text)}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def badge_url(hub_url: str) -> str:
    """Where the hub serves its launch badge."""
    return normalise_hub_url(hub_url) + BADGE_PATH


def badge_markdown(spec: ServerSpec, hub_url: str) -> str:
    """``[![Launch on VersaHub](<hub>/badge.svg)](<launch url>)``."""
    # Launch URLs and hub URLs never contain spaces, parentheses or brackets (all
    # percent-encoded or refused), so they are safe inside Markdown link syntax.
    target = _markdown_url(launch_url(spec, hub_url))
    return f"[![{BADGE_ALT}]({_markdown_url(badge_url(hub_url))})]({target})"


def _markdown_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def badge_html(spec: ServerSpec, hub_url: str) -> str:
    """``<a href="…"><img src="…/badge.svg" alt="Launch on VersaHub"></a>``, escaped."""
    href = html.escape(launch_url(spec, hub_url), quote=True)
    src = html.escape(badge_url(hub_url), quote=True)
    return f'<a href="{href}"><img src="{src}" alt="{html.escape(BADGE_ALT)}"></a>'
