"""Hostile policy input: the real OPA with the shipped policies judges what slipped through.

One OPA per module, started with ``policies/`` and the site data rendered by the product's
own seam (``versahub.cli.policy.site_policy_data``) from a test site like the hub tests'
(trusted binder-examples, caps 2G/2 CPUs, volumes ``home`` and ``teaching``). Two tables:

* parsed specs the parser accepts on purpose (internal hosts in every notation, people,
  volumes, caps, mounts over the image's own files) through ``build_input`` exactly as the
  launch service builds it: each is denied with the expected finding;
* input documents that bypassed the parser (a buggy caller, a future entry point): odd
  types, missing keys, hosts in odd notations, repos that disagree with their ``source``,
  negative limits. Each is denied, never allowed, and no finding echoes a raw control
  character of the input.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_corpus import (
    POLICY_DENIED,
    Row,
    params,
    spec,
)
from hostile_support import dangerous_chars

from versahub.cli.policy import site_policy_data
from versahub.policy import (
    Decision,
    PolicyClient,
    build_input,
    validate_decision,
    write_site_data,
)
from versahub.policy.server import REPO_ROOT, OpaProcess, find_opa
from versahub.site import site_from_mapping
from versahub.spec import parse_spec

pytestmark = [pytest.mark.integration]

SITE = {
    "hub": {"url": "http://127.0.0.1:8000"},
    "policy": {
        "trusted_repos": ["https://github.com/binder-examples/*"],
        "trusted_forges": ["github.com"],
        "caps": {"default": {"memory": "2G", "cpu": 2, "max_duration": "24h",
                             "idle_timeout": "4h"}},
        "large_request": {"memory": "1G", "cpu": 1.5},
    },
    "volumes": {
        "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
        "teaching": {"kind": "shared", "read": {"users": ["*"]}, "write": {"users": ["admin"]}},
    },
}  # fmt: skip
ALICE = {"name": "alice", "groups": [], "admin": False}
DIRECTORY = {"users": ["alice", "bob", "carol", "admin"], "groups": ["staff"]}
SITE_BLOCK = {"name": "VersaHub", "hub_url": "http://127.0.0.1:8000"}


@pytest.fixture(scope="module")
def opa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaProcess]:
    folder = tmp_path_factory.mktemp("hostile-opa")
    site = site_from_mapping(SITE)
    write_site_data(site_policy_data(site), folder / "data")
    proc = OpaProcess(REPO_ROOT / "policies", folder / "data", log_path=folder / "opa.log",
                      opa=find_opa())  # fmt: skip
    proc.start(timeout=30)
    try:
        yield proc
    finally:
        proc.stop()


def decide(opa: OpaProcess, doc: dict[str, Any]) -> Decision:
    async def ask() -> Decision:
        async with PolicyClient(opa.url, timeout=10) as client:
            return await client.decide(doc)

    return asyncio.run(ask())


def assert_denied(decision: Decision, expected: tuple[str, ...], *, sent: Any = "") -> None:
    ids = {f.id for f in decision.deny}
    assert decision.allowed is False, f"allowed, warnings {decision.warn_ids}"
    assert "policy-engine-unavailable" not in ids, decision.deny  # judged, not failed closed
    if expected:
        assert ids & set(expected), f"denied by {sorted(ids)}, expected one of {expected}"
    for finding in (*decision.deny, *decision.warn):
        text = " ".join((finding.title, finding.message, finding.mitigation))
        assert not dangerous_chars(text), f"{finding.id} echoes raw control characters"


PARSED_DENIED: list[Row] = [
    *POLICY_DENIED,
    ("mount-over-repo", {"mounts": [{"volume": "home", "path": "/srv/repo", "mode": "rw"}]},
     ("storage-protected-path",)),
    ("mount-inside-repo", {"mounts": [{"volume": "home", "path": "/srv/repo/binder"}]},
     ("storage-protected-path",)),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "deny_ids"), params(PARSED_DENIED))
def test_policy_denies_parsed_specs(
    opa: OpaProcess, fields: dict[str, Any], deny_ids: tuple[str, ...]
) -> None:
    parsed = parse_spec(spec(fields), owner="alice", volumes=list(SITE["volumes"]))
    known = {"users": [c for c in DIRECTORY["users"] if c in parsed.collaborators],
             "groups": DIRECTORY["groups"]}  # fmt: skip
    doc = build_input(parsed, ALICE, {"external": True, "referrer": None}, known, SITE_BLOCK)
    assert_denied(decide(opa, doc), deny_ids)


def base_input() -> dict[str, Any]:
    parsed = parse_spec(spec({}), owner="alice", volumes=list(SITE["volumes"]))
    return build_input(parsed, ALICE, None, DIRECTORY, SITE_BLOCK)


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``path`` (``spec.source.host``) to ``value``; ``...`` deletes the key."""
    *parents, last = path.split(".")

    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return change


