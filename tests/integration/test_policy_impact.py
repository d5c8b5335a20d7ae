"""The security team's loop on a real site (issue: decision records, policy impact, audit).

A site started as ``versahub up`` starts it records every spawn decision: OPA masks it
(``policies/system/log/mask.rego``) and uploads it to the hub, which keeps it for
``policy.decision_log.keep_days``. Here a week of decisions is made for real — a launch with
credentials and a private mount, checks from an outside link whose referrer carries a token
— then aged in the store as a week would age them, and replayed by ``versahub policy
impact`` against a tightened rule (untrusted code may not reach the internet): the report
lists exactly the launches that flip and exits 3; against the same policies it reports
nothing and exits 0. No report may show a credential, a token or a mount path.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import page_screenshot, wait_for
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

from versahub.policy.server import POLICY_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNTRUSTED = "https://github.com/someone/notebooks"
REFERRER_SECRET = "tok-5d1f0c9a7e"
REFERRER = f"https://blog.example.org/post?token={REFERRER_SECRET}#x"
PRIVATE_PATH = "/home/jovyan/private-notes-7f3a"
TIGHTENED_RULE = """package versahub.spawn

import data.versahub.lib

# METADATA
# title: Internet access for code nobody vouches for
# description: >-
#   Code from a repository outside trusted_repos may not reach the internet: it could send
#   the user's files anywhere.
# custom:
#   id: network-untrusted-internet
#   severity: high
#   message: "%s is not a trusted repository; launch it without internet access."
#   mitigation: "Untick Internet access, or ask for the repository to be trusted."
deny contains lib.finding(rego.metadata.rule(), [input.spec.repo]) if {
	is_string(input.spec.repo)
	not repo_trusted
	input.spec.internet == true
}
"""


def versahub(hub: HubUnderTest, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "versahub", *args, "--site", str(hub.site_file)],
        capture_output=True, text=True, timeout=180, cwd=cwd,
    )  # fmt: skip


def store(hub: HubUnderTest) -> Path:
    return hub.paths.state / "policy" / "decisions.sqlite"


def recorded_ids(hub: HubUnderTest) -> set[str]:
    if not store(hub).exists():
        return set()
    with sqlite3.connect(store(hub)) as db:
        return {i for (i,) in db.execute("SELECT decision_id FROM decisions")}


def dump(hub: HubUnderTest) -> str:
    """Everything the store holds, as SQL text (the write-ahead log included)."""
    with sqlite3.connect(store(hub)) as db:
        return "\n".join(db.iterdump())


def age(hub: HubUnderTest, decision_id: str, days: float) -> None:
    """What a week does to a record: its time moves back (the store orders by time only)."""
    moment = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=days)
    with sqlite3.connect(store(hub)) as db:
        db.execute("UPDATE decisions SET time = ? WHERE decision_id = ?",
                   (moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), decision_id))  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    seed_cached_image()
    hub = HubUnderTest(
        tmp_path_factory.mktemp("impact"),
        policy={"decision_log": {"keep_days": 9, "personal_data": "keep"}},
    )
    hub.doc["hub"]["groups"] = {"physics": ["bob"], "chemistry": ["carol"]}
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def week(hub: HubUnderTest) -> dict[str, Any]:
    """Real decisions through the hub: ``{"flip", "stay", "old_flip", "credential_token"}``."""
    tokens = {u: hub.user_token(u) for u in ("alice", "bob", "carol")}

    def check(user: str, spec: dict[str, Any], external: bool = False) -> str:
        body: dict[str, Any] = {"spec": spec}
        if external:
            body["origin"] = {"external": True, "referrer": REFERRER}
        r = hub.api("POST", "/versahub/check", tokens[user], json=body)
        assert r.status_code == 200 and r.json()["valid"], r.text
        return r.json()["decision_id"]

    # a real launch: credentials, a private mount; allowed (trusted repository)
    before = recorded_ids(hub)
    spec = {"repo": REPO, "ref": COMMIT, "server_name": "notes", "credentials": True,
            "mounts": [{"volume": "home", "path": PRIVATE_PATH, "mode": "rw"}]}  # fmt: skip
    _, done = hub.launch_and_follow(tokens["alice"], spec)
    assert done.get("status") == "ready", done
    out = hub.exec(
        hub.container("alice", "notes"),
        "import json, os; print(json.load(open(os.environ['VERSAHUB_CREDENTIALS_FILE']))"
        "['hub']['token'])",
    )
    credential_token = out.stdout.strip()
    assert len(credential_token) > 20, out
    launch_ids = wait_for(lambda: recorded_ids(hub) - before or None, 20, "the launch's record")
    hub.stop_server("alice", "notes")

    flip = [
        check("bob", {"repo": UNTRUSTED, "internet": True}, external=True),
        check("carol", {"repo": UNTRUSTED + "-2", "internet": True}),
    ]
    stay = [
        *launch_ids,
        check("alice", {"repo": REPO}, external=True),  # trusted
        check("carol", {"repo": UNTRUSTED, "internet": False}),  # no internet
    ]
    denied = check("bob", {"repo": "http://10.0.0.1/x.git"})  # denied today already
    old_flip = check("bob", {"repo": UNTRUSTED + "-old", "internet": True})
    everything = {*flip, *stay, denied, old_flip}
    wait_for(lambda: everything <= recorded_ids(hub) or None, 20, "every decision recorded")
    # the week: spread over the last days; one decision is 8 days old (outside --since 7d)
    for days, ident in zip((6, 5, 3, 2, 1, 0.5, 0.2), [*flip, *stay, denied], strict=False):
        age(hub, ident, days)
    age(hub, old_flip, 8)
    return {"flip": set(flip), "stay": set(stay), "denied": denied, "old_flip": old_flip,
            "credential_token": credential_token, "tokens": tokens}  # fmt: skip


@pytest.fixture(scope="module")
def tightened(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tightened")
    shutil.copytree(POLICY_DIR, root / "policies")
    rule = root / "policies" / "versahub" / "spawn" / "untrusted_internet.rego"
    rule.write_text(TIGHTENED_RULE)
    return root / "policies"


def test_records_are_masked_and_complete(hub: HubUnderTest, week: dict[str, Any]) -> None:
    text = dump(hub)
    assert REFERRER_SECRET not in text  # the mask cut the referrer to its scheme and host
    assert "https://blog.example.org" in text
    assert week["credential_token"] not in text
    assert all(t not in text for t in week["tokens"].values())
    done = versahub(hub, "policy", "decisions", "--since", "7d", "--json", "--limit", "100")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    ids = {d["decision_id"] for d in listed["decisions"]}
    assert week["flip"] | week["stay"] | {week["denied"]} <= ids
    assert week["old_flip"] not in ids  # 8 days old: outside --since 7d
    by_id = {d["decision_id"]: d for d in listed["decisions"]}
    assert by_id[week["denied"]]["outcome"] == "denied"
    assert "repo-internal-host" in by_id[week["denied"]]["deny"]
    assert listed["rules"]["repo-internal-host"] >= 1
    status = json.loads(versahub(hub, "status", "--json").stdout)["components"]["opa"]
    assert (
        status["decision_records"]["records"] >= len(ids) and status["decision_records"]["newest"]
    )
    only = versahub(hub, "policy", "decisions", "--rule", "repo-internal-host", "--json")
    assert {d["decision_id"] for d in json.loads(only.stdout)["decisions"]} == {week["denied"]}
    physics = versahub(hub, "policy", "decisions", "--group", "physics", "--json")
    assert {d["user"] for d in json.loads(physics.stdout)["decisions"]} == {"bob"}


def test_impact_of_a_tightened_rule_lists_exactly_the_flips(
    hub: HubUnderTest, week: dict[str, Any], tightened: Path
) -> None:
    done = versahub(hub, "policy", "impact", "--policies", str(tightened), "--json")
    assert done.returncode == 3, done.stdout + done.stderr
    report = json.loads(done.stdout)
    flipped = {d["decision_id"] for d in report["decisions"] if "newly_denied" in d["changes"]}
    assert flipped == week["flip"]
    block = report["newly_denied"]
    assert block["count"] == 2
    assert set(block["rules"]) == {"network-untrusted-internet"}
    rule = block["rules"]["network-untrusted-internet"]
    assert rule["users"] == ["bob", "carol"]
    assert rule["groups"] == ["chemistry", "physics"]
    assert {e["repo"] for e in rule["examples"]} == {UNTRUSTED, UNTRUSTED + "-2"}
    # the one denied today is denied for one more reason; nothing else changes
    assert {d["decision_id"] for d in report["decisions"]} == week["flip"] | {week["denied"]}
    assert report["newly_allowed"]["count"] == 0
    text = versahub(hub, "policy", "impact", "--policies", str(tightened))
    assert text.returncode == 3
    assert "Newly DENIED (allowed by the baseline): 2 launch(es)" in text.stdout
    assert "network-untrusted-internet" in text.stdout


def test_impact_of_unchanged_policies_is_nothing(
    hub: HubUnderTest, week: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "same")
    done = versahub(hub, "policy", "impact", "--policies", str(tmp_path / "same"), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["replayed"] >= len(week["flip"] | week["stay"]) + 1
    assert report["changed"] == 0 and report["decisions"] == []
    assert "No recorded decision would change." in versahub(
        hub, "policy", "impact", "--policies", str(tmp_path / "same")).stdout  # fmt: skip


def test_a_proposal_that_does_not_compile_is_refused_before_comparing(
    hub: HubUnderTest, week: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "broken")
    (tmp_path / "broken" / "versahub" / "spawn" / "oops.rego").write_text(
        "package versahub.spawn\n\ndeny contains f if {\n"
    )
    done = versahub(hub, "policy", "impact", "--policies", str(tmp_path / "broken"), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "replay failed" in done.stderr and "rego_parse_error" in done.stderr
    assert done.stdout == ""  # no report at all


def test_impact_against_a_git_ref_gates_a_policy_branch(
    hub: HubUnderTest, week: dict[str, Any], tmp_path: Path
) -> None:
    """The site's CI: policies in git, the change in the work tree, ``--against HEAD``."""
    repo = tmp_path / "site-policies"
    shutil.copytree(POLICY_DIR, repo / "policies")
    git = ["git", "-C", str(repo), "-c", "user.name=sec", "-c", "user.email=sec@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "policies in force"], check=True)
    unchanged = versahub(hub, "policy", "impact", "--against", "HEAD",
                         "--policy-dir", str(repo / "policies"), "--json")  # fmt: skip
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)["changed"] == 0
    (repo / "policies" / "versahub" / "spawn" / "untrusted_internet.rego").write_text(
        TIGHTENED_RULE
    )
    changed = versahub(hub, "policy", "impact", "--against", "HEAD",
                       "--policy-dir", str(repo / "policies"), "--json")  # fmt: skip
    assert changed.returncode == 3, changed.stderr
    report = json.loads(changed.stdout)
    assert {d["decision_id"] for d in report["decisions"]
            if "newly_denied" in d["changes"]} == week["flip"]  # fmt: skip
    for bad in ("--flag", "HEAD..main", "no-such-ref"):
        refused = versahub(hub, "policy", "impact", "--against", bad,
                           "--policy-dir", str(repo / "policies"))  # fmt: skip
        assert refused.returncode == 2 and "--against" in refused.stderr, refused.stderr


