"""Git refs, the ``urlpath`` opened after start, and mount points.

* ``ref`` follows ``git check-ref-format`` (and refuses what git would read as an option),
  or is a 40/64-digit commit hash. It is passed to ``git`` later, so ``--upload-pack=…``
  and friends must never get through.
* ``urlpath`` is a path *inside the user's server* (``lab/tree/index.ipynb``). One leading
  ``/`` is dropped (BinderHub's ``LaunchSpec`` drops them all, but a value that still
  starts with ``/`` reads as ``//host``, a link to another site, and stays refused), and
  repeated ``/`` inside the path are collapsed (``tree//x`` is ``tree/x``, as Jupyter opens
  it); anything that could leave the server (a scheme such as ``javascript:``, ``//host``,
  backslashes) or climb out of it (``..``, also percent-encoded) is rejected. Characters
  outside the URL-safe set are percent-encoded, so ``a b`` and ``a%20b`` are the same
  urlpath. A query string is kept (Voilà templates use one); a fragment is refused.
* mount paths are absolute, normalised, and never system directories; each part is
  letters, digits and ``. _ @ + -`` (hidden folders such as ``/home/jovyan/.local/bin``
  are fine, ``.`` and ``..`` are not).

Nothing here touches the file system: paths are strings about the *container*.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote, unquote

from versahub.errors import InputError, shorten
from versahub.spec.text import require_no_space, require_str

REF_MAX = 255
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
_REF_BAD_CHARS = re.compile(r"[~^:?*\[\\]")

URLPATH_MAX = 2048
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SLASHES = re.compile(r"//+")
# RFC 3986 pchar minus nothing; "%" is kept as-is because escapes were checked above.
_URLPATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _URLPATH_SAFE + "?"

MOUNT_PATH_MAX = 255
_MOUNT_SEGMENT = re.compile(r"^[A-Za-z0-9._@+-]+\Z")
FORBIDDEN_MOUNT_ROOTS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
    "/root", "/run", "/sbin", "/sys", "/usr", "/var/run", "/var/lib", "/opt/conda",
    "/srv/conda",
)  # fmt: skip
FORBIDDEN_MOUNT_POINTS = ("/", "/home", "/opt", "/srv", "/tmp", "/var")


def validate_ref(field: str, value: object) -> str:
    """Return ``value`` if it is a branch, tag or commit git would accept as a ref."""
    text = require_no_space(field, require_str(field, value, max_len=REF_MAX))
    if _SHA.match(text) or text == "HEAD":
        return text
    reason = _ref_problem(text)
    if reason:
        raise InputError(field, f"{reason}: {shorten(text)}")
    return text


def _ref_problem(ref: str) -> str | None:
    if ref.startswith("-"):
        return "must not start with '-'"
    if ref == "@":
        return "must not be '@'"
    if "@{" in ref:
        return "must not contain '@{'"
    if ".." in ref:
        return "must not contain '..'"
    if _REF_BAD_CHARS.search(ref):
        return "must not contain any of ~ ^ : ? * [ \\"
    if ref.startswith("/") or ref.endswith("/") or "//" in ref:
        return "must not start or end with '/' or contain '//'"
    if ref.endswith("."):
        return "must not end with '.'"
    for part in ref.split("/"):
        if part.startswith("."):
            return "no part may start with '.'"
        if part.endswith(".lock"):
            return "no part may end with '.lock'"
    return None


def validate_urlpath(field: str, value: object) -> str:
    """Return the canonical urlpath (relative, percent-encoded) or raise InputError."""
    original = require_str(field, value, max_len=URLPATH_MAX, allow_empty=True)
    text = original[1:] if original.startswith("/") else original
    if not text:
        return ""
    if text.startswith("/"):
        raise InputError(
            field, f"must be a path inside the server, not //host: {shorten(original)}"
        )
    if "\\" in text:
        raise InputError(field, f"must not contain backslashes: {shorten(text)}")
    if "#" in text:
        raise InputError(field, f"must not contain a fragment ('#'): {shorten(text)}")
    if _PCT.search(text):
        raise InputError(field, f"has a '%' that is not a percent-escape: {shorten(text)}")
    path, sep, query = text.partition("?")
    if _SCHEME.match(path) or _SCHEME.match(unquote(path)):
        raise InputError(field, f"must be a path inside the server, not a URL: {shorten(text)}")
    path = _SLASHES.sub("/", path)  # only literal "//": an encoded %2F%2F stays refused below
    _check_decoded_path(field, path, text)
    canonical = quote(path, safe=_URLPATH_SAFE)
    if sep:
        canonical += "?" + quote(query, safe=_QUERY_SAFE)
    if len(canonical) > URLPATH_MAX:
        raise InputError(field, f"is too long once percent-encoded (at most {URLPATH_MAX})")
    return canonical


def _check_decoded_path(field: str, path: str, original: str) -> None:
    """Reject dot segments, empty segments and hidden controls, even after decoding."""
    decoded = path
    for _ in range(4):  # catch %2e%2e and %252e%252e alike
        segments = decoded.split("/")
        if any(seg in (".", "..") for seg in segments):
            raise InputError(field, f"must not contain '.' or '..' segments: {shorten(original)}")
        if any(not seg for seg in segments[:-1]):
            raise InputError(field, f"must not contain '//': {shorten(original)}")
        if "\\" in decoded or re.search(r"[\x00-\x1f\x7f]", decoded):
            raise InputError(
                field, f"must not hide backslashes or control characters: {shorten(original)}"
            )
        nxt = unquote(decoded)
        if nxt == decoded:
            return
        decoded = nxt
    raise InputError(field, f"is percent-encoded too many times: {shorten(original)}")


def validate_mount_path(field: str, value: object) -> str:
    """Return a normalised absolute mount point that is not a system directory."""
    text = require_no_space(field, require_str(field, value, max_len=MOUNT_PATH_MAX))
    if not text.startswith("/"):
        raise InputError(field, f"must be an absolute path: {shorten(text)}")
    if len(text) > 1 and text.endswith("/"):
        text = text.rstrip("/")
    if text in FORBIDDEN_MOUNT_POINTS:
        raise InputError(field, f"must not be {text} (it would hide the image's files)")
    segments = text.split("/")[1:]
    for seg in segments:
        if seg in ("", ".", ".."):
            raise InputError(field, f"must be normalised (no //, . or ..): {shorten(text)}")
        if not _MOUNT_SEGMENT.match(seg):
            raise InputError(
                field, f"may only contain letters, digits and . _ @ + -: {shorten(text)}"
            )
    if posixpath.normpath(text) != text:
        raise InputError(field, f"must be normalised: {shorten(text)}")
    for root in FORBIDDEN_MOUNT_ROOTS:
        if text == root or text.startswith(root + "/"):
            raise InputError(field, f"must not be inside the system directory {root}")
    return text
