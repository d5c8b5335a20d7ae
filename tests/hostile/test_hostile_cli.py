"""Hostile spec files (and links) on the command line: one line, exit 2, nothing written.

``versahub spec parse FILE`` runs as a real process (the installed entry point), so a
traceback or a terminal escape would show exactly as a user sees it; ``versahub policy
check FILE`` runs in-process through ``versahub.cli.main`` (the same code without the
interpreter start-up), plus two real processes. Every case asserts exit status 2, one
line on stderr starting ``versahub: error: <field>``, nothing on stdout, no traceback, no
raw control or bidi character, and no file written (the working folder is unchanged, a
YAML tag that would run a command did not).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_corpus import (
    CLI_IDS,
    HUB,
    REPO,
    SPEC_REFUSED,
    URL_REFUSED,
    Row,
    params,
    rows,
    spec,
)
from hostile_support import assert_clear_message, dangerous_chars

from versahub.cli import main

VERSAHUB = Path(sys.executable).parent / "versahub"
MARKER = "pwned-by-yaml"


def _bomb() -> str:
    """A billion-laughs document inside a known key: 9**9 leaves if anything expands it."""
    lines = ["repo: " + REPO, "mounts:", '  - &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  - &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# (id, file content (text, bytes, or a callable giving a path), field[, BUG])
FILE_CASES: list[Row] = [
    ("file-not-utf8", b"repo: \xff\xfe\n", "file"),
    ("file-nul-byte", "repo: https://github.com/a/b\x00\n", "file"),
    ("file-deep-nesting", "repo: " + "[" * 5000 + "]" * 5000 + "\n", "file"),
    ("file-python-tag", f'repo: !!python/object/apply:os.system ["touch {MARKER}"]\n', "file"),
    ("file-python-name", "repo: !!python/name:os.system\n", "file"),
    ("file-billion-laughs", _bomb(), "file"),  # aliases are refused before any expansion
    ("file-over-1mb", "repo: " + REPO + "\n#" + "x" * 1_048_576 + "\n", "file"),
    ("file-huge-value", "repo: '" + "a" * 900_000 + "'\n", "repo"),
    ("file-list-top", "- repo: " + REPO + "\n", "file"),
    ("file-empty", "", "file"),
    ("file-scalar", "ext::sh -c id\n", "file"),
    ("file-json-array", json.dumps([spec({})]), "file"),
    ("file-dev-zero", lambda tmp: "/dev/zero", "file"),
    ("file-directory", lambda tmp: str(tmp), "file"),
    ("file-missing-ansi-name", lambda tmp: str(tmp / "no\x1b[31msuch.yaml"), "file"),
    ("file-missing-bidi-name", lambda tmp: str(tmp / "spec\u202elmay.exe"), "file"),
    ("file-url-scheme", lambda tmp: "file:///etc/passwd", "url"),
    ("file-ssh-scheme", lambda tmp: "ssh://git@github.com/a/b", "url"),
    ("file-yaml-duplicate-key",
     f"repo: {REPO}\ninternet: false\ncredentials: false\ninternet: true\n", "internet"),
    ("file-json-duplicate-key",
     json.dumps({"repo": REPO, "collaborators": []})[:-1] + ', "collaborators": ["group:staff"]}',
     "collaborators"),
]  # fmt: skip

# launch links given on the command line: (id, URL, field[, BUG])
LINK_CASES: list[Row] = [
    (f"link-{ident}", HUB + path, field, *bug)
    for ident, path, field, *bug in rows(
        URL_REFUSED,
        ("url-ref-upload-pack", "url-git-ext", "url-urlpath-crlf", "url-collab-bidi",
         "url-unknown-param-ansi", "url-unknown-param-crlf"),
    )
]  # fmt: skip


def spec_file_cases() -> list[Row]:
    out = []
    for ident, fields, field, *bug in rows(SPEC_REFUSED, CLI_IDS):
        out.append(
            (f"spec-{ident}", yaml.safe_dump(spec(fields), allow_unicode=False), field, *bug)
        )
    return out


CASES = [*spec_file_cases(), *FILE_CASES]


def write(tmp: Path, content: str | bytes | Callable[[Path], str]) -> str:
    if callable(content):
        return content(tmp)
    target = tmp / "spec.yaml"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, "utf-8", errors="surrogatepass")
    return str(target)


def listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def check_refusal(code: int, out: str, err: str, field: str) -> None:
    assert code == 2, f"exit {code}, stderr: {err[-2000:]}"
    assert out == "", f"stdout: {out[:500]!r}"
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err[:500]!r}"
    line = err.rstrip("\n")
    assert line.startswith(f"versahub: error: {field}"), line
    assert_clear_message(line, field)
    assert not dangerous_chars(err)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "VERSAHUB_OPA_URL": "http://127.0.0.1:9"}
    return subprocess.run(
        [str(VERSAHUB), *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env,
        errors="surrogateescape",
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    return tmp_path


@pytest.mark.parametrize(("content", "field"), params(CASES))
def test_spec_parse_refuses_hostile_files(workdir: Path, content: Any, field: str) -> None:
    source = write(workdir, content)
    before = listing(workdir)
    done = run_cli("spec", "parse", source, cwd=workdir / "work")
    check_refusal(done.returncode, done.stdout, done.stderr, field)
    assert listing(workdir) == before, "a file was written"
    assert not (workdir / "work" / MARKER).exists()


@pytest.mark.parametrize(("url", "field"), params(LINK_CASES))
def test_spec_parse_refuses_hostile_links(workdir: Path, url: str, field: str) -> None:
    before = listing(workdir)
    done = run_cli("spec", "parse", url, cwd=workdir / "work")
    check_refusal(done.returncode, done.stdout, done.stderr, field)
    assert listing(workdir) == before


@pytest.fixture(scope="module")
def site_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-site")
    site = folder / "site.yaml"
    site.write_text(yaml.safe_dump({
        "volumes": {
            "home": {"kind": "home", "read": {"users": ["*"]}, "write": {"users": ["*"]}},
            "teaching": {"kind": "shared", "read": {"users": ["*"]}},
        },
        "state_dir": str(folder / "state"),
    }))  # fmt: skip
    return site


@pytest.mark.parametrize(("content", "field"), params(CASES))
def test_policy_check_refuses_hostile_files(
    workdir: Path, site_file: Path, content: Any, field: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    source = write(workdir, content)
    before = listing(workdir)
    monkeypatch.chdir(workdir / "work")
    code = main(["policy", "check", source, "--user", "alice", "--site", str(site_file),
                 "--opa", "http://127.0.0.1:9", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    check_refusal(code, captured.out, captured.err, field)
    assert listing(workdir) == before
    assert not (workdir / "work" / MARKER).exists()
    assert not (site_file.parent / "state").exists(), "policy check wrote site state"


@pytest.mark.parametrize(
    ("content", "field"),
    params([row for row in CASES if row[0] in ("spec-repo-ext-sh", "file-python-tag")]),
)
def test_policy_check_process_refuses(workdir: Path, site_file: Path, content: Any,
                                      field: str) -> None:  # fmt: skip
    source = write(workdir, content)
    done = run_cli("policy", "check", source, "--user", "alice", "--site", str(site_file),
                   cwd=workdir / "work")  # fmt: skip
    check_refusal(done.returncode, done.stdout, done.stderr, field)
    assert not (workdir / "work" / MARKER).exists()
