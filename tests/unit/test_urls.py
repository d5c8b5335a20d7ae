"""Binder launch URLs: every provider and urlpath/labpath/filepath form, and badges.

Expectations follow BinderHub: ``binderhub/repoproviders.py`` (``tokenize_spec``,
``GitLabRepoProvider.__init__``, ``GitRepoProvider.__init__``, ``GistRepoProvider.__init__``,
``get_repo_url``), ``binderhub/main.py`` (``ParameterizedMainHandler.get`` strips trailing
``/`` of the spec; ``LegacyRedirectHandler.get``) and
``js/packages/binderhub-client/lib/index.js`` (``LaunchSpec.fromSearchParams``).
"""

from __future__ import annotations

import pytest

from versahub.errors import InputError
from versahub.spec import parse_spec
from versahub.urls import badge_html, badge_markdown, launch_url, parse_launch_url

MB = "https://mybinder.org"


@pytest.mark.parametrize(
    ("url", "provider", "repo", "ref"),
    [
        pytest.param(f"{MB}/v2/gh/binder-examples/requirements/HEAD", "gh",
                     "https://github.com/binder-examples/requirements", "HEAD", id="gh"),
        pytest.param(f"{MB}/v2/gh/org/repo.git/main", "gh", "https://github.com/org/repo", "main",
                     id="gh-dot-git"),
        pytest.param(f"{MB}/v2/gh/org/repo/feature%2Fx", "gh", "https://github.com/org/repo",
                     "feature/x", id="gh-escaped-ref"),
        pytest.param(f"{MB}/v2/gh/org/repo/feature/x", "gh", "https://github.com/org/repo",
                     "feature/x", id="gh-raw-slash-ref"),
        pytest.param(f"{MB}/v2/gh/org/repo/main/", "gh", "https://github.com/org/repo", "main",
                     id="gh-trailing-slash"),
        pytest.param(f"{MB}/v2/gl/group%2Fsub%2Frepo/main", "gl",
                     "https://gitlab.com/group/sub/repo.git", "main", id="gl-subgroup"),
        pytest.param(f"{MB}/v2/git/https%3A%2F%2Fgit.example.org%2Fa.git/v1.0", "git",
                     "https://git.example.org/a.git", "v1.0", id="git"),
        pytest.param(f"{MB}/v2/gist/user/abc123", "gist", "https://gist.github.com/user/abc123.git",
                     "HEAD", id="gist-no-ref"),
        pytest.param(f"{MB}/v2/gist/user/abc123/" + "a" * 40, "gist",
                     "https://gist.github.com/user/abc123.git", "a" * 40, id="gist-sha"),
        pytest.param(f"{MB}/v2/zenodo/10.5281/zenodo.3242074/", "zenodo",
                     "10.5281/zenodo.3242074", "HEAD", id="zenodo"),
        pytest.param(f"{MB}/v2/figshare/10.6084/m9.figshare.9782777.v1/", "figshare",
                     "10.6084/m9.figshare.9782777.v1", "HEAD", id="figshare"),
        pytest.param(f"{MB}/v2/dataverse/10.7910/DVN/TJCLKP/", "dataverse",
                     "10.7910/DVN/TJCLKP", "HEAD", id="dataverse"),
        pytest.param(f"{MB}/v2/hydroshare/b8f6eae9d89241cf8b5904033460af61", "hydroshare",
                     "https://www.hydroshare.org/resource/b8f6eae9d89241cf8b5904033460af61",
                     "HEAD", id="hydroshare"),
        pytest.param(f"{MB}/v2/ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fx/", "ckan",
                     "https://demo.ckan.org/dataset/x", "HEAD", id="ckan"),
        pytest.param("https://example.org/binder/v2/gh/org/repo/HEAD", "gh",
                     "https://github.com/org/repo", "HEAD", id="base-path"),
        pytest.param("/v2/gh/org/repo/HEAD", "gh", "https://github.com/org/repo", "HEAD",
                     id="path-only"),
        pytest.param(f"{MB}/repo/org/repo", "gh", "https://github.com/org/repo", "master",
                     id="legacy"),
    ],
)  # fmt: skip
def test_providers(url: str, provider: str, repo: str, ref: str) -> None:
    spec = parse_launch_url(url)
    assert (spec.provider, spec.repo, spec.ref) == (provider, repo, ref)


