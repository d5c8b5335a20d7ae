"""Binder links as READMEs write them: leading and repeated slashes, and legacy /repo/ links.

BinderHub's launch client (``LaunchSpec.fromSearchParams``) turns ``labpath=X`` into
``doc/tree/`` + ``encodeURI(X)`` and ``filepath=X`` into ``tree/`` + ``encodeURI(X)``, then
drops the leading ``/`` of the whole urlpath; ``filepath=/x`` therefore opens
``tree//x``, which Jupyter serves as ``tree/x``. VersaHub normalises those links to
``tree/x`` instead of refusing them, and keeps refusing everything that leaves or climbs
out of the server. ``/repo/<user>/<repo>[/<path>]`` redirects as BinderHub's
``LegacyRedirectHandler`` does.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from versahub.errors import InputError
from versahub.urls import legacy_redirect, parse_launch_url

MB = "https://mybinder.org"
GH = f"{MB}/v2/gh/binder-examples/requirements/HEAD"
REQS = "https://github.com/binder-examples/requirements"


# ------------------------------------------------------------------ leading and double slashes
@pytest.mark.parametrize(
    ("url", "repo", "ref", "urlpath"),
    [
        # filepath=X -> tree/X
        pytest.param(f"{GH}?filepath=/index.ipynb", REQS, "HEAD", "tree/index.ipynb",
                     id="filepath-leading-slash"),
        pytest.param(f"{GH}?filepath=%2Findex.ipynb", REQS, "HEAD", "tree/index.ipynb",
                     id="filepath-leading-slash-encoded"),
        pytest.param(f"{GH}?filepath=%2Fnotebooks%2Fintro.ipynb", REQS, "HEAD",
                     "tree/notebooks/intro.ipynb", id="filepath-all-slashes-encoded"),
        pytest.param(f"{GH}?filepath=//index.ipynb", REQS, "HEAD", "tree/index.ipynb",
                     id="filepath-two-leading-slashes"),
        pytest.param(f"{GH}?filepath=%2F%2F%2Findex.ipynb", REQS, "HEAD", "tree/index.ipynb",
                     id="filepath-three-leading-slashes-encoded"),
        pytest.param(f"{GH}?filepath=notebooks//intro.ipynb", REQS, "HEAD",
                     "tree/notebooks/intro.ipynb", id="filepath-inner-double-slash"),
        pytest.param(f"{GH}?filepath=/notebooks/", REQS, "HEAD", "tree/notebooks",
                     id="filepath-leading-and-trailing-slash"),
        pytest.param(f"{GH}?filepath=/", REQS, "HEAD", "tree/", id="filepath-only-slash"),
        pytest.param(f"{GH}?filepath=/my%20nb.ipynb", REQS, "HEAD", "tree/my%20nb.ipynb",
                     id="filepath-leading-slash-space"),
        # labpath=X -> doc/tree/X
        pytest.param(f"{GH}?labpath=/index.ipynb", REQS, "HEAD", "doc/tree/index.ipynb",
                     id="labpath-leading-slash"),
        pytest.param(f"{GH}?labpath=%2Findex.ipynb", REQS, "HEAD", "doc/tree/index.ipynb",
                     id="labpath-leading-slash-encoded"),
        pytest.param(f"{GH}?labpath=%2Fdir%2Fsub%2Fa.ipynb", REQS, "HEAD",
                     "doc/tree/dir/sub/a.ipynb", id="labpath-all-slashes-encoded"),
        pytest.param(f"{GH}?labpath=%2F%2Fdir%2F%2Fa.ipynb", REQS, "HEAD", "doc/tree/dir/a.ipynb",
                     id="labpath-double-slashes-encoded"),
        pytest.param(f"{GH}?labpath=//dir///a.ipynb", REQS, "HEAD", "doc/tree/dir/a.ipynb",
                     id="labpath-double-and-triple-slashes"),
        pytest.param(f"{GH}?labpath=/", REQS, "HEAD", "doc/tree/", id="labpath-only-slash"),
        pytest.param(f"{GH}?urlpath=/lab&labpath=/a.ipynb&filepath=/b.ipynb", REQS, "HEAD",
                     "doc/tree/a.ipynb", id="labpath-still-wins"),
        pytest.param(f"{GH}?urlpath=/lab&filepath=/b.ipynb", REQS, "HEAD", "tree/b.ipynb",
                     id="filepath-still-wins-over-urlpath"),
        # urlpath: one leading "/" dropped, inner "//" collapsed
        pytest.param(f"{GH}?urlpath=/lab/tree/index.ipynb", REQS, "HEAD",
                     "lab/tree/index.ipynb", id="urlpath-leading-slash"),
        pytest.param(f"{GH}?urlpath=%2Flab%2Ftree%2Findex.ipynb", REQS, "HEAD",
                     "lab/tree/index.ipynb", id="urlpath-leading-slash-encoded"),
        pytest.param(f"{GH}?urlpath=tree//index.ipynb", REQS, "HEAD", "tree/index.ipynb",
                     id="urlpath-tree-double-slash"),
        pytest.param(f"{GH}?urlpath=/lab/tree//notebooks//a.ipynb", REQS, "HEAD",
                     "lab/tree/notebooks/a.ipynb", id="urlpath-leading-and-inner"),
        pytest.param(f"{GH}?urlpath=%2Ftree%2F%2Fa.ipynb", REQS, "HEAD", "tree/a.ipynb",
                     id="urlpath-tree-double-slash-encoded"),
        pytest.param(f"{GH}?urlpath=/voila/render//a.ipynb%3Fvoila-theme%3Ddark", REQS, "HEAD",
                     "voila/render/a.ipynb?voila-theme=dark", id="urlpath-voila-query"),
        # other providers, base paths and refs are unaffected
        pytest.param(f"{MB}/v2/gh/org/repo/main/?filepath=/a.ipynb", "https://github.com/org/repo",
                     "main", "tree/a.ipynb", id="spec-trailing-slash"),
        pytest.param(f"{MB}/v2/gh/org/repo/feature%2Fx?labpath=%2Fa.ipynb",
                     "https://github.com/org/repo", "feature/x", "doc/tree/a.ipynb",
                     id="escaped-ref"),
        pytest.param(f"{MB}/v2/gl/group%2Fproj/main?filepath=%2Findex.ipynb",
                     "https://gitlab.com/group/proj.git", "main", "tree/index.ipynb", id="gl"),
        pytest.param(f"{MB}/v2/git/https%3A%2F%2Fgit.example.org%2Fa.git/v1?labpath=/a.ipynb",
                     "https://git.example.org/a.git", "v1", "doc/tree/a.ipynb", id="git"),
        pytest.param("https://example.org/binder/v2/gh/org/repo/HEAD?filepath=//a.ipynb",
                     "https://github.com/org/repo", "HEAD", "tree/a.ipynb", id="base-path"),
        pytest.param("/v2/gh/org/repo/HEAD?labpath=%2Fa.ipynb", "https://github.com/org/repo",
                     "HEAD", "doc/tree/a.ipynb", id="path-only-link"),
    ],
)  # fmt: skip
def test_leading_slashes_are_normalised(url: str, repo: str, ref: str, urlpath: str) -> None:
    spec = parse_launch_url(url)
    assert (spec.repo, spec.ref, spec.urlpath) == (repo, ref, urlpath)
    assert not spec.urlpath.startswith("/") and "//" not in spec.urlpath.partition("?")[0]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("filepath=/../x", "filepath", id="filepath-slash-dot-dot"),
        pytest.param("filepath=%2F..%2Fx", "filepath", id="filepath-encoded-slash-dot-dot"),
        pytest.param("filepath=//..//x", "filepath", id="filepath-double-slash-dot-dot"),
        pytest.param("filepath=/a/../../hub", "filepath", id="filepath-inner-dot-dot"),
        pytest.param("filepath=%2F%252e%252e%2Fx", "filepath", id="filepath-double-encoded"),
        pytest.param("filepath=/%25252e%25252e/x", "filepath", id="filepath-triple-encoded"),
        pytest.param("filepath=/./x", "filepath", id="filepath-dot"),
        pytest.param("labpath=%2F%2e%2e%2Fhub", "labpath", id="labpath-encoded-dot-dot"),
        pytest.param("labpath=/.%252e/hub", "labpath", id="labpath-mixed-dot-dot"),
        pytest.param("labpath=%2F%2E.%2Fhub", "labpath", id="labpath-mixed-case"),
        pytest.param("labpath=/..", "labpath", id="labpath-only-dot-dot"),
        pytest.param("urlpath=/../hub/admin", "urlpath", id="urlpath-slash-dot-dot"),
        pytest.param("urlpath=%2Flab%2F%2e%2e%2F%2e%2e%2Fhub", "urlpath",
                     id="urlpath-encoded-dot-dot"),
        pytest.param("urlpath=/lab//..//hub", "urlpath", id="urlpath-double-slash-dot-dot"),
        pytest.param("urlpath=/lab/.%2e/hub", "urlpath", id="urlpath-mixed-dot-dot"),
    ],
)  # fmt: skip
def test_dot_dot_stays_refused_naming_the_parameter(query: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        parse_launch_url(f"{GH}?{query}")
    assert err.value.field == field, str(err.value)
    assert "'.' or '..'" in err.value.reason
    assert str(err.value).startswith(f"{field}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        pytest.param("urlpath=//evil.example/x", "urlpath", "//host", id="protocol-relative"),
        pytest.param("urlpath=%2F%2Fevil.example", "urlpath", "//host", id="encoded-protocol-rel"),
        pytest.param("urlpath=///evil.example", "urlpath", "//host", id="three-slashes"),
        pytest.param("urlpath=/javascript:alert(1)", "urlpath", "not a URL", id="javascript"),
        pytest.param("urlpath=/https://evil.example/", "urlpath", "not a URL", id="absolute-url"),
        pytest.param("urlpath=/%5Cevil.example", "urlpath", "backslash", id="backslash-host"),
        pytest.param("urlpath=/lab/%2F%252Fx", "urlpath", "'//'", id="encoded-double-slash"),
        pytest.param("urlpath=/lab/%0d%0ax", "urlpath", "control", id="crlf"),
        pytest.param("filepath=/a%5Cb", "filepath", "backslash", id="filepath-backslash"),
        pytest.param("labpath=/a%23b", "labpath", "fragment", id="labpath-fragment"),
        pytest.param("labpath=/a%0Ab", "labpath", "control", id="labpath-newline"),
    ],
)  # fmt: skip
def test_what_was_refused_stays_refused(query: str, field: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        parse_launch_url(f"{GH}?{query}")
    assert err.value.field == field, str(err.value)
    assert words in err.value.reason, str(err.value)
    assert "\r" not in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ legacy /repo/ links
@pytest.mark.parametrize(
    ("path", "query", "target"),
    [
        pytest.param("/repo/org/repo", "", "/v2/gh/org/repo/master", id="no-path"),
        pytest.param("/repo/org/repo/", "", "/v2/gh/org/repo/master", id="trailing-slash"),
        pytest.param("/repo/org/repo///", "", "/v2/gh/org/repo/master", id="only-slashes"),
        pytest.param("/repo/org/repo/notebooks/a.ipynb", "",
                     "/v2/gh/org/repo/master?urlpath=/notebooks/a.ipynb", id="path"),
        pytest.param("/repo/org/repo/tree/notebooks/", "",
                     "/v2/gh/org/repo/master?urlpath=/tree/notebooks/", id="dir-path"),
        pytest.param("/repo/org/repo//notebooks//a.ipynb", "",
                     "/v2/gh/org/repo/master?urlpath=/notebooks/a.ipynb", id="double-slashes"),
        pytest.param("/repo/org/repo/lab/tree/my%20nb.ipynb", "",
                     "/v2/gh/org/repo/master?urlpath=/lab/tree/my%2520nb.ipynb", id="escaped"),
        pytest.param("/repo/my-org/my_repo.py/index.ipynb", "",
                     "/v2/gh/my-org/my_repo.py/master?urlpath=/index.ipynb", id="name-chars"),
        pytest.param("/repo/org%2Dx/repo", "", "/v2/gh/org-x/repo/master", id="escaped-name"),
        pytest.param("/repo/org/repo.git", "", "/v2/gh/org/repo.git/master", id="dot-git"),
        pytest.param("/repo/org/repo/a.ipynb", "server_name=week-1&mount=home:/home/jovyan/w",
                     "/v2/gh/org/repo/master?urlpath=/a.ipynb&server_name=week-1"
                     "&mount=home:/home/jovyan/w", id="versahub-params-ride-along"),
        pytest.param("/repo/org/repo/a.ipynb", "utm_source=x&fbclid=y",
                     "/v2/gh/org/repo/master?urlpath=/a.ipynb", id="tracking-dropped"),
        pytest.param("/repo/org/repo/a.ipynb", "labpath=b.ipynb",
                     "/v2/gh/org/repo/master?labpath=b.ipynb", id="query-path-wins"),
    ],
)  # fmt: skip
def test_legacy_redirect(path: str, query: str, target: str) -> None:
    assert legacy_redirect(path, query) == target
    # the launch page reads the target as it reads the legacy link itself
    link = f"{MB}{path}" + (f"?{query}" if query else "")
    assert parse_launch_url(target) == parse_launch_url(link)
    assert parse_launch_url(target).ref == "master"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        pytest.param("/repo//evil.example/x", "user", id="protocol-relative"),
        pytest.param("/repo/%2F%2Fevil.example/r", "user", id="encoded-protocol-relative"),
        pytest.param("/repo/evil.example%2F/r", "user", id="encoded-slash-in-user"),
        pytest.param("/repo/../r/x", "user", id="dot-dot-user"),
        pytest.param("/repo/%2e%2e/r", "user", id="encoded-dot-dot-user"),
        pytest.param("/repo/org%0d%0aSet-Cookie:x=1/r", "user", id="crlf-user"),
        pytest.param("/repo/org/", "repo", id="missing-repo"),
        pytest.param("/repo/org", "repo", id="missing-repo-no-slash"),
        pytest.param("/repo/org/..", "repo", id="dot-dot-repo"),
        pytest.param("/repo/org/.", "repo", id="dot-repo"),
        pytest.param("/repo/org/r%0d%0aLocation:%20https://evil.example", "repo", id="crlf-repo"),
        pytest.param("/repo/org/r%5Cevil", "repo", id="backslash-repo"),
        pytest.param("/repo/org/r@evil.example", "repo", id="at-repo"),
        pytest.param("/repo/org/" + "r" * 101, "repo", id="long-repo"),
        pytest.param("/repo/org/r/..%2F..%2Fhub%2Fadmin", "urlpath", id="dot-dot-path"),
        pytest.param("/repo/org/r/%2e%2e/hub", "urlpath", id="encoded-dot-dot-path"),
        pytest.param("/repo/org/r/a%0d%0ab", "urlpath", id="crlf-path"),
        pytest.param("/repo/org/r/a%23b", "urlpath", id="fragment-path"),
        pytest.param("/repo/org/r/javascript:alert(1)", "urlpath", id="javascript-path"),
        pytest.param("/v2/gh/org/r/HEAD", "url", id="not-legacy"),
    ],
)  # fmt: skip
def test_hostile_legacy_paths_refused(path: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        legacy_redirect(path, "")
    assert err.value.field == field, str(err.value)
    message = str(err.value)
    assert message.startswith(f"{field}: ") and message.isprintable()


def test_legacy_unknown_parameter_refused() -> None:
    with pytest.raises(InputError) as err:
        legacy_redirect("/repo/org/repo", "memroy=8G")
    assert err.value.field == "memroy"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab.-_/%25%2e2F0dDaA\\:@?#\r\n \x00é", max_size=40))
def test_legacy_target_is_always_a_plain_same_site_path(tail: str) -> None:
    try:
        target = legacy_redirect("/repo/" + tail, "")
    except InputError as err:
        assert str(err).isprintable()
        return
    path = target.partition("?")[0]
    assert re.fullmatch(r"/v2/gh/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/master", path), target
    assert target.isascii() and target.isprintable() and " " not in target
    assert "/../" not in path and not path.endswith("/..")
