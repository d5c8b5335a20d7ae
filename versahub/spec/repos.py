"""The ``repo`` of a ServerSpec: which BinderHub provider, which repository, which host.

Accepted forms (``binderhub/repoproviders.py`` defines the providers):

* git URLs ``https://host/path`` and ``http://host/path`` (``http`` is accepted here and
  exposed in ``source.scheme`` so the *policy* can refuse it); ``https://github.com/o/r``
  becomes provider ``gh``, ``https://gitlab.com/g/…/r`` ``gl``, ``https://gist.github.com/u/id``
  ``gist`` and ``https://www.hydroshare.org/resource/<id>`` ``hydroshare``;
* provider forms ``gh:org/repo``, ``gl:group/sub/repo``, ``gist:user/id``,
  ``git:<url-escaped URL>``, ``zenodo:<DOI>``, ``figshare:<DOI>``, ``dataverse:<DOI>``,
  ``hydroshare:<resource id or URL>``, ``ckan:<URL, escaped or not>``;
* a bare DOI or URL together with an explicit ``provider`` (what ``to_dict`` prints).

``repo`` is then stored as BinderHub's ``get_repo_url()`` reports it: the clone URL for
git providers (gh without ``.git``, gl and gist with it), the DOI for zenodo, figshare and
dataverse, the resource URL for hydroshare, the dataset URL for ckan.

Refused outright: any other scheme (``file:``, ``ssh:``, ``git:``, ``ext::``), scp-like
``user@host:path``, credentials in a URL, ``::``, leading ``-``, whitespace, query strings
and fragments. Which *hosts* are acceptable is a policy decision, so IP literals and
private hosts pass here and ``source`` tells the policy where a clone would go.
This module never contacts a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from versahub.errors import InputError, shorten
from versahub.spec.text import require_no_space, require_str

PROVIDERS = ("gh", "gl", "git", "gist", "zenodo", "figshare", "hydroshare", "dataverse", "ckan")
DOI_PROVIDERS = ("zenodo", "figshare", "dataverse")
GIT_PROVIDERS = ("gh", "gl", "git", "gist")
REPO_MAX = 1024

_GH_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")
_GL_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}\Z")
_GIST_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\Z")
_GIST_ID = re.compile(r"^[0-9A-Fa-f]{1,64}\Z")
_DOI = re.compile(r"^10\.\d{4,9}/[A-Za-z0-9._;()/:-]{1,240}\Z")
_HYDROSHARE_ID = re.compile(r"[0-9a-f]{32}")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)
_IPV6 = re.compile(r"^[0-9a-f:.]+\Z")
_URL_PATH = re.compile(r"^[A-Za-z0-9/._~!$&'()*+,;=:@%-]*\Z")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROVIDER_FORM = re.compile(r"^([a-z]+):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Source:
    """Where cloning or downloading ``repo`` would connect to: for the policy to judge."""

    scheme: str
    host: str
    port: int

    def to_dict(self) -> dict[str, object]:
        return {"scheme": self.scheme, "host": self.host, "port": self.port}


@dataclass(frozen=True)
class Repo:
    """A validated repository: its provider, its canonical ``repo`` text and its source."""

    provider: str
    repo: str
    source: Source


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str  # lowercase ASCII (IDNA), IPv6 without brackets
    port: int | None  # explicit port, None when absent
    path: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme]
        return host if self.port in (None, default) else f"{host}:{self.port}"

    @property
    def source(self) -> Source:
        return Source(self.scheme, self.host, self.port or _DEFAULT_PORTS[self.scheme])

    def text(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


def parse_repo(field: str, value: object, provider: str | None = None) -> Repo:
    """Validate ``value`` (and an optional explicit ``provider``) into a :class:`Repo`."""
    text = require_no_space(field, require_str(field, value, max_len=REPO_MAX))
    if provider is not None and provider not in PROVIDERS:
        raise InputError("provider", f"unknown provider {shorten(provider)}")
    if text.startswith("-"):
        raise InputError(field, f"must not start with '-': {shorten(text)}")
    if "::" in _without_ipv6(text):
        raise InputError(field, f"must not contain '::' (git remote helpers): {shorten(text)}")
    form = _PROVIDER_FORM.match(text)
    if form and form.group(1) in PROVIDERS:
        prefix, rest = form.groups()
        if provider is not None and provider != prefix and not _same_kind(provider, prefix):
            raise InputError("provider", f"{provider!r} does not match repo form {prefix}:")
        return _from_provider_form(field, prefix, rest)
    if form and form.group(1) not in ("http", "https"):
        if _SCP_LIKE.match(text):
            raise InputError(field, f"scp-like git addresses are not accepted: {shorten(text)}")
        raise InputError(
            field,
            f"unsupported scheme or provider {form.group(1)!r}; use an https URL or one of "
            f"{', '.join(p + ':' for p in PROVIDERS)}",
        )
    if _SCP_LIKE.match(text):
        raise InputError(field, f"scp-like git addresses are not accepted: {shorten(text)}")
    if provider in DOI_PROVIDERS:
        return _doi_repo(field, provider, text)
    if form is None:
        raise InputError(
            field,
            f"must be an http(s) git URL or a provider form like gh:org/repo: {shorten(text)}",
        )
    url = _parse_url(field, text)
    if provider == "ckan":
        return Repo("ckan", url.text(), url.source)
    if provider == "hydroshare":
        return _hydroshare(field, text)
    return _classify_url(field, url)


def _without_ipv6(text: str) -> str:
    """``text`` without a bracketed IPv6 host, whose ``::`` is not a remote helper."""
    return re.sub(r"^([A-Za-z]+://)\[[0-9A-Fa-f:.]*\]", r"\1", text)


def _same_kind(explicit: str, prefix: str) -> bool:
    # ``git:`` of a github.com URL is normalised to gh; an explicit provider may say either.
    return {explicit, prefix} <= set(GIT_PROVIDERS)


def _from_provider_form(field: str, prefix: str, rest: str) -> Repo:
    if prefix == "gh":
        return _github(field, rest)
    if prefix == "gl":
        return _gitlab(field, rest)
    if prefix == "gist":
        return _gist(field, rest)
    if prefix == "git":
        decoded = unquote(rest)
        if "::" in _without_ipv6(decoded) or decoded.startswith("-") or _SCP_LIKE.match(decoded):
            raise InputError(field, f"is not an http(s) git URL: {shorten(decoded)}")
        return _classify_url(field, _parse_url(field, decoded))
    if prefix in DOI_PROVIDERS:
        return _doi_repo(field, prefix, rest)
    if prefix == "hydroshare":
        return _hydroshare(field, unquote(rest))
    # ckan: the dataset URL, url-escaped in launch URLs, plain in files
    url = _parse_url(field, unquote(rest))
    return Repo("ckan", url.text(), url.source)


def _github(field: str, path: str) -> Repo:
    parts = path.strip("/").split("/")
    if len(parts) != 2:
        raise InputError(field, f"must be gh:<org>/<repo>: {shorten(path)}")
    org, name = parts[0], parts[1].removesuffix(".git")
    for part in (org, name):
        if not _GH_NAME.match(part) or part in (".", ".."):
            raise InputError(field, f"is not a valid GitHub org/repo name: {shorten(path)}")
    return Repo("gh", f"https://github.com/{org}/{name}", Source("https", "github.com", 443))


def _gitlab(field: str, path: str) -> Repo:
    namespace = unquote(path).strip("/").removesuffix(".git")
    parts = namespace.split("/")
    if not 2 <= len(parts) <= 20 or not all(_GL_SEGMENT.match(p) for p in parts):
        raise InputError(field, f"must be gl:<group>/[<subgroup>/…]<repo>: {shorten(path)}")
    if any(p.endswith(".") or ".." in p for p in parts):
        raise InputError(field, f"is not a valid GitLab path: {shorten(path)}")
    return Repo("gl", f"https://gitlab.com/{namespace}.git", Source("https", "gitlab.com", 443))


def _gist(field: str, path: str) -> Repo:
    parts = path.strip("/").split("/")
    if len(parts) != 2:
        raise InputError(field, f"must be gist:<user>/<gist id>: {shorten(path)}")
    user, gist_id = parts[0], parts[1].removesuffix(".git")
    if not _GIST_USER.match(user) or not _GIST_ID.match(gist_id):
        raise InputError(field, f"is not a valid gist user/id: {shorten(path)}")
    return Repo(
        "gist",
        f"https://gist.github.com/{user}/{gist_id}.git",
        Source("https", "gist.github.com", 443),
    )


def _doi_repo(field: str, provider: str, text: str) -> Repo:
    doi = unquote(text).strip("/")
    for prefix in ("https://doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    if not _DOI.match(doi) or ".." in doi or "//" in doi or "::" in doi:
        raise InputError(field, f"must be a DOI like 10.5281/zenodo.3242074: {shorten(text)}")
    # BinderHub resolves these through https://doi.org/<DOI> (get_resolved_ref).
    return Repo(provider, doi, Source("https", "doi.org", 443))


def _hydroshare(field: str, text: str) -> Repo:
    # HydroshareProvider._parse_resource_id: the first 32-hex run anywhere in the spec.
    match = _HYDROSHARE_ID.search(text)
    if not match or (text != match.group(0) and not text.startswith("https://")):
        raise InputError(
            field, f"must be a HydroShare resource id (32 hex digits) or URL: {shorten(text)}"
        )
    return Repo(
        "hydroshare",
        f"https://www.hydroshare.org/resource/{match.group(0)}",
        Source("https", "www.hydroshare.org", 443),
    )


def _classify_url(field: str, url: _Url) -> Repo:
    """Map well-known forges to their BinderHub provider; anything else is plain git."""
    if url.scheme == "https" and url.port in (None, 443):
        if url.host == "github.com":
            return _github(field, url.path)
        if url.host == "gitlab.com":
            return _gitlab(field, url.path)
        if url.host == "gist.github.com":
            return _gist(field, url.path)
        if url.host in ("www.hydroshare.org", "hydroshare.org"):
            return _hydroshare(field, url.text())
    if url.path in ("", "/"):
        raise InputError(field, f"has no repository path: {shorten(url.text())}")
    return Repo("git", url.text(), url.source)


def _parse_url(field: str, text: str) -> _Url:
    """Parse an http(s) URL strictly: no credentials, no query, no fragment, sane host."""
    text = require_no_space(field, require_str(field, text, max_len=REPO_MAX))
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise InputError(field, f"is not a valid URL ({err}): {shorten(text)}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InputError(field, f"must use http or https, not {shorten(scheme or text)}")
    if "@" in parts.netloc:
        raise InputError(field, "must not contain credentials (user:password@); use credentials")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise InputError(field, f"must not have a query string or fragment: {shorten(text)}")
    if "\\" in text or "::" in _without_ipv6(text):
        raise InputError(field, f"contains forbidden characters: {shorten(text)}")
    host = _normalise_host(field, parts.hostname or "", text)
    if port is not None and not 1 <= port <= 65535:
        raise InputError(field, f"has an invalid port: {shorten(text)}")
    path = parts.path
    if not _URL_PATH.match(path) or re.search(r"%(?![0-9A-Fa-f]{2})", path):
        raise InputError(field, f"has invalid characters in its path: {shorten(text)}")
    decoded = unquote(path)
    if any(seg in (".", "..") for seg in decoded.split("/")) or "\\" in decoded:
        raise InputError(field, f"must not contain '.' or '..' path segments: {shorten(text)}")
    return _Url(scheme, host, port, path.rstrip("/") if path != "/" else path)


def _normalise_host(field: str, host: str, text: str) -> str:
    if not host:
        raise InputError(field, f"has no host: {shorten(text)}")
    if ":" in host:  # IPv6 literal: syntactically fine, the policy judges it
        if not _IPV6.match(host):
            raise InputError(field, f"has an invalid IPv6 host: {shorten(text)}")
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InputError(field, f"has an invalid host name: {shorten(text)}") from None
    if not _HOSTNAME.match(ascii_host):
        raise InputError(field, f"has an invalid host name: {shorten(text)}")
    return ascii_host.rstrip(".")