MOUNT = {"volume": "home", "path": "/home/jovyan/work", "mode": "ro"}
INVALID = ("input-invalid",)
INTERNAL = ("repo-internal-host", "repo-ip-literal")
# (id, change to a well-formed input document, deny ids of which one must be found[, BUG])
SLIPPED: list[Row] = [
    ("slipped-host-number", at("spec.source.host", 2130706433), INVALID),
    ("slipped-host-null", at("spec.source.host", None), INVALID),
    ("slipped-source-missing", at("spec.source", ...), INVALID),
    ("slipped-source-string", at("spec.source", "https://github.com"), INVALID),
    ("slipped-host-empty", at("spec.source.host", ""), INTERNAL),
    ("slipped-host-localhost-dot", at("spec.source.host", "LOCALHOST."), INTERNAL),
    ("slipped-host-bracketed-v6", at("spec.source.host", "[::1]"), INTERNAL),
    ("slipped-host-v4-mapped", at("spec.source.host", "::ffff:7f00:1"), INTERNAL),
    ("slipped-host-hex", at("spec.source.host", "0x7f000001"), INTERNAL),
    ("slipped-host-metadata-dot", at("spec.source.host", "metadata.google.internal."), INTERNAL),
    ("slipped-host-ansi", at("spec.source.host", "evil\x1b[31m"), INTERNAL),
    ("slipped-scheme-file", at("spec.source.scheme", "file"), ("repo-insecure-scheme",)),
    ("slipped-scheme-ext", at("spec.source.scheme", "ext"), ("repo-insecure-scheme",)),
    ("slipped-scheme-number", at("spec.source.scheme", 443), INVALID),
    ("slipped-mounts-string", at("spec.mounts", "home:/etc"), INVALID),
    ("slipped-mount-mode-upper", at("spec.mounts", [{**MOUNT, "mode": "RW"}]), INVALID),
    ("slipped-mount-no-path", at("spec.mounts", [{"volume": "home", "mode": "rw"}]), INVALID),
    ("slipped-mount-volume-traversal", at("spec.mounts", [{**MOUNT, "volume": "../home"}]),
     ("volume-unknown",)),
    ("slipped-mount-etc", at("spec.mounts", [{**MOUNT, "path": "/etc", "mode": "rw"}]),
     ("storage-protected-path",)),
    ("slipped-mount-traversal",
     at("spec.mounts", [{**MOUNT, "path": "/home/jovyan/../../usr/bin"}]),
     ("storage-protected-path",)),
    ("slipped-mount-double-slash", at("spec.mounts", [{**MOUNT, "path": "//srv//repo/"}]),
     ("storage-protected-path",)),
    ("slipped-mount-root", at("spec.mounts", [{**MOUNT, "path": "/"}]),
     ("storage-protected-path",)),
    ("slipped-collaborator-number", at("spec.collaborators", [1]), INVALID),
    ("slipped-collaborator-star", at("spec.collaborators", ["*"]), ("collaborator-unknown",)),
    ("slipped-collaborator-group-star", at("spec.collaborators", ["group:*"]),
     ("collaborator-unknown", "collaborator-group-forbidden")),
    ("slipped-collaborators-string", at("spec.collaborators", "bob"), INVALID),
    ("slipped-internet-string", at("spec.internet", "false"), INVALID),
    ("slipped-credentials-number", at("spec.credentials", 1), INVALID),
    ("slipped-public-null", at("spec.public_readonly", None), INVALID),
    ("slipped-limits-missing", at("spec.limits", ...), INVALID),
    ("slipped-limits-cpu-string", at("spec.limits.cpu", "256"), INVALID),
    ("slipped-limits-memory-huge", at("spec.limits.memory_bytes", 2**70),
     ("resources-over-cap",)),
    ("slipped-limits-cpu-huge", at("spec.limits.cpu", 1e308), ("resources-over-cap",)),
    ("slipped-user-admin-string", at("user.admin", "true"), INVALID),
    ("slipped-user-groups-string", at("user.groups", "staff"), INVALID),
    ("slipped-user-missing", at("user", ...), INVALID),
    ("slipped-user-name-number", at("user.name", 0), INVALID),
    ("slipped-origin-external-string", at("origin.external", "no"), INVALID),
    ("slipped-origin-missing", at("origin", ...), INVALID),
    ("slipped-directory-string", at("directory", "everyone"), INVALID),
    ("slipped-spec-list", at("spec", []), INVALID),
    ("slipped-repo-number", at("spec.repo", 1), INVALID),
    ("slipped-repo-ext-https-source", at("spec.repo", "ext::sh -c touch% /tmp/pwned"), ()),
    ("slipped-repo-file-https-source", at("spec.repo", "file:///etc/passwd"), ()),
    ("slipped-repo-ssh-https-source", at("spec.repo", "ssh://git@internal.example/x"), ()),
    ("slipped-limits-cpu-negative", at("spec.limits.cpu", -5), INVALID),
    ("slipped-limits-memory-negative", at("spec.limits.memory_bytes", -1), INVALID),
]  # fmt: skip


