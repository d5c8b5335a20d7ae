"""The hostile-input corpus: one table per kind of attack, shared by every entry point.

Each table row is ``(id, value, expectation)``; the test modules turn rows into
``pytest.param(..., id=...)`` for the entry point they drive (the pure parsers, the check
API, the launch API, JupyterHub's own REST API, the launch page, the command line, the
policy engine). A row may carry a ``BUG_…`` reason: the refusal it expects does not happen
today, so the case is a strict ``xfail`` naming the bug until the product is fixed (then
it passes, the strict xfail fails, and the mark is removed).

Nothing here starts anything; the tables are plain data. Test helper, not product code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

REPO = "https://github.com/binder-examples/requirements"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB = "https://hub.example.org"
HOME = "/home/jovyan/work"

# ------------------------------------------------------------------------------ known bugs


Row = tuple[Any, ...]


def params(rows: Iterable[Row], *, bugs: bool = True) -> list[Any]:
    """``pytest.param(*row[1:-1 or :], id=row[0])``; a trailing ``BUG…`` string becomes a
    strict xfail (``bugs=False`` drops those rows instead)."""
    out = []
    for row in rows:
        ident, *values = row
        marks = []
        if values and isinstance(values[-1], str) and values[-1].startswith("BUG"):
            reason = values.pop()
            if not bugs:
                continue
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        out.append(pytest.param(*values, id=ident, marks=marks))
    return out


def spec(extra: Mapping[str, Any]) -> dict[str, Any]:
    """A spec document: the trusted demo repository at a fixed commit, plus ``extra``."""
    return {"repo": REPO, "ref": COMMIT, **extra}


def mount(path: str, volume: str = "home", mode: str = "ro") -> dict[str, Any]:
    return {"mounts": [{"volume": volume, "path": path, "mode": mode}]}


TEN_KB = "a" * 10_240

# ----------------------------------------------------------------- refused by the parser
# (id, spec fields merged over spec({}), field named by the refusal[, BUG])
# fmt: off
SPEC_REFUSED: list[Row] = [
    # path traversal in mounts
    ("mount-dotdot", mount("/home/jovyan/../../etc"), "mounts[0].path"),
    ("mount-dot", mount("/home/jovyan/./work"), "mounts[0].path"),
    ("mount-encoded-dotdot", mount("/home/jovyan/%2e%2e/etc"), "mounts[0].path"),
    ("mount-double-encoded", mount("/home/jovyan/%252e%252e"), "mounts[0].path"),
    ("mount-backslash", mount("/home\\jovyan\\..\\etc"), "mounts[0].path"),
    ("mount-double-slash", mount("//etc/cron.d"), "mounts[0].path"),
    ("mount-relative", mount("work/../../etc"), "mounts[0].path"),
    ("mount-etc", mount("/etc/cron.d", mode="rw"), "mounts[0].path"),
    ("mount-proc", mount("/proc/self"), "mounts[0].path"),
    ("mount-root-home", mount("/root"), "mounts[0].path"),
    ("mount-usr-local", mount("/usr/local/bin"), "mounts[0].path"),
    ("mount-opt-conda", mount("/opt/conda/bin"), "mounts[0].path"),
    ("mount-slash", mount("/"), "mounts[0].path"),
    ("mount-tmp", mount("/tmp"), "mounts[0].path"),
    ("mount-var-run-docker", mount("/var/run/docker.sock"), "mounts[0].path"),
    ("mount-url", mount("file:///etc"), "mounts[0].path"),
    ("mount-html", mount('/home/jovyan/"><img src=x onerror=alert(1)>'), "mounts[0].path"),
    ("mount-script", mount("/home/jovyan/<script>"), "mounts[0].path"),
    ("mount-cyrillic", mount("/home/jovy\u0430n/work"), "mounts[0].path"),
    ("mount-bidi", mount("/home/jovyan/\u202ekrow"), "mounts[0].path"),
    ("mount-nul", mount("/home/jovyan/work\x00/etc"), "mounts[0].path"),
    ("mount-10kb", mount("/home/" + TEN_KB), "mounts[0].path"),
    ("mount-volume-traversal", mount(HOME, volume="../home"), "mounts[0].volume"),
    ("mount-volume-html", mount(HOME, volume="<script>"), "mounts[0].volume"),
    ("mount-volume-cyrillic", mount(HOME, volume="h\u043eme"), "mounts[0].volume"),
    ("mount-volume-unknown", mount(HOME, volume="secrets"), "mounts[0].volume"),
    ("mount-mode-rwx", mount(HOME, mode="rwx"), "mounts[0].mode"),
    ("mount-unknown-key", {"mounts": [{"volume": "home", "path": HOME, "uid": 0}]},
     "mounts[0].uid"),
    ("mount-not-mapping", {"mounts": ["home:/home/jovyan/work"]}, "mounts[0]"),
    ("mounts-1000", {"mounts": [{"volume": "home", "path": f"/m/{i}"} for i in range(1000)]},
     "mounts"),
    ("mount-duplicate-path", {"mounts": [{"volume": "home", "path": HOME}] * 2}, "mounts[1].path"),
    # path traversal and open redirects in urlpath
    ("urlpath-dotdot", {"urlpath": "lab/tree/../../../hub/admin"}, "urlpath"),
    ("urlpath-encoded-dotdot", {"urlpath": "lab/tree/%2e%2e/%2e%2e/x"}, "urlpath"),
    ("urlpath-double-encoded", {"urlpath": "%252e%252e/%252e%252e/hub"}, "urlpath"),
    ("urlpath-mixed-dot", {"urlpath": "tree/.%2e/x"}, "urlpath"),
    ("urlpath-backslash", {"urlpath": "\\\\evil.example/x"}, "urlpath"),
    ("urlpath-encoded-backslash", {"urlpath": "tree/%5c%5cevil.example"}, "urlpath"),
    ("urlpath-protocol-relative", {"urlpath": "//evil.example/x"}, "urlpath"),
    ("urlpath-triple-slash", {"urlpath": "///evil.example"}, "urlpath"),
    ("urlpath-encoded-slashes", {"urlpath": "%2F%2Fevil.example"}, "urlpath"),
    ("urlpath-absolute-url", {"urlpath": "https://evil.example/"}, "urlpath"),
    ("urlpath-javascript", {"urlpath": "javascript:alert(document.cookie)"}, "urlpath"),
    ("urlpath-javascript-case", {"urlpath": "JaVaScRiPt:alert(1)"}, "urlpath"),
    ("urlpath-javascript-encoded", {"urlpath": "%6a%61vascript:alert(1)"}, "urlpath"),
    ("urlpath-javascript-newline", {"urlpath": "java%0ascript:alert(1)"}, "urlpath"),
    ("urlpath-data", {"urlpath": "data:text/html,<script>alert(1)</script>"}, "urlpath"),
    ("urlpath-nul", {"urlpath": "lab/%00"}, "urlpath"),
    ("urlpath-crlf", {"urlpath": "lab\r\nSet-Cookie: x=1"}, "urlpath"),
    ("urlpath-fragment", {"urlpath": "lab#<img src=x onerror=alert(1)>"}, "urlpath"),
    ("urlpath-bad-percent", {"urlpath": "lab/%zz"}, "urlpath"),
    ("urlpath-10kb", {"urlpath": TEN_KB}, "urlpath"),
    # option injection and odd refs
    ("ref-upload-pack", {"ref": "--upload-pack=touch /tmp/pwned"}, "ref"),
    ("ref-upload-pack-nospace", {"ref": "--upload-pack=id"}, "ref"),
    ("ref-dash-c", {"ref": "-c"}, "ref"),
    ("ref-dash-u", {"ref": "-uid"}, "ref"),
    ("ref-output", {"ref": "--output=/tmp/pwned"}, "ref"),
    ("ref-dotdot", {"ref": "refs/heads/../../config"}, "ref"),
    ("ref-reflog", {"ref": "@{-1}"}, "ref"),
    ("ref-colon", {"ref": "main:refs/heads/x"}, "ref"),
    ("ref-html-space", {"ref": '"><img src=x onerror=alert(1)>'}, "ref"),
    ("ref-newline", {"ref": "main\n--upload-pack=id"}, "ref"),
    ("ref-nul", {"ref": "main\x00"}, "ref"),
    ("ref-lock", {"ref": "main.lock"}, "ref"),
    ("ref-10kb", {"ref": TEN_KB}, "ref"),
    ("ref-bidi-rlo", {"ref": "\u202eniam"}, "ref"),
    ("ref-bidi-isolate", {"ref": "main\u2066x\u2069"}, "ref"),
    ("ref-zero-width", {"ref": "ma\u200bin"}, "ref"),
    ("ref-tag-characters", {"ref": "main\U000e0065\U000e0076\U000e0069\U000e006c"}, "ref"),
    ("ref-soft-hyphen", {"ref": "ma\u00adin"}, "ref"),
    ("ref-mongolian-separator", {"ref": "ma\u180ein"}, "ref"),
    ("ref-list", {"ref": ["main"]}, "ref"),
    # transports and repository forms
    ("repo-ext-sh", {"repo": "ext::sh -c touch% /tmp/pwned"}, "repo"),
    ("repo-ext-nospace", {"repo": "ext::sh"}, "repo"),
    ("repo-git-escaped-ext", {"repo": "git:ext%3A%3Ash%20-c%20id"}, "repo"),
    ("repo-file", {"repo": "file:///etc/passwd"}, "repo"),
    ("repo-file-upper", {"repo": "FILE:///etc/passwd"}, "repo"),
    ("repo-git-escaped-file", {"repo": "git:file%3A%2F%2F%2Fetc"}, "repo"),
    ("repo-ssh", {"repo": "ssh://git@github.com/binder-examples/requirements"}, "repo"),
    ("repo-git-plus-ssh", {"repo": "git+ssh://git@github.com/a/b"}, "repo"),
    ("repo-git-protocol", {"repo": "git://github.com/binder-examples/requirements"}, "repo"),
    ("repo-scp-like", {"repo": "git@github.com:binder-examples/requirements.git"}, "repo"),
    ("repo-leading-dash", {"repo": "--upload-pack=touch /tmp/pwned"}, "repo"),
    ("repo-leading-dash-url", {"repo": "-uhttps://github.com/a/b"}, "repo"),
    ("repo-credentials", {"repo": "https://user:secret@github.com/a/b"}, "repo"),
    ("repo-backslash-host", {"repo": "https://evil.example\\@github.com/a/b"}, "repo"),
    ("repo-query", {"repo": "https://github.com/a/b?upload-pack=x"}, "repo"),
    ("repo-fragment", {"repo": "https://github.com/a/b#x"}, "repo"),
    ("repo-path-dotdot", {"repo": "https://example.org/a/../../b"}, "repo"),
    ("repo-path-encoded-dotdot", {"repo": "https://example.org/a/%2e%2e/b"}, "repo"),
    ("repo-javascript", {"repo": "javascript:alert(1)"}, "repo"),
    ("repo-html", {"repo": "https://github.com/<script>/x"}, "repo"),
    ("repo-html-attr", {"repo": 'https://example.org/"><img/src=x/onerror=alert(1)>'}, "repo"),
    ("repo-gh-traversal", {"repo": "gh:../../etc"}, "repo"),
    ("repo-gh-cyrillic", {"repo": "gh:binder-ex\u0430mples/requirements"}, "repo"),
    ("repo-bidi-path", {"repo": "https://example.org/a\u202eb"}, "repo"),
    ("repo-encoded-host", {"repo": "https://%6c%6fcalhost/a"}, "repo"),
    ("repo-port-zero", {"repo": "https://example.org:0/a"}, "repo"),
    ("repo-10kb", {"repo": "https://example.org/" + TEN_KB}, "repo"),
    ("repo-number", {"repo": 12345}, "repo"),
    ("repo-missing", {"repo": None}, "repo"),
    ("provider-html", {"provider": "<script>"}, "provider"),
    # HTML/JS and confusables in names
    ("server-name-script", {"server_name": "<script>alert(1)</script>"}, "server_name"),
    ("server-name-img", {"server_name": '"><img src=x onerror=alert(1)>'}, "server_name"),
    ("server-name-cyrillic", {"server_name": "\u0430nalysis"}, "server_name"),
    ("server-name-bidi", {"server_name": "x\u202ey"}, "server_name"),
    ("server-name-zero-width", {"server_name": "ana\u200blysis"}, "server_name"),
    ("server-name-traversal", {"server_name": "../admin"}, "server_name"),
    ("server-name-upper", {"server_name": "Analysis"}, "server_name"),
    ("server-name-10kb", {"server_name": TEN_KB}, "server_name"),
    ("server-name-ansi", {"server_name": "x\x1b[31mred"}, "server_name"),
    # collaborator spoofing (refused by the parser; see POLICY_DENIED for the rest)
    ("collab-owner", {"collaborators": ["alice"]}, "collaborators[0]"),
    ("collab-star", {"collaborators": ["*"]}, "collaborators[0]"),
    ("collab-group-star", {"collaborators": ["group:*"]}, "collaborators[0]"),
    ("collab-group-empty", {"collaborators": ["group:"]}, "collaborators[0]"),
    ("collab-upper-owner", {"collaborators": ["ALICE"]}, "collaborators[0]"),
    ("collab-cyrillic-admin", {"collaborators": ["\u0430dmin"]}, "collaborators[0]"),
    ("collab-bidi", {"collaborators": ["bob\u202e"]}, "collaborators[0]"),
    ("collab-zero-width", {"collaborators": ["b\u200dob"]}, "collaborators[0]"),
    ("collab-script", {"collaborators": ["<script>alert(1)</script>"]}, "collaborators[0]"),
    ("collab-trailing-space", {"collaborators": ["bob "]}, "collaborators[0]"),
    ("collab-group-traversal", {"collaborators": ["group:../admins"]}, "collaborators[0]"),
    ("collab-10kb", {"collaborators": [TEN_KB]}, "collaborators[0]"),
    ("collab-duplicate", {"collaborators": ["bob", "bob"]}, "collaborators[1]"),
    ("collab-300", {"collaborators": [f"u{i}" for i in range(300)]}, "collaborators"),
    ("collab-not-list", {"collaborators": "bob"}, "collaborators"),
    # types, unknown keys, resources
    ("unknown-key", {"privileged": True}, "privileged"),
    ("unknown-key-html", {"<script>": 1}, "<script>"),
    ("unknown-key-10kb", {TEN_KB: 1}, "spec"),
    ("unknown-key-ansi", {"\x1b[31m": 1}, "spec"),
    ("unknown-key-empty", {"": 1}, "spec"),
    ("derived-key-source", {"source": {"host": "github.com"}}, "source"),
    ("derived-key-spec-id", {"spec_id": "0000000000000000"}, "spec_id"),
    ("resources-unknown-key", {"resources": {"gpu": 8}}, "resources.gpu"),
    ("internet-string", {"internet": "false"}, "internet"),
    ("credentials-number", {"credentials": 1}, "credentials"),
    ("public-null", {"public_readonly": None}, "public_readonly"),
    ("memory-html", {"resources": {"memory": "<script>"}}, "resources.memory"),
    ("memory-negative", {"resources": {"memory": "-1G"}}, "resources.memory"),
    ("memory-huge", {"resources": {"memory": 10**30}}, "resources.memory"),
    ("cpu-nan", {"resources": {"cpu": float("nan")}}, "resources.cpu"),
    ("cpu-infinity", {"resources": {"cpu": float("inf")}}, "resources.cpu"),
    ("cpu-negative", {"resources": {"cpu": -4}}, "resources.cpu"),
    ("cpu-bool", {"resources": {"cpu": True}}, "resources.cpu"),
    ("cpu-huge-int", {"resources": {"cpu": 10**400}}, "resources.cpu"),
    ("duration-huge", {"resources": {"max_duration": "9" * 40 + "d"}}, "resources.max_duration"),
]

# The ones every hub-level entry point also gets (the whole table runs against the pure
# parser, the check API and the launch API; these against the slower stock REST API).
STOCK_REST_IDS = (
    "mount-dotdot", "mount-encoded-dotdot", "mount-etc", "mount-html", "urlpath-javascript",
    "urlpath-protocol-relative", "urlpath-double-encoded", "ref-upload-pack-nospace",
    "ref-bidi-rlo", "repo-ext-sh", "repo-file", "repo-ssh", "repo-git-protocol",
    "server-name-img", "collab-star", "collab-cyrillic-admin", "unknown-key",
    "mounts-1000", "cpu-huge-int",
)  # fmt: skip
CLI_IDS = (
    "mount-dotdot", "mount-backslash", "mount-etc", "urlpath-javascript", "urlpath-crlf",
    "ref-upload-pack", "ref-dash-c", "ref-bidi-rlo", "repo-ext-sh", "repo-file", "repo-ssh",
    "repo-scp-like", "server-name-ansi", "collab-star", "collab-cyrillic-admin",
    "unknown-key-ansi", "internet-string", "cpu-huge-int", "ref-tag-characters",
)  # fmt: skip


def rows(table: list[Row], ids: Iterable[str]) -> list[Row]:
    wanted = set(ids)
    picked = [row for row in table if row[0] in wanted]
    assert {row[0] for row in picked} == wanted, wanted - {row[0] for row in picked}
    return picked


# ------------------------------------------------------------- judged and denied by OPA
# The parser accepts these on purpose (which hosts and who may be reached is a policy
# question); the policy must deny them. (id, spec fields, deny ids of which one must be
# found)
INTERNAL = ("repo-internal-host", "repo-ip-literal")
POLICY_DENIED: list[Row] = [
    ("host-loopback", {"repo": "https://127.0.0.1/a.git"}, INTERNAL),
    ("host-loopback-hex", {"repo": "https://0x7f.1/a.git"}, INTERNAL),
    ("host-loopback-decimal", {"repo": "https://2130706433/a.git"}, INTERNAL),
    ("host-loopback-octal", {"repo": "https://0177.0.0.1/a.git"}, INTERNAL),
    ("host-loopback-short", {"repo": "https://127.1/a.git"}, INTERNAL),
    ("host-zero", {"repo": "https://0/a.git"}, INTERNAL),
    ("host-any", {"repo": "https://0.0.0.0/a.git"}, INTERNAL),
    ("host-ipv6-loopback", {"repo": "https://[::1]/a.git"}, INTERNAL),
    ("host-ipv4-mapped", {"repo": "https://[::ffff:127.0.0.1]/a.git"}, INTERNAL),
    ("host-ipv4-mapped-long", {"repo": "https://[0:0:0:0:0:ffff:7f00:1]/a.git"}, INTERNAL),
    ("host-ipv6-unique-local", {"repo": "https://[fd00::1]/a.git"}, INTERNAL),
    ("host-metadata-ip", {"repo": "https://169.254.169.254/latest/meta-data"}, INTERNAL),
    ("host-metadata-google", {"repo": "https://metadata.google.internal/a"}, INTERNAL),
    ("host-cgnat-metadata", {"repo": "https://100.100.100.200/a"}, INTERNAL),
    ("host-docker0", {"repo": "https://172.17.0.1/a.git"}, INTERNAL),
    ("host-private-10", {"repo": "https://10.0.0.1/a.git"}, INTERNAL),
    ("host-localhost", {"repo": "https://localhost/a.git"}, INTERNAL),
    ("host-localhost-dot", {"repo": "https://localhost./a.git"}, INTERNAL),
    ("host-localhost-upper", {"repo": "https://LOCALHOST/a.git"}, INTERNAL),
    ("host-sub-localhost", {"repo": "https://evil.localhost/a.git"}, INTERNAL),
    ("host-dot-internal", {"repo": "https://gitlab.corp.internal/a.git"}, INTERNAL),
    ("host-single-label", {"repo": "https://intranet/a.git"}, INTERNAL),
    ("host-git-escaped-metadata", {"repo": "git:https%3A%2F%2F169.254.169.254%2Fx"}, INTERNAL),
    ("scheme-http", {"repo": "http://github.com/binder-examples/requirements"},
     ("repo-insecure-scheme",)),
    ("collab-group-not-member", {"collaborators": ["group:staff"]},
     ("collaborator-group-forbidden",)),
    ("collab-unknown-user", {"collaborators": ["mallory"]}, ("collaborator-unknown",)),
    ("collab-unknown-group", {"collaborators": ["group:nosuch"]}, ("collaborator-unknown",)),
    ("volume-write-forbidden", mount("/home/jovyan/course", volume="teaching", mode="rw"),
     ("volume-write-forbidden",)),
    ("memory-over-cap", {"resources": {"memory": "64T"}}, ("resources-over-cap",)),
    ("cpu-over-cap", {"resources": {"cpu": 256}}, ("resources-over-cap",)),
    ("public-with-credentials", {"public_readonly": True, "credentials": True},
     ("public-readonly-credentials",)),
    ("public-with-collaborators", {"public_readonly": True, "collaborators": ["bob"]},
     ("public-readonly-collaborators",)),
]

# ---------------------------------------------------------------------------- launch URLs
# (id, path and query after the hub, field named by the refusal[, BUG])
URL_REFUSED: list[Row] = [
    ("url-ref-upload-pack", "/v2/gh/a/b/--upload-pack=touch%20%2Ftmp%2Fx", "ref"),
    ("url-ref-encoded-dashes", "/v2/gh/a/b/%2D%2Dupload-pack=id", "ref"),
    ("url-ref-dash-c", "/v2/gh/a/b/-c", "ref"),
    ("url-ref-newline", "/v2/gh/a/b/main%0a--upload-pack=id", "ref"),
    ("url-ref-nul", "/v2/gh/a/b/main%00", "ref"),
    ("url-ref-bidi", "/v2/gh/a/b/%E2%80%AEniam", "ref"),
    ("url-ref-tag-characters", "/v2/gh/a/b/main%F3%A0%81%A5%F3%A0%81%B6", "ref"),
    ("url-org-traversal", "/v2/gh/%2e%2e/%2e%2e/HEAD", "repo"),
    ("url-org-cyrillic", "/v2/gh/binder-ex%D0%B0mples/requirements/HEAD", "repo"),
    ("url-git-ext", "/v2/git/ext%3A%3Ash%20-c%20touch%2520x/HEAD", "repo"),
    ("url-git-file", "/v2/git/file%3A%2F%2F%2Fetc%2Fpasswd/HEAD", "repo"),
    ("url-git-ssh", "/v2/git/ssh%3A%2F%2Fgit%40github.com%2Fa%2Fb/HEAD", "repo"),
    ("url-git-git", "/v2/git/git%3A%2F%2Fgithub.com%2Fa%2Fb/HEAD", "repo"),
    ("url-git-double-encoded", "/v2/git/https%253A%252F%252Fexample.org%252Fa/HEAD", "repo"),
    ("url-git-credentials", "/v2/git/https%3A%2F%2Fu%3Apw%40example.org%2Fa/HEAD", "repo"),
    ("url-gl-traversal", "/v2/gl/..%2F..%2Fx/HEAD", "repo"),
    ("url-ckan-file", "/v2/ckan/file%3A%2F%2F%2Fetc%2Fpasswd", "repo"),
    ("url-zenodo-traversal", "/v2/zenodo/10.5281%2F..%2F..%2Fx", "repo"),
    ("url-unknown-provider", "/v2/evil/a/b/HEAD", "provider"),
    ("url-urlpath-dotdot", "/v2/gh/a/b/HEAD?urlpath=%2e%2e/%2e%2e/hub/admin", "urlpath"),
    ("url-urlpath-double-enc", "/v2/gh/a/b/HEAD?urlpath=%252e%252e%252fhub", "urlpath"),
    ("url-urlpath-js", "/v2/gh/a/b/HEAD?urlpath=javascript:alert(1)", "urlpath"),
    ("url-urlpath-slashes", "/v2/gh/a/b/HEAD?urlpath=%2F%2Fevil.example", "urlpath"),
    ("url-urlpath-backslash", "/v2/gh/a/b/HEAD?urlpath=%5C%5Cevil.example", "urlpath"),
    ("url-urlpath-absolute", "/v2/gh/a/b/HEAD?urlpath=https://evil.example/", "urlpath"),
    ("url-urlpath-crlf", "/v2/gh/a/b/HEAD?urlpath=lab%0d%0aSet-Cookie:x=1", "urlpath"),
    ("url-labpath-dotdot", "/v2/gh/a/b/HEAD?labpath=../../hub/admin", "labpath"),
    ("url-filepath-encoded", "/v2/gh/a/b/HEAD?filepath=%2e%2e%2fx", "filepath"),
    ("url-filepath-double-enc", "/v2/gh/a/b/HEAD?filepath=%252e%252e/x", "filepath"),
    ("url-mount-etc", "/v2/gh/a/b/HEAD?mount=home:/etc:rw", "mounts[0].path"),
    ("url-mount-traversal", "/v2/gh/a/b/HEAD?mount=home:/home/jovyan/%2e%2e/%2e%2e/etc",
     "mounts[0].path"),
    ("url-mount-extra-colon", "/v2/gh/a/b/HEAD?mount=home:/x:rw:exec", "mounts[0]"),
    ("url-mount-unknown-volume", "/v2/gh/a/b/HEAD?mount=secrets:/x", "mounts[0].volume"),
    ("url-collab-star", "/v2/gh/a/b/HEAD?collaborator=*", "collaborators[0]"),
    ("url-collab-owner", "/v2/gh/a/b/HEAD?collaborator=alice", "collaborators[0]"),
    ("url-collab-cyrillic", "/v2/gh/a/b/HEAD?collaborator=%D0%B0dmin", "collaborators[0]"),
    ("url-collab-bidi", "/v2/gh/a/b/HEAD?collaborator=bob%E2%80%AE", "collaborators[0]"),
    ("url-server-name-script", "/v2/gh/a/b/HEAD?server_name=%3Cscript%3Ealert(1)%3C/script%3E",
     "server_name"),
    ("url-server-name-img",
     "/v2/gh/a/b/HEAD?server_name=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E", "server_name"),
    ("url-server-name-twice", "/v2/gh/a/b/HEAD?server_name=a&server_name=b", "server_name"),
    ("url-internet-twice", "/v2/gh/a/b/HEAD?internet=false&internet=true", "internet"),
    ("url-unknown-param", "/v2/gh/a/b/HEAD?memroy=64G", "memroy"),
    ("url-unknown-param-html", "/v2/gh/a/b/HEAD?%3Cscript%3E=1", "<script>"),
    ("url-unknown-param-ansi", "/v2/gh/a/b/HEAD?%1b%5b31mred=1", "url"),
    ("url-unknown-param-crlf", "/v2/gh/a/b/HEAD?a%0d%0aSet-Cookie:%20x=1", "url"),
    ("url-unknown-param-bidi", "/v2/gh/a/b/HEAD?%E2%80%AEx=1", "url"),
    ("url-unknown-param-empty", "/v2/gh/a/b/HEAD?=1", "url"),
    ("url-bool-maybe", "/v2/gh/a/b/HEAD?public=maybe", "public_readonly"),
    ("url-cpu-exponent", "/v2/gh/a/b/HEAD?cpu=1e3", "resources.cpu"),
    ("url-cpu-nan", "/v2/gh/a/b/HEAD?cpu=nan", "resources.cpu"),
    ("url-too-many-params", "/v2/gh/a/b/HEAD?" + "&".join(f"utm_{i}=x" for i in range(250)),
     "url"),
    ("url-10kb", "/v2/gh/a/b/HEAD?server_name=" + TEN_KB, "url"),
]
PAGE_IDS = (
    "url-ref-upload-pack", "url-ref-newline", "url-git-ext", "url-git-file", "url-org-traversal",
    "url-urlpath-js", "url-urlpath-slashes", "url-urlpath-crlf", "url-labpath-dotdot",
    "url-mount-traversal", "url-collab-bidi", "url-server-name-script", "url-server-name-img",
    "url-unknown-param-html", "url-ref-bidi", "url-unknown-param-ansi",
)  # fmt: skip

# Whole URLs refused before any path is looked at: (id, url, field)
WHOLE_URL_REFUSED: list[Row] = [
    ("whole-javascript", "javascript:alert(1)//v2/gh/a/b/HEAD", "url"),
    ("whole-file", "file:///v2/gh/a/b/HEAD", "url"),
    ("whole-data", "data:text/html,/v2/gh/a/b/HEAD", "url"),
    ("whole-protocol-relative", "//evil.example/v2/gh/a/b/HEAD", "url"),
    ("whole-crlf", HUB + "/v2/gh/a/b/HEAD\r\nX-Injected: 1", "url"),
    ("whole-space", HUB + "/v2/gh/a/b/HEAD extra", "url"),
    ("whole-bad-ipv6", "http://[::1/v2/gh/a/b/HEAD", "url"),
    ("whole-no-route", HUB + "/v3/gh/a/b/HEAD", "url"),
    ("whole-1mb", HUB + "/v2/gh/a/b/HEAD?urlpath=" + "a" * 1_048_576, "url"),
]

# ------------------------------------------------------------------ legacy /repo/ links
# (id, path from /repo/ on, query, field)
LEGACY_REFUSED: list[Row] = [
    ("legacy-user-dotdot", "/repo/%2e%2e/b", "", "user"),
    ("legacy-repo-slash", "/repo/a/%2F", "", "repo"),
    ("legacy-user-crlf", "/repo/a%0d%0aLocation:%20http:%2F%2Fevil/b", "", "user"),
    ("legacy-user-script", "/repo/%3Cscript%3E/b", "", "user"),
    ("legacy-repo-cyrillic", "/repo/a/b%D0%B0", "", "repo"),
    ("legacy-path-dotdot", "/repo/a/b/%2e%2e/%2e%2e/hub/admin", "", "urlpath"),
    ("legacy-path-double-enc", "/repo/a/b/%252e%252e/x", "", "urlpath"),
    ("legacy-path-crlf", "/repo/a/b/x%0d%0aSet-Cookie:x=1", "", "urlpath"),
    ("legacy-path-backslash", "/repo/a/b/%5C%5Cevil.example", "", "urlpath"),
    ("legacy-path-javascript", "/repo/a/b/javascript:alert(1)", "", "urlpath"),
    ("legacy-missing-repo", "/repo/a", "", "repo"),
    ("legacy-query-unknown", "/repo/a/b", "memroy=64G", "memroy"),
    ("legacy-query-html-key", "/repo/a/b", "%3Cimg%3E=1", "<img>"),
    ("legacy-query-twice", "/repo/a/b", "urlpath=a&urlpath=b", "urlpath"),
    ("legacy-query-ansi-key", "/repo/a/b", "%1b%5b31m=1", "url"),
]

# ------------------------------------------------------------------ launch request bodies
# (id, body, field) — the launch API's JSON body (and the stock REST API's user_options)
REQUEST_REFUSED: list[Row] = [
    ("body-spec-and-url", {"spec": spec({}), "url": HUB + "/v2/gh/a/b/HEAD"}, "url"),
    ("body-unknown-option", {"spec": spec({}), "privileged": True}, "privileged"),
    ("body-confirmation-list", {"spec": spec({}), "confirmation": ["x"]}, "confirmation"),
    ("body-confirmation-number", {"spec": spec({}), "confirmation": 1}, "confirmation"),
    ("body-origin-string", {"spec": spec({}), "origin": "internal"}, "origin"),
    ("body-referrer-number", {"spec": spec({}), "origin": {"referrer": 1}}, "origin.referrer"),
    ("body-spec-list", {"spec": [spec({})]}, "spec"),
    ("body-url-number", {"url": 1}, "url"),
    ("body-empty", {}, "spec"),
    ("body-public-copy", {"public_copy_of": {"owner": "bob", "server": "x"}}, "public_copy_of"),
]

# ------------------------------------------------------------------- accepted but inert
# Valid by the spec's rules (git refs may hold < > " ; a urlpath query may hold anything
# percent-encoded, a confusable host is a different host): accepted, but every place that
# shows or links them must carry them escaped. (id, spec fields)
INERT: list[Row] = [
    ("inert-ref-script", {"ref": "<script>alert(1)</script>"}),
    ("inert-ref-img", {"ref": '"><img/src=x/onerror=alert(1)>'}),
    ("inert-urlpath-img", {"urlpath": 'lab/tree/"><img src=x onerror=alert(1)>.ipynb'}),
    ("inert-urlpath-query-script",
     {"urlpath": "voila/render/a.ipynb?x=<script>alert(1)</script>"}),
    ("inert-host-confusable", {"repo": "https://g\u0456thub.com/binder-examples/requirements"}),
]
# fmt: on