def test_reports_show_no_credential_token_or_mount_path(
    hub: HubUnderTest, week: dict[str, Any], tightened: Path
) -> None:
    impact = ("policy", "impact", "--policies", str(tightened), "--examples", "50")
    outputs = [
        versahub(hub, "policy", "decisions", "--json", "--limit", "1000").stdout,
        versahub(hub, "policy", "decisions", "--limit", "1000").stdout,
        versahub(hub, *impact, "--json").stdout,
        versahub(hub, *impact).stdout,
    ]
    session = hub.login("admin")
    for query in ("", "?days=30", f"?user=alice&repo={REPO}"):
        page = session.get(f"{hub.url}/hub/versahub/decisions{query}")
        assert page.status_code == 200, page.text[:500]
        outputs.append(page.text)
    secrets = [week["credential_token"], REFERRER_SECRET, PRIVATE_PATH, "private-notes",
               *week["tokens"].values()]  # fmt: skip
    for out in outputs:
        assert out.strip()
        for secret in secrets:
            assert secret not in out


def test_audit_page_filters_counts_and_rule_docs(hub: HubUnderTest, week: dict[str, Any]) -> None:
    """In Chromium: the filters are filled from the records, a filter narrows the table, the
    counts per rule add up, and a denial links to its rule's documentation."""
    from playwright.sync_api import sync_playwright

    admin = hub.login("admin")
    assert admin.get(f"{hub.url}/hub/versahub/decisions").status_code == 200
    assert hub.login("alice").get(f"{hub.url}/hub/versahub/decisions").status_code == 403
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.add_cookies([{"name": c.name, "value": c.value or "", "domain": "127.0.0.1",
                                  "path": c.path or "/"} for c in admin.cookies])  # fmt: skip
            page = context.new_page()
            page.goto(f"{hub.url}/hub/versahub/decisions?days=7")
            form = page.locator("#vh-decisions-filter")
            rules = form.locator("select[name=rule] option").all_inner_texts()
            assert {"repo-internal-host", "image-untrusted-repo", "origin-external-link"} <= set(
                rules
            )
            assert {"alice", "bob", "carol"} <= set(
                form.locator("select[name=user] option").all_inner_texts())  # fmt: skip
            assert {"physics", "chemistry"} <= set(
                form.locator("select[name=group] option").all_inner_texts())  # fmt: skip
            counts = {
                row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(2).inner_text())
                for row in page.locator("#vh-decisions-counts tbody tr").all()
            }
            assert counts["repo-internal-host"] == 1
            assert counts["origin-external-link"] == 2  # the two checks from the outside link
            assert page.locator("#vh-decisions-chart svg polyline").count() >= 3
            # filter: the denials only
            form.locator("select[name=outcome]").select_option("denied")
            form.locator("button[type=submit]").click()
            page.wait_for_url("**outcome=denied**")
            outcomes = page.locator("#vh-decisions-table tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.outcome)")  # fmt: skip
            assert outcomes == ["denied"]
            # the denial links to its rule's documentation
            page.locator("#vh-decisions-table a", has_text="repo-internal-host").click()
            page.wait_for_url("**/decisions/rules/repo-internal-host")
            doc = page.locator("#vh-decisions-rule-doc").inner_text()
            assert "repo-internal-host" in doc and "versahub/spawn/repo.rego:" in doc
            assert page.locator("h1").inner_text().strip()
            page.locator("#vh-decisions-rule-filter").click()
            page.wait_for_url("**rule=repo-internal-host**")
            assert page.locator("#vh-decisions-table tbody tr").count() == 1
        finally:
            browser.close()
    page_screenshot(f"{hub.url}/hub/versahub/decisions?days=7", admin, "decisions",
                    selector="#vh-decisions-table tbody tr", at_least=5, height=900)  # fmt: skip