@pytest.mark.parametrize(
    ("query", "urlpath"),
    [
        pytest.param("", "", id="none"),
        pytest.param("?urlpath=lab/tree/a.ipynb", "lab/tree/a.ipynb", id="urlpath"),
        pytest.param("?urlpath=%2Flab%2Ftree%2Fa.ipynb", "lab/tree/a.ipynb", id="urlpath-escaped"),
        pytest.param("?labpath=a.ipynb", "doc/tree/a.ipynb", id="labpath"),
        pytest.param("?labpath=dir/", "doc/tree/dir", id="labpath-trailing-slash"),
        pytest.param("?labpath=my%20nb.ipynb", "doc/tree/my%20nb.ipynb", id="labpath-encodeURI"),
        pytest.param("?filepath=a.ipynb", "tree/a.ipynb", id="filepath"),
        pytest.param("?filepath=a.ipynb&urlpath=rstudio", "tree/a.ipynb", id="filepath-wins"),
        pytest.param("?urlpath=rstudio&labpath=a.ipynb&filepath=b.ipynb", "doc/tree/a.ipynb",
                     id="labpath-wins"),
        pytest.param("?labpath=", "doc/tree/", id="empty-labpath-still-wins"),
        pytest.param("?urlpath=voila%2Frender%2Fa.ipynb%3Fvoila-theme%3Ddark",
                     "voila/render/a.ipynb?voila-theme=dark", id="urlpath-with-query"),
        pytest.param("?utm_source=x&fbclid=y", "", id="tracking-ignored"),
    ],
)  # fmt: skip
def test_paths(query: str, urlpath: str) -> None:
    assert parse_launch_url(f"{MB}/v2/gh/org/repo/HEAD{query}").urlpath == urlpath


def test_legacy_path_becomes_urlpath() -> None:
    # LegacyRedirectHandler: url_concat(url, dict(urlpath=urlpath)) with the leading "/"
    assert parse_launch_url(f"{MB}/repo/org/repo/notebooks/a.ipynb").urlpath == (
        "notebooks/a.ipynb"
    )


def test_versahub_params() -> None:
    spec = parse_launch_url(
        "https://hub/v2/gh/o/r/HEAD?server_name=week-1&mount=home:/home/jovyan/work:rw"
        "&mount=ds101:/home/jovyan/shared&collaborator=bob&collaborator=group:ta&public=yes"
        "&credentials=1&internet=false&memory=2G&cpu=0.5&max_duration=8h&idle_timeout=30m",
        owner="alice",
    )
    assert spec.server_name == "week-1"
    assert [(m.volume, m.mode) for m in spec.mounts] == [("ds101", "ro"), ("home", "rw")]
    assert spec.collaborators == ("bob", "group:ta")
    assert (spec.public_readonly, spec.credentials, spec.internet) == (True, True, False)
    assert spec.resources.limits() == {
        "memory_bytes": 2 * 1024**3,
        "cpu": 0.5,
        "max_duration_seconds": 8 * 3600,
        "idle_timeout_seconds": 1800,
    }