@pytest.mark.parametrize(("change", "deny_ids"), params(SLIPPED))
def test_policy_denies_input_that_slipped_past_the_parser(
    opa: OpaProcess, change: Callable[[dict[str, Any]], None], deny_ids: tuple[str, ...]
) -> None:
    doc = copy.deepcopy(base_input())
    assert decide(opa, doc).allowed is True  # the unchanged document is allowed
    change(doc)
    # a source changed under an unchanged repo no longer matches it: invalid input, denied
    accepted = (*deny_ids, "input-invalid") if deny_ids else deny_ids
    assert_denied(decide(opa, doc), accepted)


def host(name: str) -> Callable[[dict[str, Any]], None]:
    """repo and source naming the same host ``name`` (as a buggy caller would write it)."""
    netloc = f"[{name}]" if ":" in name and not name.startswith("[") else name

    def change(doc: dict[str, Any]) -> None:
        doc["spec"]["source"]["host"] = name
        doc["spec"]["repo"] = f"https://{netloc}/a/b.git"

    return change


GITHUB = "binder-examples/requirements"
# (id, change, deny ids of which one must be found[, BUG]): repo and source agree, so the
# host itself is judged, in the notations a resolver or git would still accept
SAME_HOST: list[Row] = [
    ("host-localhost-upper-dot", host("LOCALHOST."), INTERNAL),
    ("host-bracketed-v6", host("[::1]"), INTERNAL),
    ("host-v4-mapped-hex", host("::ffff:7f00:1"), INTERNAL),
    ("host-hex-dword", host("0x7f000001"), INTERNAL),
    ("host-octal-dotted", host("0177.0.0.01"), INTERNAL),
    ("host-metadata-trailing-dot", host("metadata.google.internal."), INTERNAL),
    ("host-cgnat-metadata", host("100.100.100.200"), INTERNAL),
    ("host-empty", host(""), (*INTERNAL, *INVALID)),
    ("host-ansi", host("evil\x1b[31m"), (*INTERNAL, *INVALID)),
    ("repo-other-host-with-source-prefix",
     at("spec.repo", f"https://github.com.evil.example/{GITHUB}"), INVALID),
    ("repo-userinfo-with-source-prefix", at("spec.repo", f"https://github.com@evil.example/{GITHUB}"),
     INVALID),
    ("repo-port-userinfo-with-source-prefix",
     at("spec.repo", f"https://github.com:443@evil.example/{GITHUB}"), INVALID),
]  # fmt: skip


@pytest.mark.parametrize(("change", "deny_ids"), params(SAME_HOST))
def test_policy_judges_the_host_in_every_notation(
    opa: OpaProcess, change: Callable[[dict[str, Any]], None], deny_ids: tuple[str, ...]
) -> None:
    doc = copy.deepcopy(base_input())
    change(doc)
    assert_denied(decide(opa, doc), deny_ids)


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({}, id="input-empty"),
        pytest.param([], id="input-list"),
        pytest.param("allow", id="input-string"),
        pytest.param(None, id="input-null"),
        pytest.param(True, id="input-true"),
        pytest.param({"spec": {"allowed": True}, "allowed": True}, id="input-says-allowed"),
    ],
)
def test_policy_denies_a_document_that_is_not_an_input(opa: OpaProcess, doc: Any) -> None:
    """Straight to OPA's data API (the client refuses non-mappings itself, failing closed):
    the decision is defined and denies, whatever the document is."""
    request = urllib.request.Request(
        f"{opa.url}/v1/data/versahub/spawn/decision", data=json.dumps({"input": doc}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        raw = json.load(answer)
    decision = validate_decision(raw["result"])
    assert_denied(decision, INVALID)