def test_records_older_than_keep_days_are_dropped(hub: HubUnderTest, week: dict[str, Any]) -> None:
    age(hub, week["old_flip"], 10)  # keep_days is 9
    before = recorded_ids(hub)
    assert week["old_flip"] in before
    r = hub.api("POST", "/versahub/check", week["tokens"]["alice"], json={"spec": {"repo": REPO}})
    new_id = r.json()["decision_id"]
    wait_for(lambda: new_id in recorded_ids(hub) or None, 20, "the new decision")
    assert week["old_flip"] not in recorded_ids(hub)
    assert week["flip"] <= recorded_ids(hub)


def test_upload_needs_the_opa_service_token(hub: HubUnderTest) -> None:
    event = [{"path": "versahub/spawn/decision", "decision_id": "forged-1",
              "timestamp": "2026-11-29T10:00:00Z", "input": {},
              "result": {"allowed": True}}]  # fmt: skip
    url = f"{hub.url}/hub/api/versahub/decision-log/logs"
    anonymous = requests.post(url, json=event, timeout=10)
    assert anonymous.status_code in (403, 401)
    admin = requests.post(url, json=event, headers={"Authorization": f"token {hub.token}"},
                          timeout=10)  # fmt: skip
    assert admin.status_code == 403 and "custom:versahub:decision-log" in admin.text
    assert "forged-1" not in recorded_ids(hub)


