"""Accepted and rejected forms of every ServerSpec field (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from versahub.errors import InputError, shorten
from versahub.spec import ServerSpec, parse_spec, random_server_name
from versahub.spec.names import validate_server_name
from versahub.spec.sizes import LIMIT_KEYS, limits_of

BASE = {"repo": "gh:binder-examples/requirements"}


def spec(**fields: Any) -> ServerSpec:
    return parse_spec({**BASE, **fields})


def rejects(field: str, data: dict[str, Any], **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        parse_spec(data, **kwargs)
    assert info.value.field == field, str(info.value)
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- repo
@pytest.mark.parametrize(
    ("repo", "provider", "canonical", "host", "port"),
    [
        pytest.param("https://github.com/org/repo", "gh", "https://github.com/org/repo",
                     "github.com", 443, id="github-url"),
        pytest.param("https://github.com/org/repo.git", "gh", "https://github.com/org/repo",
                     "github.com", 443, id="github-url-dot-git"),
        pytest.param("https://GitHub.com/org/repo/", "gh", "https://github.com/org/repo",
                     "github.com", 443, id="github-url-case-slash"),
        pytest.param("gh:org/repo", "gh", "https://github.com/org/repo", "github.com", 443,
                     id="gh-form"),
        pytest.param("gl:group/sub/repo", "gl", "https://gitlab.com/group/sub/repo.git",
                     "gitlab.com", 443, id="gitlab-subgroup"),
        pytest.param("https://gitlab.com/group/repo.git", "gl",
                     "https://gitlab.com/group/repo.git", "gitlab.com", 443, id="gitlab-url"),
        pytest.param("gist:user/0123abcd", "gist", "https://gist.github.com/user/0123abcd.git",
                     "gist.github.com", 443, id="gist-form"),
        pytest.param("git:https%3A%2F%2Fgit.example.org%2Fa%2Fb.git", "git",
                     "https://git.example.org/a/b.git", "git.example.org", 443, id="git-escaped"),
        pytest.param("https://git.example.org:8443/a/b", "git", "https://git.example.org:8443/a/b",
                     "git.example.org", 8443, id="git-port"),
        pytest.param("http://git.example.org/a/b", "git", "http://git.example.org/a/b",
                     "git.example.org", 80, id="http-is-policy"),
        pytest.param("https://[::1]/a/b", "git", "https://[::1]/a/b", "::1", 443, id="ipv6"),
        pytest.param("https://10.0.0.5/a/b", "git", "https://10.0.0.5/a/b", "10.0.0.5", 443,
                     id="ip-literal"),
        pytest.param("https://bücher.example/a/b", "git", "https://xn--bcher-kva.example/a/b",
                     "xn--bcher-kva.example", 443, id="idna"),
        pytest.param("zenodo:10.5281/zenodo.3242074", "zenodo", "10.5281/zenodo.3242074",
                     "doi.org", 443, id="zenodo"),
        pytest.param("figshare:10.6084/m9.figshare.9782777.v1", "figshare",
                     "10.6084/m9.figshare.9782777.v1", "doi.org", 443, id="figshare"),
        pytest.param("dataverse:10.7910/DVN/TJCLKP", "dataverse", "10.7910/DVN/TJCLKP",
                     "doi.org", 443, id="dataverse"),
        pytest.param("hydroshare:b8f6eae9d89241cf8b5904033460af61", "hydroshare",
                     "https://www.hydroshare.org/resource/b8f6eae9d89241cf8b5904033460af61",
                     "www.hydroshare.org", 443, id="hydroshare"),
        pytest.param("ckan:https://demo.ckan.org/dataset/x", "ckan",
                     "https://demo.ckan.org/dataset/x", "demo.ckan.org", 443, id="ckan"),
    ],
)  # fmt: skip
def test_repo_accepted(repo: str, provider: str, canonical: str, host: str, port: int) -> None:
    s = spec(repo=repo)
    assert (s.provider, s.repo) == (provider, canonical)
    assert s.to_dict()["source"]["host"] == host
    assert s.source.port == port


def test_bare_doi_needs_provider() -> None:
    s = parse_spec({"repo": "10.5281/zenodo.1", "provider": "zenodo"})
    assert s.provider == "zenodo"
    rejects("repo", {"repo": "10.5281/zenodo.1"})


@pytest.mark.parametrize(
    "repo",
    [
        pytest.param("file:///etc/passwd", id="file-scheme"),
        pytest.param("ssh://git@github.com/a/b", id="ssh-scheme"),
        pytest.param("git://github.com/a/b", id="git-protocol"),
        pytest.param("ext::sh -c touch% /tmp/pwned", id="ext-remote-helper"),
        pytest.param("ext::sh", id="ext-no-space"),
        pytest.param("git+ssh://host/a", id="git-plus-ssh"),
        pytest.param("git@github.com:org/repo.git", id="scp-like"),
        pytest.param("https://user:pass@github.com/a/b", id="credentials"),
        pytest.param("https://token@git.example.org/a/b", id="token-userinfo"),
        pytest.param("-uhttps://x/a", id="leading-dash"),
        pytest.param("https://example.org/a b", id="space"),
        pytest.param("https://example.org/a\x00b", id="nul"),
        pytest.param("https://example.org/a?x=1", id="query"),
        pytest.param("https://example.org/a#frag", id="fragment"),
        pytest.param("https://example.org", id="no-path"),
        pytest.param("https://example.org/../etc", id="dot-dot"),
        pytest.param("https://example.org:99999/a", id="bad-port"),
        pytest.param("https://exa_mple.org/a", id="bad-host"),
        pytest.param("https://github.com/org", id="github-no-repo"),
        pytest.param("https://github.com/org/repo/tree/main", id="github-extra-path"),
        pytest.param("gh:org", id="gh-one-part"),
        pytest.param("gl:repo", id="gl-one-part"),
        pytest.param("bitbucket:org/repo", id="unknown-provider"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("zenodo:not-a-doi", id="zenodo-bad-doi"),
        pytest.param("hydroshare:xyz", id="hydroshare-bad-id"),
        pytest.param("x" * 10_000, id="10kB"),
        pytest.param("", id="empty"),
        pytest.param("org/repo", id="no-scheme"),
    ],
)
def test_repo_rejected(repo: str) -> None:
    rejects("repo", {"repo": repo})


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["https://github.com/a/b"], id="list"),
        pytest.param(42, id="number"),
        pytest.param(None, id="null"),
        pytest.param({"url": "x"}, id="mapping"),
    ],
)
def test_repo_wrong_type(value: object) -> None:
    rejects("repo", {"repo": value})


def test_provider_mismatch() -> None:
    rejects("provider", {"repo": "gh:a/b", "provider": "zenodo"})
    rejects("provider", {"repo": "gh:a/b", "provider": "svn"})


# ----------------------------------------------------------------------------- ref
@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("HEAD", id="head"),
        pytest.param("main", id="branch"),
        pytest.param("feature/x-1", id="slash-branch"),
        pytest.param("v1.2.3", id="tag"),
        pytest.param("a" * 40, id="sha1"),
        pytest.param("b" * 64, id="sha256"),
    ],
)
def test_ref_accepted(ref: str) -> None:
    assert spec(ref=ref).ref == ref


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("--upload-pack=touch /tmp/x", id="option-injection"),
        pytest.param("-b", id="leading-dash"),
        pytest.param("a..b", id="dot-dot"),
        pytest.param("a@{1}", id="at-brace"),
        pytest.param("main.lock", id="dot-lock"),
        pytest.param("a/.hidden", id="dot-component"),
        pytest.param("a~1", id="tilde"),
        pytest.param("a^", id="caret"),
        pytest.param("a:b", id="colon"),
        pytest.param("a?", id="question"),
        pytest.param("a*", id="star"),
        pytest.param("a[b", id="bracket"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("a b", id="space"),
        pytest.param("a\x00", id="nul"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("a//b", id="double-slash"),
        pytest.param("a.", id="trailing-dot"),
        pytest.param("@", id="at"),
        pytest.param("", id="empty"),
        pytest.param("r" * 256, id="too-long"),
        pytest.param(1.0, id="number"),
    ],
)
def test_ref_rejected(ref: object) -> None:
    rejects("ref", {**BASE, "ref": ref})


def test_data_provider_ref_must_be_head() -> None:
    rejects("ref", {"repo": "zenodo:10.5281/zenodo.1", "ref": "main"})


# ----------------------------------------------------------------------------- urlpath
@pytest.mark.parametrize(
    ("urlpath", "canonical"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("lab/tree/index.ipynb", "lab/tree/index.ipynb", id="lab"),
        pytest.param("/lab/tree/index.ipynb", "lab/tree/index.ipynb", id="leading-slash"),
        pytest.param("doc/tree/x.ipynb", "doc/tree/x.ipynb", id="doc"),
        pytest.param("tree/", "tree/", id="tree-dir"),
        pytest.param("voila/render/a.ipynb", "voila/render/a.ipynb", id="voila"),
        pytest.param("voila/render/a.ipynb?voila-theme=dark",
                     "voila/render/a.ipynb?voila-theme=dark", id="query"),
        pytest.param("lab/tree/my notebook.ipynb", "lab/tree/my%20notebook.ipynb", id="space"),
        pytest.param("lab/tree/my%20notebook.ipynb", "lab/tree/my%20notebook.ipynb", id="escaped"),
        pytest.param("rstudio", "rstudio", id="rstudio"),
        pytest.param("a//b", "a/b", id="double-slash-collapsed"),
        pytest.param("/tree//x//y.ipynb", "tree/x/y.ipynb", id="leading-and-inner-double-slash"),
        pytest.param("lab/tree///x/", "lab/tree/x/", id="triple-slash-trailing-kept"),
        pytest.param("voila/render/a.ipynb?x=a//b", "voila/render/a.ipynb?x=a//b",
                     id="query-slashes-untouched"),
    ],
)  # fmt: skip
def test_urlpath_accepted(urlpath: str, canonical: str) -> None:
    assert spec(urlpath=urlpath).urlpath == canonical


@pytest.mark.parametrize(
    "urlpath",
    [
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("JavaScript:alert(1)", id="javascript-case"),
        pytest.param("http://evil.example/", id="http"),
        pytest.param("data:text/html,x", id="data"),
        pytest.param("//evil.example/x", id="protocol-relative"),
        pytest.param("../../hub/admin", id="dot-dot"),
        pytest.param("lab/../../hub", id="inner-dot-dot"),
        pytest.param("lab/%2e%2e/%2e%2e/hub", id="encoded-dot-dot"),
        pytest.param("lab/%252e%252e/hub", id="double-encoded-dot-dot"),
        pytest.param("lab/%2E%2E%2Fhub", id="encoded-slash"),
        pytest.param("lab\\..\\hub", id="backslash"),
        pytest.param("lab/%5c..", id="encoded-backslash"),
        pytest.param("lab/\x00", id="nul"),
        pytest.param("lab/%00x", id="encoded-nul"),
        pytest.param("lab/a#b", id="fragment"),
        pytest.param("lab/%zz", id="bad-escape"),
        pytest.param("///evil.example/x", id="triple-leading-slash"),
        pytest.param("lab/%2F%2Fevil.example", id="encoded-double-slash"),
        pytest.param("lab//..//hub", id="dot-dot-between-double-slashes"),
        pytest.param("lab/.%2e/hub", id="mixed-encoded-dot-dot"),
        pytest.param("a" * 3000, id="too-long"),
        pytest.param(["lab"], id="list"),
    ],
)
def test_urlpath_rejected(urlpath: object) -> None:
    rejects("urlpath", {**BASE, "urlpath": urlpath})


# ----------------------------------------------------------------------------- server_name
@pytest.mark.parametrize("name", ["", "analysis", "a", "ds101-week-3", "x" * 30, "a1-b2"])
def test_server_name_accepted(name: str) -> None:
    assert spec(server_name=name).server_name == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Analysis", id="uppercase"),
        pytest.param("1abc", id="leading-digit"),
        pytest.param("-abc", id="leading-dash"),
        pytest.param("abc-", id="trailing-dash"),
        pytest.param("a--b", id="double-dash"),
        pytest.param("a/b", id="slash"),
        pytest.param("a.b", id="dot"),
        pytest.param("a_b", id="underscore"),
        pytest.param("a b", id="space"),
        pytest.param("x" * 31, id="too-long"),
        pytest.param("n" * 10_000, id="10kB"),
        pytest.param(7, id="number"),
    ],
)
def test_server_name_rejected(name: object) -> None:
    rejects("server_name", {**BASE, "server_name": name})


def test_server_name_rule_matches_jupyterhub() -> None:
    slugs = pytest.importorskip("jupyterhub.slugs")
    for name in ["analysis", "a--b", "abc-", "1a", "x" * 30, "x" * 31, "ab-c9", "a.b"]:
        ok = True
        try:
            validate_server_name("server_name", name)
        except InputError:
            ok = False
        assert ok == slugs.is_valid_safe_slug(name), name


def test_random_server_name_is_valid() -> None:
    import random

    rng = random.Random(1)
    for _ in range(200):
        name = random_server_name(rng)
        assert validate_server_name("server_name", name) == name


# ----------------------------------------------------------------------------- mounts
def test_mounts_accepted_sorted_and_default_mode() -> None:
    s = spec(
        mounts=[
            {"volume": "ds101-shared", "path": "/home/jovyan/shared"},
            {"volume": "home", "path": "/home/jovyan/work/", "mode": "rw"},
        ]
    )
    assert [(m.volume, m.path, m.mode) for m in s.mounts] == [
        ("ds101-shared", "/home/jovyan/shared", "ro"),
        ("home", "/home/jovyan/work", "rw"),
    ]


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        pytest.param({"volume": "home", "path": "/home/jovyan/../../etc"}, "mounts[0].path",
                     id="traversal"),
        pytest.param({"volume": "home", "path": "relative/path"}, "mounts[0].path", id="relative"),
        pytest.param({"volume": "home", "path": "/"}, "mounts[0].path", id="root"),
        pytest.param({"volume": "home", "path": "/etc/cron.d"}, "mounts[0].path", id="etc"),
        pytest.param({"volume": "home", "path": "/proc"}, "mounts[0].path", id="proc"),
        pytest.param({"volume": "home", "path": "/var/run/docker.sock"}, "mounts[0].path",
                     id="docker-socket"),
        pytest.param({"volume": "home", "path": "/usr/bin"}, "mounts[0].path", id="usr"),
        pytest.param({"volume": "home", "path": "/srv/conda"}, "mounts[0].path", id="conda"),
        pytest.param({"volume": "home", "path": "/a//b"}, "mounts[0].path", id="double-slash"),
        pytest.param({"volume": "home", "path": "/a/./b"}, "mounts[0].path", id="dot"),
        pytest.param({"volume": "home", "path": "/a b"}, "mounts[0].path", id="space"),
        pytest.param({"volume": "home", "path": "/a\x00"}, "mounts[0].path", id="nul"),
        pytest.param({"volume": "Home", "path": "/data"}, "mounts[0].volume", id="volume-case"),
        pytest.param({"volume": "../x", "path": "/data"}, "mounts[0].volume", id="volume-dots"),
        pytest.param({"volume": "home", "path": "/data", "mode": "rwx"}, "mounts[0].mode",
                     id="mode"),
        pytest.param({"volume": "home", "path": "/data", "uid": 0}, "mounts[0].uid",
                     id="unknown-key"),
        pytest.param({"path": "/data"}, "mounts[0].volume", id="missing-volume"),
        pytest.param("home:/data", "mounts[0]", id="string"),
    ],
)  # fmt: skip
def test_mount_rejected(mount: object, field: str) -> None:
    rejects(field, {**BASE, "mounts": [mount]})


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/home/jovyan/.local/bin", id="hidden-local-bin"),
        pytest.param("/home/jovyan/.cache", id="hidden-cache"),
        pytest.param("/home/jovyan/.local/share/jupyter/", id="hidden-trailing-slash"),
        pytest.param("/data/...", id="three-dots-is-a-name"),
    ],
)
def test_mount_hidden_folders_accepted(path: str) -> None:
    mount = spec(mounts=[{"volume": "home", "path": path}]).mounts[0]
    assert mount.path == path.rstrip("/")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        pytest.param("/home/jovyan/./x", "must be normalised (no //, . or ..)", id="dot"),
        pytest.param("/home/jovyan/..", "must be normalised (no //, . or ..)", id="dot-dot"),
        pytest.param("/home/jovyan/a:b", "may only contain letters, digits and . _ @ + -",
                     id="colon"),
        pytest.param("/home/jovyan/caf\xe9", "may only contain letters, digits and . _ @ + -",
                     id="non-ascii"),
        pytest.param("/etc/.hidden", "must not be inside the system directory /etc",
                     id="hidden-under-etc"),
        pytest.param("/usr/local/bin", "must not be inside the system directory /usr",
                     id="usr-local-bin"),
        pytest.param("/home/", "must not be /home", id="home"),
    ],
)  # fmt: skip
def test_mount_path_reason_names_the_rule(path: str, reason: str) -> None:
    err = rejects("mounts[0].path", {**BASE, "mounts": [{"volume": "home", "path": path}]})
    assert err.reason.startswith(reason), err.reason


def test_mount_duplicate_path() -> None:
    mounts = [{"volume": "a", "path": "/data"}, {"volume": "b", "path": "/data/"}]
    rejects("mounts[1].path", {**BASE, "mounts": mounts})


def test_mount_volume_catalogue() -> None:
    data = {**BASE, "mounts": [{"volume": "secret", "path": "/data"}]}
    rejects("mounts[0].volume", data, volumes={"home"})
    assert parse_spec(data, volumes={"secret"}).mounts[0].volume == "secret"


def test_too_many_mounts() -> None:
    mounts = [{"volume": "v", "path": f"/d{i}"} for i in range(33)]
    rejects("mounts", {**BASE, "mounts": mounts})


# ----------------------------------------------------------------------------- collaborators
def test_collaborators_sorted() -> None:
    s = spec(collaborators=["group:ds101-teachers", "bob", "alice@uni.example"])
    assert s.collaborators == ("alice@uni.example", "bob", "group:ds101-teachers")


@pytest.mark.parametrize(
    ("collaborators", "field"),
    [
        pytest.param(["Bob"], "collaborators[0]", id="uppercase"),
        pytest.param(["bob", "bob"], "collaborators[1]", id="duplicate"),
        pytest.param(["alice"], "collaborators[0]", id="owner"),
        pytest.param(["group:"], "collaborators[0]", id="empty-group"),
        pytest.param(["-bob"], "collaborators[0]", id="leading-dash"),
        pytest.param(["bob smith"], "collaborators[0]", id="space"),
        pytest.param(["b" * 65], "collaborators[0]", id="too-long"),
        pytest.param(["a/b"], "collaborators[0]", id="slash"),
        pytest.param([None], "collaborators[0]", id="null"),
        pytest.param("bob", "collaborators", id="not-a-list"),
    ],
)
def test_collaborators_rejected(collaborators: object, field: str) -> None:
    rejects(field, {**BASE, "collaborators": collaborators}, owner="alice")


# ----------------------------------------------------------------------------- booleans
@pytest.mark.parametrize("key", ["public_readonly", "credentials", "internet"])
@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, "yes"])
def test_booleans_are_strict(key: str, value: object) -> None:
    rejects(key, {**BASE, key: value})


def test_defaults() -> None:
    s = spec()
    assert (s.ref, s.urlpath, s.server_name, s.mounts, s.collaborators) == ("HEAD", "", "", (), ())
    assert (s.public_readonly, s.credentials, s.internet) == (False, False, True)
    assert s.resources.limits() == {
        "memory_bytes": None,
        "cpu": None,
        "max_duration_seconds": None,
        "idle_timeout_seconds": None,
    }


# ----------------------------------------------------------------------------- resources
@pytest.mark.parametrize(
    ("memory", "canonical", "nbytes"),
    [
        pytest.param("512M", "512M", 512 * 1024**2, id="mega"),
        pytest.param("2G", "2G", 2 * 1024**3, id="giga"),
        pytest.param("2g", "2G", 2 * 1024**3, id="lowercase"),
        pytest.param("2Gi", "2G", 2 * 1024**3, id="gi"),
        pytest.param("2GiB", "2G", 2 * 1024**3, id="gib"),
        pytest.param("1.5G", "1536M", 1536 * 1024**2, id="decimal"),
        pytest.param("2048M", "2G", 2 * 1024**3, id="normalised"),
        pytest.param("1T", "1T", 1024**4, id="tera"),
        pytest.param(1073741824, "1G", 1024**3, id="int-bytes"),
    ],
)
def test_memory_accepted(memory: object, canonical: str, nbytes: int) -> None:
    r = spec(resources={"memory": memory}).resources
    assert (r.memory, r.limits()["memory_bytes"]) == (canonical, nbytes)


@pytest.mark.parametrize(
    "memory",
    ["2X", "-1G", "G", "", "2 G", "1K", "100T", "1.0000001G", True, 2.5, ["2G"], "2G\x00"],
)
def test_memory_rejected(memory: object) -> None:
    rejects("resources.memory", {**BASE, "resources": {"memory": memory}})


@pytest.mark.parametrize(("cpu", "value"), [(0.5, 0.5), (1, 1.0), (2.25, 2.25), (256, 256.0)])
def test_cpu_accepted(cpu: float, value: float) -> None:
    assert spec(resources={"cpu": cpu}).resources.cpu == value


@pytest.mark.parametrize("cpu", [0, -1, 257, 0.0001, "1", True, float("nan"), float("inf")])
def test_cpu_rejected(cpu: object) -> None:
    rejects("resources.cpu", {**BASE, "resources": {"cpu": cpu}})


@pytest.mark.parametrize(
    ("text", "canonical", "seconds"),
    [
        pytest.param("30s", "30s", 30, id="seconds"),
        pytest.param("90m", "1h30m", 5400, id="minutes"),
        pytest.param("8h", "8h", 28800, id="hours"),
        pytest.param("2d", "2d", 172800, id="days"),
        pytest.param("1h30m", "1h30m", 5400, id="compound"),
        pytest.param("24h", "1d", 86400, id="normalised"),
        pytest.param(3600, "1h", 3600, id="int-seconds"),
    ],
)
def test_duration_accepted(text: object, canonical: str, seconds: int) -> None:
    r = spec(resources={"max_duration": text, "idle_timeout": text}).resources
    limits = r.limits()
    assert (r.max_duration, limits["max_duration_seconds"]) == (canonical, seconds)
    assert (r.idle_timeout, limits["idle_timeout_seconds"]) == (canonical, seconds)


@pytest.mark.parametrize("text", ["", "0s", "8", "h", "1w", "30m1h", "-1h", "400d", True, 1.5])
def test_duration_rejected(text: object) -> None:
    rejects("resources.max_duration", {**BASE, "resources": {"max_duration": text}})


@pytest.mark.parametrize(
    ("resources", "fallback", "expected"),
    [
        pytest.param(
            {"memory": "2G", "cpu": 1, "max_duration": "8h", "idle_timeout": "1h"},
            None,
            (2 * 1024**3, 1.0, 28800, 3600),
            id="all-given",
        ),
        pytest.param({"memory": None, "cpu": ""}, None, (None, None, None, None), id="none-given"),
        pytest.param(
            {"cpu": 16},
            {"memory_bytes": 1, "cpu": 2.0, "max_duration_seconds": 3, "idle_timeout_seconds": 4},
            (1, 16.0, 3, 4),
            id="fallback-fills-the-rest",
        ),
    ],
)
def test_limits_of_converts_one_way(resources: dict, fallback: Any, expected: tuple) -> None:
    limits = limits_of(resources, "caps", fallback)
    assert tuple(limits[key] for key in LIMIT_KEYS) == expected


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        pytest.param({"memory": "512K"}, "caps.memory", id="memory-below-1M"),
        pytest.param({"cpu": "2"}, "caps.cpu", id="cpu-text"),
        pytest.param({"max_duration": "30m1h"}, "caps.max_duration", id="duration-order"),
        pytest.param({"idle_timeout": "0s"}, "caps.idle_timeout", id="duration-zero"),
    ],
)
def test_limits_of_names_the_field(resources: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        limits_of(resources, "caps")
    assert err.value.field == field


def test_resources_unknown_key_and_type() -> None:
    rejects("resources.gpu", {**BASE, "resources": {"gpu": 1}})
    rejects("resources", {**BASE, "resources": "2G"})


# ----------------------------------------------------------------------------- top level
def test_unknown_key_named() -> None:
    rejects("image", {**BASE, "image": "evil:latest"})


def test_derived_keys_rejected_by_parse_but_ignored_by_from_dict() -> None:
    rejects("spec_id", {**BASE, "spec_id": "0" * 16})
    doc = spec().to_dict()
    doc["spec_id"] = "not-the-hash"
    assert ServerSpec.from_dict(doc) == spec()


def test_missing_repo_and_non_mapping() -> None:
    rejects("repo", {})
    with pytest.raises(InputError) as info:
        parse_spec(["repo"])  # type: ignore[arg-type]
    assert info.value.field == "spec"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"resources": {"\n": None}}, id="newline-key"),
        pytest.param({"\x1b[31m": 1}, id="escape-sequence-key"),
        pytest.param({"a b": 1}, id="space-in-key"),
    ],
)
def test_unknown_unprintable_keys_never_reach_the_field_name(data: dict) -> None:
    with pytest.raises(InputError) as err:
        parse_spec({"repo": "gh:o/r", **data})
    assert err.value.field.isprintable() and " " not in err.value.field
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


# ----------------------------------------------------------------------------- echoed values
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param("\x1b[31m", r"'\x1b[31m'", id="terminal-escape"),
        pytest.param("a\nb\tc\x00", r"'a\nb\tc\x00'", id="controls"),
        pytest.param("caf\xe9\u202e", r"'caf\xe9\u202e'", id="non-ascii-and-bidi"),
        pytest.param("a\\b", r"'a\\b'", id="a-real-backslash-is-shown-as-one-escape"),
        pytest.param("it's", '"it\'s"', id="quote-as-repr"),
        pytest.param("x" * 100, "'" + "x" * 59 + "…'", id="cut"),
        pytest.param("\x1b" * 30, "'" + r"\x1b" * 14 + "…'", id="cut-never-inside-an-escape"),
    ],
)
def test_shorten_escapes_once(value: str, shown: str) -> None:
    assert shorten(value) == shown
    if "…" not in shown:
        assert shown == ascii(value)  # exactly what Python shows, escaped once


def test_error_messages_show_control_characters_escaped_once() -> None:
    err = rejects("urlpath", {**BASE, "urlpath": "lab/\x1b[31m"})
    assert r"'lab/\x1b[31m'" in str(err) and "\x1b" not in str(err)
    assert r"\\x1b" not in str(err)
