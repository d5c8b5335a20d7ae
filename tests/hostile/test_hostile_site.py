"""Hostile ``site.yaml`` files: refused by ``load_site`` with an ``InputError`` naming the key.

Bad types, unknown keys, huge files and values, YAML bombs (anchors and aliases), deep
nesting, YAML tags that would run code, duplicate keys, values the rest of the product
cannot use. ``load_site`` runs in-process for every case; a few run through ``versahub
status --site FILE`` as a real process (read-only: it reports, it starts nothing), which
must exit 2 with one line and no traceback. The operator's file is never rewritten.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_corpus import Row, params
from hostile_support import assert_clear_message, dangerous_chars

from versahub.errors import InputError
from versahub.site.config import load_site

VERSAHUB = Path(sys.executable).parent / "versahub"
MARKER = "pwned-by-site-yaml"


def laughs(levels: int) -> str:
    """A flow sequence of ``levels`` anchored lists, each holding the previous one 9 times:
    a few hundred bytes of YAML, 9**levels leaves if anything expands it."""
    names = "abcdefghi"[:levels]
    text = '[&a ["x","x","x","x","x","x","x","x","x"]'
    for prev, name in itertools.pairwise(names):
        text += f", &{name} [" + ", ".join([f"*{prev}"] * 9) + "]"
    return text + "]"


# (id, file content, field named (prefix)[, BUG])
SITE_CASES: list[Row] = [
    # YAML itself
    ("yaml-python-tag", f"site: !!python/object/apply:os.system ['touch {MARKER}']\n",
     "site.yaml"),
    ("yaml-python-module", "site: !!python/module:os\n", "site.yaml"),
    ("yaml-not-utf8", b"site:\n  name: \xff\xfe\n", "site.yaml"),
    ("yaml-tab-indent", "site:\n\tname: x\n", "site.yaml"),
    ("yaml-over-1mb", "site:\n  name: x\n#" + "x" * 1_000_001 + "\n", "site.yaml"),
    ("yaml-list-top", "- site\n- hub\n", "site.yaml"),
    ("yaml-scalar-top", "versahub\n", "site.yaml"),
    # aliases are refused when the file is read, before anything is expanded
    ("yaml-bomb-warnings", "site:\n  warnings: " + laughs(4) + "\n", "site.yaml"),
    ("yaml-bomb-groups", "hub:\n  groups:\n    g: " + laughs(5) + "\n", "site.yaml"),
    ("yaml-bomb-catalogue", "catalogue:\n  - id: x\n    spec:\n      repo: 'gh:a/b'\n"
     "      mounts: " + laughs(9) + "\n", "site.yaml"),
    ("yaml-deep-list", "site:\n  warnings: " + "[" * 5000 + "]" * 5000 + "\n", "site.yaml"),
    ("yaml-deep-map", "hub: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "site.yaml"),
    ("yaml-duplicate-top-key",
     "policy:\n  allowed_forges: [github.com]\npolicy:\n  allowed_forges: ['*']\n",
     "site.yaml: policy"),
    ("yaml-duplicate-nested-key", "opa:\n  timeout: 1\n  timeout: 2\n", "site.yaml: timeout"),
    # unknown keys
    ("unknown-top-key", "privileged: true\n", "site.yaml: (top level)"),
    ("unknown-hub-key", "hub:\n  spawner_class: evil.Spawner\n", "site.yaml: hub"),
    ("unknown-volume-key", "volumes:\n  x:\n    kind: shared\n    host_path: /etc\n",
     "site.yaml: volumes.x"),
    ("unknown-key-non-text", "1: 2\n", "site.yaml: (top level)"),
    ("unknown-key-null", "~: 2\n", "site.yaml: (top level)"),
    # bad types and values
    ("type-hub-list", "hub: [1, 2]\n", "site.yaml: hub"),
    ("type-timeout-string", "opa:\n  timeout: slow\n", "site.yaml: opa.timeout"),
    ("type-state-dir-list", "state_dir: [a]\n", "site.yaml: state_dir"),
    ("type-name-date", "site:\n  name: 2024-01-01\n", "site.yaml: site.name"),
    ("type-trusted-repos-numbers", "policy:\n  trusted_repos: [1, 2]\n",
     "site.yaml: policy.trusted_repos[0]"),
    ("value-port-huge", "hub:\n  internal_port: 99999999\n", "site.yaml: hub.internal_port"),
    ("value-timeout-negative", "opa:\n  timeout: -1\n", "site.yaml: opa.timeout"),
    ("value-timeout-huge-int", "opa:\n  timeout: 1" + "0" * 400 + "\n", "site.yaml: opa.timeout"),
    ("value-cpu-huge-int", "policy:\n  caps:\n    default: {cpu: 1" + "0" * 400 + "}\n",
     "site.yaml: policy.caps.default.cpu"),
    ("value-cpu-infinity", "policy:\n  caps:\n    default: {cpu: .inf}\n",
     "site.yaml: policy.caps.default.cpu"),
    ("value-cpu-nan", "policy:\n  caps:\n    default: {cpu: .nan}\n",
     "site.yaml: policy.caps.default.cpu"),
    ("value-large-cpu-nan", "policy:\n  large_request: {cpu: .nan}\n",
     "site.yaml: policy.large_request.cpu"),
    ("value-memory-huge", "policy:\n  caps:\n    default: {memory: 99999999T}\n",
     "site.yaml: policy.caps.default.memory"),
    ("value-name-10kb", "site:\n  name: '" + "a" * 10_240 + "'\n", "site.yaml: site.name"),
    ("value-credits-900kb", "site:\n  credits: '" + "x" * 900_000 + "'\n",
     "site.yaml: site.credits"),
    ("value-warnings-1000", "site:\n  warnings: [" + ",".join(["x"] * 1000) + "]\n",
     "site.yaml: site.warnings"),
    ("value-share-everyone", "policy:\n  share: {groups: everyone}\n",
     "site.yaml: policy.share.groups"),
    ("value-internal-hosts-star", "policy:\n  allowed_internal_hosts: ['*']\n",
     "site.yaml: policy.allowed_internal_hosts[0]"),
    ("value-auth-lti13-no-allow-rule", "hub:\n  auth: {kind: lti13}\n",
     "site.yaml: hub.auth.allow_all"),
    ("value-auth-lti13-no-platform", "hub:\n  auth: {kind: lti13, allow_all: true}\n",
     "site.yaml: hub.auth.lti13"),
    ("value-lti13-issuer-javascript",
     "hub:\n  auth:\n    kind: lti13\n    allow_all: true\n    lti13:\n      platforms:\n"
     "        - {issuer: 'javascript:alert(1)', client_ids: [a], authorize_url: 'https://a.org/a',"
     " jwks_url: 'https://a.org/j', deployment_ids: ['1']}\n",
     "site.yaml: hub.auth.lti13.platforms[0].issuer"),
    ("value-lti13-jwks-metadata",
     "hub:\n  auth:\n    kind: lti13\n    allow_all: true\n    lti13:\n      platforms:\n"
     "        - {issuer: 'https://a.org', client_ids: [a], authorize_url: 'https://a.org/a',"
     " jwks_url: 'http://169.254.169.254/latest', deployment_ids: ['1']}\n",
     "site.yaml: hub.auth.lti13.platforms[0].jwks_url"),
    ("value-lti13-client-id-newline",
     "hub:\n  auth:\n    kind: lti13\n    allow_all: true\n    lti13:\n      platforms:\n"
     "        - {issuer: 'https://a.org', client_ids: [\"a\\nb\"], authorize_url: 'https://a.org/a',"
     " jwks_url: 'https://a.org/j', deployment_ids: ['1']}\n",
     "site.yaml: hub.auth.lti13.platforms[0].client_ids[0]"),
    ("value-lti11-consumers-missing",
     "hub:\n  auth:\n    kind: lti11\n    allow_all: true\n    lti11:\n"
     "      consumers_file: /nonexistent/versahub-consumers.yaml\n",
     "site.yaml: hub.auth.lti11.consumers_file"),
    ("value-admin-star", "hub:\n  admin_users: ['*']\n", "site.yaml: hub.admin_users[0]"),
    ("value-opa-metadata", "opa:\n  address: '169.254.169.254:80'\n", "site.yaml: opa.address"),
    ("value-opa-url", "opa:\n  address: 'http://127.0.0.1:8181'\n", "site.yaml: opa.address"),
    ("value-hub-url-javascript", "hub:\n  url: 'javascript:alert(1)'\n", "site.yaml: hub.url"),
    ("value-docs-url-javascript", "site:\n  docs_url: 'javascript:alert(1)'\n",
     "site.yaml: site.docs_url"),
    ("value-hub-url-credentials", "hub:\n  url: 'http://user:pw@127.0.0.1:8000'\n",
     "site.yaml: hub.url"),
    ("value-hub-url-query", "hub:\n  url: 'http://127.0.0.1:8000/x?next=//evil'\n",
     "site.yaml: hub.url"),
    ("value-hub-url-markup", "hub:\n  url: 'http://127.0.0.1:8000/\"><script>alert(1)</script>'\n",
     "site.yaml: hub.url"),
    ("value-state-dir-nul", 'state_dir: "/tmp/versahub\\0state"\n', "site.yaml: state_dir"),
    ("names-volume-traversal", "volumes:\n  '../etc':\n    kind: shared\n", "site.yaml: volumes"),
    ("names-volume-html", "volumes:\n  '<script>':\n    kind: shared\n", "site.yaml: volumes"),
    ("names-group-html", "hub:\n  groups:\n    '<script>': [alice]\n", "site.yaml: hub.groups"),
    ("names-group-cyrillic", "hub:\n  groups:\n    'st\u0430ff': [alice]\n",
     "site.yaml: hub.groups"),
    ("names-two-homes", "volumes:\n  a: {kind: home}\n  b: {kind: home}\n", "site.yaml: volumes"),
    ("catalogue-hostile-spec", "catalogue:\n  - {id: x, spec: {repo: 'ext::sh -c id'}}\n",
     "site.yaml: catalogue[0].spec.repo"),
    ("catalogue-traversal-mount",
     "catalogue:\n  - id: x\n    spec:\n      repo: 'gh:a/b'\n"
     "      mounts: [{volume: home, path: /home/jovyan/../../etc}]\n",
     "site.yaml: catalogue[0].spec.mounts[0].path"),
    ("catalogue-duplicate-id",
     "catalogue:\n  - {id: a, spec: {repo: 'gh:a/b'}}\n  - {id: a, spec: {repo: 'gh:a/b'}}\n",
     "site.yaml: catalogue[1].id"),
    ("catalogue-id-html", "catalogue:\n  - {id: '<script>', spec: {repo: 'gh:a/b'}}\n",
     "site.yaml: catalogue[0].id"),
]  # fmt: skip

PROCESS_IDS = ("yaml-python-tag", "yaml-deep-list", "value-state-dir-nul")


def write(folder: Path, content: str | bytes) -> Path:
    target = folder / "site.yaml"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, "utf-8")
    return target


@pytest.mark.parametrize(("content", "field"), params(SITE_CASES))
def test_load_site_refuses(tmp_path: Path, content: str | bytes, field: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    site = write(tmp_path, content)
    written = site.read_bytes()
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        load_site(site)
    assert time.monotonic() - started < 10, "load_site took too long"
    err = caught.value
    assert err.field.startswith(field), f"field {err.field!r}, expected {field!r}"
    assert_clear_message(str(err), field)
    assert site.read_bytes() == written, "the operator's file was rewritten"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.yaml"], "something was written"


@pytest.mark.parametrize(
    ("content", "field"), params([row for row in SITE_CASES if row[0] in PROCESS_IDS])
)
def test_versahub_status_refuses(tmp_path: Path, content: str | bytes, field: str) -> None:
    site = write(tmp_path, content)
    done = subprocess.run(
        [str(VERSAHUB), "status", "--site", str(site)], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr[-1500:]}"
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and not dangerous_chars(done.stderr)
    assert done.stderr.startswith(f"versahub: error: {field}"), done.stderr
    assert not (tmp_path / MARKER).exists()


def test_a_yaml_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    """6 levels (531441 leaves): refused without building anything of that size (the
    whole file is 300 bytes; a refusal needs a few kB). 9 levels would take minutes."""
    load_site(write(tmp_path, "{}"))  # the schema is loaded and cached before measuring
    site = write(tmp_path, "site:\n  warnings: " + laughs(6) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            load_site(site)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_clear_message(str(caught.value), "site.yaml")
    assert "aliases" in caught.value.reason
    assert peak < 1_000_000, f"load_site allocated {peak // 1024} kB for a 300-byte file"