@pytest.fixture(scope="module")
def hashed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubUnderTest]:
    hub = HubUnderTest(tmp_path_factory.mktemp("hashed"),
                       policy={"decision_log": {"personal_data": "hash"}})  # fmt: skip
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def test_hashed_names_are_stable_pseudonyms(hashed_hub: HubUnderTest) -> None:
    hub = hashed_hub
    ids = []
    for user, collaborators in (("alice", ["bob"]), ("alice", []), ("carol", ["alice"])):
        r = hub.api("POST", "/versahub/check", hub.user_token(user),
                    json={"spec": {"repo": REPO, "collaborators": collaborators}})  # fmt: skip
        ids.append(r.json()["decision_id"])
    wait_for(lambda: set(ids) <= recorded_ids(hub) or None, 20, "the decisions")
    text = dump(hub)
    for name in ("alice", "bob", "carol"):
        assert f'"{name}"' not in text
    listed = json.loads(versahub(hub, "policy", "decisions", "--json").stdout)["decisions"]
    users = {d["decision_id"]: d["user"] for d in listed}
    assert users[ids[0]] == users[ids[1]] != users[ids[2]]
    assert all(u.startswith("user-") and len(u) == 17 for u in users.values())
    key_file = hub.paths.hub / "decision-log-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in text
