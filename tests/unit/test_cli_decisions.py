"""``versahub policy decisions|impact``: --since, the policies of a git commit (and the refs
refused before git sees them), and the commands on an empty and a filled store."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.cli import decisions as cli_decisions
from versahub.cli import main
from versahub.cli.decisions import policies_at, since_time
from versahub.errors import InputError
from versahub.policy.decision_store import add, connect
from versahub.policy.records import iso, record_from_event

NOW = _dt.datetime(2026, 11, 29, 12, 0, tzinfo=_dt.UTC)


# --- since_time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", "2026-11-22T12:00:00.000000Z"),
        ("12h", "2026-11-29T00:00:00.000000Z"),
        ("1h30m", "2026-11-29T10:30:00.000000Z"),
        ("90s", "2026-11-29T11:58:30.000000Z"),
        ("7D", "2026-11-22T12:00:00.000000Z"),
        ("366d", "2025-11-28T12:00:00.000000Z"),
        ("2026-11-01", "2026-11-01T00:00:00.000000Z"),
        ("2024-02-29", "2024-02-29T00:00:00.000000Z"),
        ("2030-01-01", "2030-01-01T00:00:00.000000Z"),  # in the future: simply nothing
    ],
)
def test_since_is_a_duration_back_or_a_utc_date(value: str, expected: str) -> None:
    assert since_time(value, NOW) == expected


def test_since_counts_back_from_now_in_utc() -> None:
    paris = _dt.timezone(_dt.timedelta(hours=1))
    assert since_time("1h", NOW.astimezone(paris)) == "2026-11-29T11:00:00.000000Z"
    assert since_time("1h", NOW) == iso(NOW - _dt.timedelta(hours=1))


@pytest.mark.parametrize(
    "value",
    [
        "", "last week", "7 days", "7days", "-7d", "0s", "0d", "367d", "7d ago", "1e3",
        "2026-13-01", "2026-02-30", "2026-11-1", "2026/11/01", "01-11-2026",
        "2026-11-01T00:00", "2026-11-01Z", "\x1b[31m7d", "7" * 40 + "d", "d", "h1",
    ],
)  # fmt: skip
def test_bad_since_values_are_input_errors_naming_since(value: str) -> None:
    with pytest.raises(InputError) as excinfo:
        since_time(value, NOW)
    assert excinfo.value.field == "--since"
    assert str(excinfo.value).startswith("--since: ")
    assert "\x1b" not in str(excinfo.value) and len(str(excinfo.value)) < 200


# --- policies_at --------------------------------------------------------------------------


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git without the machine's configuration, never looking above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "test@example.org")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(key, raising=False)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, git_env: None) -> Path:
    """A work tree with a policy folder in two commits (tag v1, then main) and changes in
    the work tree since."""
    top = tmp_path / "repo"
    spawn = top / "policies" / "versahub" / "spawn"
    spawn.mkdir(parents=True)
    git(top, "init", "-q", "-b", "main")
    (spawn / "rule.rego").write_text("package versahub.spawn\n# v1\n")
    (top / "policies" / "README").write_text("policies\n")
    (top / "other.txt").write_text("not a policy\n")
    git(top, "add", ".")
    git(top, "commit", "-q", "-m", "v1")
    git(top, "tag", "v1")
    (spawn / "rule.rego").write_text("package versahub.spawn\n# v2\n")
    (spawn / "extra.rego").write_text("package versahub.spawn\n# extra\n")
    git(top, "add", ".")
    git(top, "commit", "-q", "-m", "v2")
    # the work tree moves on: an edit, a new file, a deletion, none committed
    (spawn / "rule.rego").write_text("package versahub.spawn\n# work tree\n")
    (spawn / "draft.rego").write_text("package versahub.spawn\n# draft\n")
    (spawn / "extra.rego").unlink()
    return top


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_the_policies_of_a_commit_are_extracted(repo: Path) -> None:
    policies = repo / "policies"
    with policies_at("HEAD", policies) as folder:
        assert folder.name == "policies" and folder != policies
        assert tree(folder) == {
            "README": "policies\n",
            "versahub/spawn/extra.rego": "package versahub.spawn\n# extra\n",
            "versahub/spawn/rule.rego": "package versahub.spawn\n# v2\n",
        }
        assert not (folder.parent / "other.txt").exists()  # only the policy folder
    assert not folder.exists()  # a temporary copy
    # the work tree is left alone
    assert (policies / "versahub/spawn/rule.rego").read_text().endswith("# work tree\n")
    assert (policies / "versahub/spawn/draft.rego").exists()


@pytest.mark.parametrize("ref", ["v1", "HEAD~1", "HEAD^", "main~1", "main@{1}"])
def test_older_commits_by_any_plain_revision(repo: Path, ref: str) -> None:
    with policies_at(ref, repo / "policies") as folder:
        assert tree(folder) == {
            "README": "policies\n",
            "versahub/spawn/rule.rego": "package versahub.spawn\n# v1\n",
        }


def test_a_full_commit_id_and_a_subfolder(repo: Path) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    with policies_at(first, repo / "policies" / "versahub") as folder:
        assert folder.name == "versahub"
        assert tree(folder) == {"spawn/rule.rego": "package versahub.spawn\n# v1\n"}
    with policies_at(first[:12], repo / "policies") as folder:
        assert "README" in tree(folder)


def test_the_top_of_the_work_tree_as_policy_folder(repo: Path) -> None:
    with policies_at("HEAD", repo) as folder:
        assert (folder / "other.txt").read_text() == "not a policy\n"
        assert (folder / "policies/versahub/spawn/rule.rego").read_text().endswith("# v2\n")


@pytest.mark.parametrize(
    "ref",
    [
        "--upload-pack=touch pwned", "--output=pwned", "-h", "HEAD..main", "HEAD...main",
        "v1..", "a b", "", " HEAD", "HEAD\n", "HEAD;touch pwned", "$(touch pwned)",
        "`touch pwned`", "HEAD:policies", ":/v1", "@{-1}", "~1", "^HEAD", "HEAD|x",
        "x" * 201, "HEAD\x00", "../../etc", "mäin",
    ],
)  # fmt: skip
def test_refs_that_are_no_plain_revision_are_refused_before_git_runs(
    repo: Path, ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_git(*args: Any, **kw: Any) -> None:
        raise AssertionError(f"git ran for {ref!r}: {args}")

    monkeypatch.setattr(cli_decisions.subprocess, "run", no_git)
    with pytest.raises(InputError) as excinfo, policies_at(ref, repo / "policies"):
        pass
    assert excinfo.value.field == "--against"
    assert "is not a git revision" in str(excinfo.value)
    assert len(str(excinfo.value)) < 200 and "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "ref", ["nonexistent", "v9", "HEAD~5", "0" * 40, "deadbeef", "main@{99}", "refs/heads/x"]
)
def test_a_ref_that_names_no_commit_is_refused(repo: Path, ref: str) -> None:
    with pytest.raises(InputError) as excinfo, policies_at(ref, repo / "policies"):
        pass
    assert excinfo.value.field == "--against"
    assert "names no commit" in str(excinfo.value)


def test_a_tree_or_blob_is_no_commit(repo: Path) -> None:
    blob = git(repo, "rev-parse", "HEAD:other.txt")
    tree_id = git(repo, "rev-parse", "HEAD^{tree}")
    for ref in (blob, tree_id):
        with pytest.raises(InputError, match="names no commit"), policies_at(ref, repo):
            pass


def test_a_folder_outside_any_work_tree_is_refused(tmp_path: Path, git_env: None) -> None:
    plain = tmp_path / "plain" / "policies"
    plain.mkdir(parents=True)
    with pytest.raises(InputError) as excinfo, policies_at("HEAD", plain):
        pass
    assert excinfo.value.field == "--against"
    assert "is not in a git work tree" in str(excinfo.value)
    with pytest.raises(InputError, match="--against"), policies_at("HEAD", tmp_path / "gone"):
        pass


def test_a_folder_not_in_the_commit_is_refused(repo: Path) -> None:
    new = repo / "new-policies"
    new.mkdir()
    (new / "x.rego").write_text("package x\n")
    with pytest.raises(InputError) as excinfo, policies_at("HEAD", new):
        pass
    assert excinfo.value.field == "--against"
    assert "is not in commit" in str(excinfo.value)


def test_a_repository_without_commits(tmp_path: Path, git_env: None) -> None:
    top = tmp_path / "empty"
    top.mkdir()
    git(top, "init", "-q")
    with pytest.raises(InputError, match="names no commit"), policies_at("HEAD", top):
        pass


# --- the commands -------------------------------------------------------------------------


def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    return path


def test_decisions_on_an_empty_state_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_file(tmp_path)
    assert main(["policy", "decisions", "--site", str(site)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("versahub: error: no decision records yet in ")
    assert str(tmp_path / "state" / "policy" / "decisions.sqlite") in err
    assert "Traceback" not in err
    assert not (tmp_path / "state" / "policy").exists()  # a reader creates nothing


def test_decisions_on_an_empty_state_as_a_real_process(tmp_path: Path) -> None:
    site = site_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "VERSAHUB_SITE"}
    done = subprocess.run(
        [sys.executable, "-m", "versahub", "policy", "decisions", "--site", str(site)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no decision records yet" in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr


def test_impact_refuses_against_and_policies_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_file(tmp_path)
    argv = ["policy", "impact", "--against", "HEAD", "--policies", str(tmp_path),
            "--site", str(site)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--against" in err and "not both" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--since", "last week"], "--since"),
        (["--since", "2026-02-30"], "--since"),
        (["--outcome", "maybe"], "--outcome"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_decisions_bad_options_exit_2_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    site = site_file(tmp_path)
    connect(tmp_path / "state", create=True).close()
    assert main(["policy", "decisions", *argv, "--site", str(site)]) == 2
    assert named in capsys.readouterr().err


def spawn_event(index: int, hours_ago: float, user: str, result: dict[str, Any]) -> dict[str, Any]:
    moment = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=hours_ago)
    return {
        "decision_id": f"d-{index}", "path": "versahub/spawn/decision",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
        "input": {
            "spec": {"repo": f"https://github.com/lab/r{index}", "ref": "main",
                     "urlpath": "lab/tree/private.ipynb",
                     "mounts": [{"volume": "home", "path": "/home/jovyan/thesis", "mode": "rw"}],
                     "resources": {"memory": "2G", "cpu": None}},
            "user": {"name": user, "groups": ["ds101"]},
            "origin": {"external": True, "referrer": "https://lms.example.edu/?token=s3cr3t"},
        },
        "result": result,
    }  # fmt: skip


def test_decisions_lists_records_without_anything_personal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_file(tmp_path)
    denied = {"allowed": False, "deny": [{"id": "resources-over-cap", "title": "T"}],
              "warn": []}  # fmt: skip
    warned = {"allowed": True, "deny": [], "warn": [{"id": "internet-egress"}]}
    events = [spawn_event(1, 1, "alice", denied), spawn_event(2, 2, "bob", warned),
              spawn_event(3, 24 * 10, "carol", denied)]  # fmt: skip
    records = [record_from_event(e) for e in events]
    db = connect(tmp_path / "state", create=True)
    add(db, [r for r in records if r is not None], keep_days=30)
    db.close()

    assert main(["policy", "decisions", "--json", "--site", str(site)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 2  # carol's is older than the default 7d
    assert doc["rules"] == {"resources-over-cap": 1, "internet-egress": 1}
    assert [d["decision_id"] for d in doc["decisions"]] == ["d-1", "d-2"]
    assert doc["decisions"][0]["spec"]["mounts"] == ["home:rw"]
    assert doc["decisions"][0]["spec"]["resources"] == {"memory": "2G"}
    shown = json.dumps(doc)
    for secret in ("/home/jovyan/thesis", "private.ipynb", "lms.example.edu", "s3cr3t"):
        assert secret not in shown

    assert main(["policy", "decisions", "--since", "30d", "--rule", "resources-over-cap",
                 "--site", str(site)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 decision(s) since ") and lines[0].endswith("(showing 2)")
    assert "denied  alice" in lines[-2] and lines[-2].endswith("deny:resources-over-cap")
    assert "carol" in lines[-1]
    for secret in ("/home/jovyan/thesis", "private.ipynb", "lms.example.edu"):
        assert secret not in "\n".join(lines)

    assert main(["policy", "decisions", "--user", "nobody", "--site", str(site)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("0 decision(s) since ")