@pytest.mark.parametrize(
    ("url", "field"),
    [
        pytest.param(f"{MB}/v2/svn/x/y/HEAD", "provider", id="unknown-provider"),
        pytest.param(f"{MB}/v2/gh/org/repo", "ref", id="gh-missing-ref"),
        pytest.param(f"{MB}/v2/gh/org/repo/--upload-pack=x", "ref", id="option-injection"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?urlpath=javascript:alert(1)", "urlpath",
                     id="javascript"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?urlpath=%2F%2Fevil.example", "urlpath",
                     id="protocol-relative"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?urlpath=..%2F..%2Fhub%2Fadmin", "urlpath",
                     id="urlpath-traversal"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?labpath=..%2F..%2Fhub", "labpath",
                     id="labpath-traversal"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?filepath=..", "filepath", id="filepath-dotdot"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?memroy=8G", "memroy", id="typo-param"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?public=maybe", "public_readonly", id="bad-bool"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?cpu=1e3", "resources.cpu", id="bad-cpu"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?server_name=a&server_name=b", "server_name",
                     id="repeated-single"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?mount=home", "mounts[0]", id="bad-mount"),
        pytest.param(f"{MB}/v2/gh/org/repo/HEAD?mount=home:/etc:rw", "mounts[0].path",
                     id="mount-etc"),
        pytest.param(f"{MB}/v2/git/file%3A%2F%2F%2Fetc%2Fpasswd/HEAD", "repo", id="git-file"),
        pytest.param(f"{MB}/v2/git/ext%3A%3Ash%20-c%20id/HEAD", "repo", id="git-ext"),
        pytest.param(f"{MB}/v2/git/https%3A%2F%2Fu%3Ap%40h.org%2Fa/HEAD", "repo",
                     id="git-credentials"),
        pytest.param("javascript:alert(1)", "url", id="javascript-url"),
        pytest.param("ftp://mybinder.org/v2/gh/a/b/HEAD", "url", id="ftp"),
        pytest.param(f"{MB}/lab/tree", "url", id="not-a-launch-url"),
        pytest.param(f"{MB}/v2/gh/a/b/HEAD?x=\x00", "url", id="nul"),
        pytest.param(f"{MB}/v2/gh/a/b/HEAD?urlpath=" + "a" * 9000, "url", id="too-long"),
    ],
)  # fmt: skip
def test_rejected(url: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        parse_launch_url(url)
    assert info.value.field == field, str(info.value)


HUB = "https://hub.example.org/"


def test_launch_url_is_canonical_and_round_trips() -> None:
    spec = parse_spec(
        {
            "repo": "gl:group/sub/repo",
            "ref": "feature/x",
            "urlpath": "lab/tree/my nb.ipynb",
            "collaborators": ["bob"],
            "resources": {"cpu": 0.5, "memory": "1536M"},
        }
    )
    url = launch_url(spec, HUB)
    assert url == (
        "https://hub.example.org/v2/gl/group%2Fsub%2Frepo/feature%2Fx"
        "?urlpath=lab/tree/my%2520nb.ipynb&collaborator=bob&memory=1536M&cpu=0.5"
    )
    assert parse_launch_url(url) == spec


def test_mybinder_url_only_host_changed() -> None:
    url = "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD?labpath=index.ipynb"
    mine = url.replace("mybinder.org", "hub.example.org")
    assert parse_launch_url(mine) == parse_launch_url(url)
    assert launch_url(parse_launch_url(url), HUB) == (
        "https://hub.example.org/v2/gh/binder-examples/requirements/HEAD"
        "?urlpath=doc/tree/index.ipynb"
    )


def test_badges_are_escaped() -> None:
    spec = parse_spec({"repo": "gh:o/r", "collaborators": ["a", "b"]})
    md = badge_markdown(spec, HUB)
    assert md == (
        "[![Launch on VersaHub](https://hub.example.org/badge.svg)]"
        "(https://hub.example.org/v2/gh/o/r/HEAD?collaborator=a&collaborator=b)"
    )
    html = badge_html(spec, HUB)
    assert "&amp;collaborator=b" in html
    assert html.startswith('<a href="https://hub.example.org/v2/gh/o/r/HEAD?')
    assert '<img src="https://hub.example.org/badge.svg" alt="Launch on VersaHub">' in html


def test_dataverse_doi_with_parens_stays_markdown_safe() -> None:
    spec = parse_spec({"repo": "dataverse:10.7910/DVN(1)"})
    assert "(" not in launch_url(spec, HUB)
    assert parse_launch_url(launch_url(spec, HUB)) == spec


@pytest.mark.parametrize(
    "hub",
    ["ftp://x", "https://u:p@hub", "https://hub/?q=1", "https://hub/#x", "hub.example", "",
     'https://hub/"><script>'],
)  # fmt: skip
def test_bad_hub_url(hub: str) -> None:
    with pytest.raises(InputError) as info:
        launch_url(parse_spec({"repo": "gh:o/r"}), hub)
    assert info.value.field == "hub"


def test_base_path_that_looks_like_legacy_route() -> None:
    spec = parse_launch_url("https://example.org/repo/v2/gh/org/repo/HEAD")
    assert (spec.repo, spec.ref) == ("https://github.com/org/repo", "HEAD")


def test_lone_surrogate_is_input_error() -> None:
    with pytest.raises(InputError) as info:
        parse_spec({"repo": "gh:o/r", "urlpath": "a\ud800"})
    assert info.value.field == "urlpath"
