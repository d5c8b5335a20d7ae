"""``versahub spec parse`` / ``versahub spec url`` through ``versahub.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from versahub.cli import main

GOOD = """\
repo: https://github.com/binder-examples/requirements
ref: HEAD
urlpath: lab/tree/index.ipynb
mounts:
  - {volume: home, path: /home/jovyan/work, mode: rw}
collaborators: [bob, "group:ds101-teachers"]
resources: {memory: 2G, cpu: 1.0, max_duration: 8h, idle_timeout: 1h}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERSAHUB_HUB_URL", raising=False)
    return tmp_path


def _tree(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_size) for p in path.rglob("*"))


def test_parse_file_json(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "spec.yaml").write_text(GOOD)
    assert main(["spec", "parse", "spec.yaml", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["provider"] == "gh"
    assert doc["source"] == {"scheme": "https", "host": "github.com", "port": 443}
    assert doc["server_name"]  # a readable random name was filled in
    assert len(doc["spec_id"]) == 16
    assert doc["resources"]["memory"] == "2G"


def test_parse_listing_and_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD?labpath=index.ipynb"
    assert main(["spec", "parse", url]) == 0
    out = capsys.readouterr().out
    assert "urlpath:" in out and "doc/tree/index.ipynb" in out and "spec_id:" in out


def test_spec_id_stable_across_runs(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://mybinder.org/v2/gh/o/r/HEAD"
    ids = set()
    for _ in range(3):
        assert main(["spec", "parse", "--json", url]) == 0
        ids.add(json.loads(capsys.readouterr().out)["spec_id"])
    assert len(ids) == 1


def test_url_command(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "spec.yaml").write_text(GOOD)
    assert main(["spec", "url", "spec.yaml"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("http://127.0.0.1:8000/v2/gh/binder-examples/requirements/HEAD?")
    assert lines[1].startswith("[![Launch on VersaHub](http://127.0.0.1:8000/badge.svg)](")
    assert lines[2].startswith('<a href="http://127.0.0.1:8000/v2/gh/')
    monkeypatch.setenv("VERSAHUB_HUB_URL", "https://hub.example.org")
    assert main(["spec", "url", "spec.yaml"]) == 0
    assert capsys.readouterr().out.startswith("https://hub.example.org/v2/")
    assert main(["spec", "url", "spec.yaml", "--hub", "https://other.example/"]) == 0
    assert capsys.readouterr().out.startswith("https://other.example/v2/")


def _file(body: str) -> tuple[str, str]:
    return ("file", body)


HOSTILE = [
    pytest.param(["parse", "https://mybinder.org/v2/gh/o/r/HEAD?urlpath=..%2F..%2Fhub"],
                 "urlpath", id="urlpath-traversal"),
    pytest.param(["parse", "https://mybinder.org/v2/gh/o/r/HEAD?urlpath=javascript:alert(1)"],
                 "urlpath", id="javascript-urlpath"),
    pytest.param(["parse", "https://mybinder.org/v2/gh/o/r/--upload-pack=touch%20x"], "ref",
                 id="ref-option-injection"),
    pytest.param(["parse", "https://mybinder.org/v2/svn/o/r/HEAD"], "provider",
                 id="unknown-provider"),
    pytest.param(["parse", "https://mybinder.org/v2/git/ext%3A%3Ash%20-c%20id/HEAD"], "repo",
                 id="ext-remote-helper"),
    pytest.param(["parse", "https://mybinder.org/v2/git/file%3A%2F%2F%2Fetc%2Fpasswd/HEAD"],
                 "repo", id="file-url"),
    pytest.param(["parse", "https://hub/v2/gh/o/r/HEAD?mount=home:/home/../etc:rw"],
                 "mounts[0].path", id="mount-traversal-url"),
    pytest.param(["parse", "https://hub/v2/gh/o/r/HEAD?server_name=" + "n" * 10_000],
                 "url", id="10kB-url"),
    pytest.param(["parse", "ftp://hub/v2/gh/o/r/HEAD"], "url", id="ftp-scheme"),
    pytest.param(["parse", "spec.yaml", "--owner", "Bad Owner"], "owner", id="bad-owner"),
    pytest.param(["url", "spec.yaml", "--hub", "javascript:alert(1)"], "hub", id="bad-hub"),
    pytest.param(["parse", "missing.yaml"], "file", id="missing-file"),
    pytest.param(["parse", "."], "file", id="directory"),
    pytest.param(["parse", "spec\x00.yaml"], "source", id="nul-in-path"),
    pytest.param(_file("repo: [unclosed"), "file", id="bad-yaml"),
    pytest.param(_file("- a\n- b\n"), "file", id="yaml-list"),
    pytest.param(_file("x" * (1024 * 1024 + 10)), "file", id="over-1MB"),
    pytest.param(_file("repo: file:///etc/passwd\n"), "repo", id="file-repo"),
    pytest.param(_file("repo: https://user:pass@github.com/a/b\n"), "repo", id="credentials"),
    pytest.param(_file("repo: \"ext::sh -c 'id'\"\n"), "repo", id="ext-in-file"),
    pytest.param(_file("repo: gh:o/r\nref: '--upload-pack=x'\n"), "ref", id="ref-dashes"),
    pytest.param(_file("repo: gh:o/r\nref: \"a\\0b\"\n"), "ref", id="nul-in-ref"),
    pytest.param(_file("repo: gh:o/r\nurlpath: '//evil.example'\n"), "urlpath",
                 id="protocol-relative"),
    pytest.param(_file("repo: gh:o/r\nmounts: [{volume: home, path: /etc}]\n"),
                 "mounts[0].path", id="mount-etc"),
    pytest.param(_file("repo: gh:o/r\nmounts: [{volume: home, path: /home/jovyan/../../proc}]\n"),
                 "mounts[0].path", id="mount-traversal"),
    pytest.param(_file("repo: gh:o/r\nserver_name: " + "n" * 10_000 + "\n"), "server_name",
                 id="10kB-name"),
    pytest.param(_file("repo: gh:o/r\ncollaborators: [alice]\n"), "collaborators[0]",
                 id="owner-collaborator"),
    pytest.param(_file("repo: gh:o/r\nimage: evil:latest\n"), "image", id="unknown-key"),
    pytest.param(_file("repo: gh:o/r\ninternet: 'false'\n"), "internet", id="string-bool"),
    pytest.param(_file("repo: gh:o/r\nresources: {memory: 2X}\n"), "resources.memory",
                 id="bad-memory"),
    pytest.param(_file("repo: gh:o/r\nref: 2024-01-01\n"), "ref", id="yaml-date"),
    pytest.param(_file("repo: gh:o/r\x1b[31m\n"), "file", id="terminal-escape"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "field"), HOSTILE)
def test_hostile_input(
    args: list[str] | tuple[str, str],
    field: str,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if isinstance(args, tuple):
        (workdir / "hostile.yaml").write_text(args[1])
        argv = ["spec", "parse", "hostile.yaml", "--owner", "alice"]
    else:
        (workdir / "spec.yaml").write_text(GOOD)
        argv = ["spec", *args]
    before = _tree(workdir)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"versahub: error: {field}:"), lines[0]
    assert "Traceback" not in err
    assert len(lines[0]) < 400
    assert "\x1b" not in err and "\x00" not in err
    assert _tree(workdir) == before
