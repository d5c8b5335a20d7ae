"""Spawning with a real JupyterHub, configurable-http-proxy, OPA (real policies) and Docker."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image

pytestmark = [pytest.mark.integration, pytest.mark.docker]

SPEC = {"repo": REPO, "ref": COMMIT}


@pytest.fixture(scope="module")
def image() -> str:
    return seed_cached_image()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, image: str) -> Iterator[HubUnderTest]:
    hub = HubUnderTest(tmp_path_factory.mktemp("hub")).start()
    try:
        yield hub
    finally:
        hub.stop()


def test_launch_reach_through_proxy_persist_home(hub: HubUnderTest) -> None:
    r = hub.launch("alice", "analysis", {**SPEC, "urlpath": "lab/tree/index.ipynb"})
    assert r.status_code in (201, 202), r.text
    alice = hub.user_token("alice")
    base = f"{hub.url}/user/alice/analysis"
    status = requests.get(f"{base}/api/status", headers={"Authorization": f"token {alice}"})
    assert status.status_code == 200, status.text
    # the repository's files were copied into the project folder in the persistent home
    listing = requests.get(
        f"{base}/api/contents/analysis", headers={"Authorization": f"token {alice}"}
    ).json()
    assert {"index.ipynb", "hello.txt"} <= {c["name"] for c in listing["content"]}
    put = requests.put(
        f"{base}/api/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "keep me"},
        headers={"Authorization": f"token {alice}"},
    )
    assert put.status_code in (200, 201), put.text
    hub.stop_server("alice", "analysis")
    # restart without options: the stored spec is re-checked and reused
    r = hub.api("POST", "/users/alice/servers/analysis")
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "analysis")
    got = requests.get(
        f"{base}/api/contents/notes.txt", headers={"Authorization": f"token {alice}"}
    )
    assert got.status_code == 200 and got.json()["content"] == "keep me"
    hub.stop_server("alice", "analysis")


def _no_container(hub: HubUnderTest, user: str, name: str) -> bool:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.versahub.owner={user}",
         "--filter", f"label=org.versahub.server={name}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return not out


def test_denied_spec_is_refused_with_finding_ids(hub: HubUnderTest) -> None:
    spec = {**SPEC, "resources": {"memory": "64G"}}
    r = hub.launch("alice", "greedy", spec, confirm=False)
    assert r.status_code == 403, r.text
    assert "resources-over-cap" in r.json()["message"]
    assert _no_container(hub, "alice", "greedy")


def test_warnings_need_the_matching_confirmation(hub: HubUnderTest) -> None:
    spec = {**SPEC, "resources": {"memory": "1536M", "cpu": 1.75}}
    r = hub.launch("alice", "large", spec, confirm=False)
    assert r.status_code == 409, r.text
    assert "resources-large" in r.json()["message"]
    other = {**SPEC, "resources": {"memory": "1537M", "cpu": 1.75}}
    r = hub.launch("alice", "large", spec, confirmation=hub.confirmation(other, "alice"))
    assert r.status_code == 409, r.text
    assert _no_container(hub, "alice", "large")
    r = hub.launch("alice", "large", spec)
    assert r.status_code in (201, 202), r.text
    ctr = hub.container("alice", "large")
    out = hub.exec(
        ctr,
        "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip());"
        "print(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read().strip());"
        "print(open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read().strip())",
    )
    assert out.stdout.split() == [str(1536 * 1024**2), "175000", "100000"], out
    hub.stop_server("alice", "large")


def test_mounts_read_only_really_read_only(hub: HubUnderTest) -> None:
    shared = hub.root / "state" / "volumes" / "shared" / "teaching"
    shared.mkdir(parents=True, exist_ok=True)
    (shared / "syllabus.txt").write_text("week 1\n")
    spec = {**SPEC, "mounts": [{"volume": "teaching", "path": "/home/jovyan/teaching"}]}
    r = hub.launch("carol", "course", spec)
    assert r.status_code in (201, 202), r.text
    ctr = hub.container("carol", "course")
    out = hub.exec(
        ctr,
        "import os\n"
        "print(open('/home/jovyan/teaching/syllabus.txt').read().strip())\n"
        "try:\n open('/home/jovyan/teaching/x','w').write('x'); print('ro-write-ok')\n"
        "except OSError as e: print('ro-write-failed', e.errno)\n"
        "open('/home/jovyan/mine.txt','w').write('x'); print('rw-write-ok')\n"
        "print('creds', os.path.exists('/run/secrets/versahub/credentials.json'))\n",
    )
    assert out.stdout.split("\n")[:4] == [
        "week 1", "ro-write-failed 30", "rw-write-ok", "creds False"
    ], out  # fmt: skip
    assert (hub.root / "state" / "volumes" / "home" / "carol" / "mine.txt").exists()
    assert not (shared / "x").exists()
    hub.stop_server("carol", "course")


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP listener on the docker0 address: a stand-in for "anything but the hub"."""
    sock = socket.socket()
    sock.bind(("172.17.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    sock.close()


PROBE = """
import os, socket, urllib.request, urllib.error
def dns():
    try:
        socket.getaddrinfo('pypi.org', 443); return 'resolves'
    except OSError: return 'no-dns'
def tcp(port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect(('172.17.0.1', port)); return 'connects'
    except OSError: return 'blocked'
def hub():
    try:
        urllib.request.urlopen(os.environ['JUPYTERHUB_API_URL'], timeout=5); return 'hub-ok'
    except urllib.error.HTTPError: return 'hub-ok'
    except OSError: return 'hub-unreachable'
print(dns(), tcp(%d), hub())
"""


@pytest.mark.parametrize(
    ("internet", "expected"),
    [
        pytest.param(False, "no-dns blocked hub-ok", id="internet-off"),
        pytest.param(True, "resolves connects hub-ok", id="internet-on"),
    ],
)
def test_internet_off_reaches_only_the_hub(
    hub: HubUnderTest, host_listener: int, internet: bool, expected: str
) -> None:
    name = "online" if internet else "offline"
    r = hub.launch("bob", name, {**SPEC, "internet": internet})
    assert r.status_code in (201, 202), r.text
    out = hub.exec(hub.container("bob", name), PROBE % host_listener)
    assert out.stdout.strip() == expected, out
    bob = hub.user_token("bob")
    status = requests.get(
        f"{hub.url}/user/bob/{name}/api/status", headers={"Authorization": f"token {bob}"}
    )
    assert status.status_code == 200
    hub.stop_server("bob", name)


def test_collaborator_gets_access_and_loses_it(hub: HubUnderTest) -> None:
    spec = {**SPEC, "collaborators": ["bob"]}
    r = hub.launch("alice", "shared", spec)
    assert r.status_code in (201, 202), r.text
    bob = hub.user_token("bob")
    url = f"{hub.url}/user/alice/shared/api/status"
    assert requests.get(url, headers={"Authorization": f"token {bob}"}).status_code == 200
    shared = hub.api("GET", "/users/bob/shared", token=bob).json()
    assert [s["server"]["name"] for s in shared["items"]] == ["shared"]
    hub.stop_server("alice", "shared")
    r = hub.launch("alice", "shared", {**SPEC, "collaborators": []})
    assert r.status_code in (201, 202), r.text
    denied = requests.get(url, headers={"Authorization": f"token {bob}"}, allow_redirects=False)
    assert denied.status_code in (403, 404), denied.status_code
    hub.stop_server("alice", "shared")


def test_credentials_file_0600_and_never_in_labels_or_log(hub: HubUnderTest) -> None:
    r = hub.launch("alice", "creds", {**SPEC, "credentials": True})
    assert r.status_code in (201, 202), r.text
    ctr = hub.container("alice", "creds")
    out = hub.exec(
        ctr,
        "import json, os, stat, urllib.request\n"
        "p = os.environ['VERSAHUB_CREDENTIALS_FILE']\n"
        "st = os.stat(p)\n"
        "doc = json.load(open(p))\n"
        "req = urllib.request.Request(doc['hub']['api_url'] + '/user',"
        " headers={'Authorization': 'token ' + doc['hub']['token']})\n"
        "me = json.load(urllib.request.urlopen(req))\n"
        "print(oct(stat.S_IMODE(st.st_mode)), st.st_uid, me['name'], doc['hub']['token'])\n",
    )
    mode, uid, name, token = out.stdout.split()
    assert (mode, uid, name) == ("0o600", "1000", "alice"), out
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Labels}}", ctr],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert token not in inspect
    hub.stop_server("alice", "creds")
    assert token not in hub.log.read_text(errors="replace")
    host_file = hub.root / "state" / "credentials" / "alice" / "creds" / "credentials.json"
    assert not host_file.exists()
    # the token is revoked with the server
    assert hub.api("GET", "/user", token=token).status_code == 403


def test_idle_timeout_stops_the_server(hub: HubUnderTest) -> None:
    r = hub.launch("carol", "brief", {**SPEC, "resources": {"idle_timeout": "4s"}})
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        server = hub.api("GET", "/users/carol").json()["servers"].get("brief")
        if not server or not server.get("ready"):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the idle server was not culled")
    deadline = time.monotonic() + 15
    while not _no_container(hub, "carol", "brief") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _no_container(hub, "carol", "brief")


def follow_launch(hub: HubUnderTest, token: str, answer: requests.Response) -> dict:
    """A launch answer followed to its end: 202 ``starting`` is polled until ready/failed."""
    doc = answer.json()
    if answer.status_code != 202:
        return {**doc, "http": answer.status_code}
    assert doc["status"] == "starting" and doc["progress_url"], doc
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = requests.get(f"{hub.url}{doc['progress_url']}",
                           headers={"Authorization": f"token {token}"}, timeout=10)  # fmt: skip
        state = got.json()
        if state["status"] in ("ready", "failed"):
            return {**doc, **state, "http": 202}
        time.sleep(0.3)
    raise TimeoutError(doc)


def test_launch_endpoint_open_differ_update_and_race(hub: HubUnderTest) -> None:
    alice = hub.user_token("alice")

    def launch(body: dict) -> dict:
        answer = hub.api("POST", "/versahub/launch", token=alice, json=body, timeout=120)
        return follow_launch(hub, alice, answer)

    spec = {**SPEC, "server_name": "proj", "urlpath": "lab/tree/index.ipynb"}
    body = {"spec": spec, "confirmation": hub.confirmation(spec, "alice")}
    # two identical launches racing: one server
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(launch, [body, body]))
    assert [a["status"] for a in answers] == ["ready", "ready"], answers
    assert {a["url"] for a in answers} == {"/user/alice/proj/lab/tree/proj/index.ipynb"}
    first = hub.container("alice", "proj")  # exactly one container
    opened = requests.get(
        f"{hub.url}/user/alice/proj/api/contents/proj/index.ipynb",
        headers={"Authorization": f"token {alice}"},
    )
    assert opened.status_code == 200
    # same spec again: open the running server, nothing recreated
    again = launch(body)
    assert again["http"] == 200 and hub.container("alice", "proj") == first
    # a different spec: the differences, and a choice
    changed = {**spec, "internet": False}
    body2 = {"spec": changed, "confirmation": hub.confirmation(changed, "alice")}
    differs = launch(body2)
    assert differs["http"] == 409, differs
    assert differs["status"] == "differs"
    assert differs["differences"] == [{"field": "internet", "old": True, "new": False}]
    # "open as it is" keeps the running server
    assert launch({**body2, "action": "open"})["http"] == 200
    assert hub.container("alice", "proj") == first
    # "update" recreates it with the new spec; the persistent home stays
    requests.put(
        f"{hub.url}/user/alice/proj/api/contents/keep.txt",
        json={"type": "file", "format": "text", "content": "still here"},
        headers={"Authorization": f"token {alice}"},
    ).raise_for_status()
    updated = launch({**body2, "action": "update"})
    assert updated["status"] == "ready", updated
    ctr = hub.container("alice", "proj")
    assert ctr != first
    labels = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Labels}}", ctr],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert '"org.versahub.internet":"false"' in labels
    kept = requests.get(
        f"{hub.url}/user/alice/proj/api/contents/keep.txt",
        headers={"Authorization": f"token {alice}"},
    )
    assert kept.json()["content"] == "still here"
    hub.stop_server("alice", "proj")


def test_launch_endpoint_denied_answers_with_finding_ids(hub: HubUnderTest) -> None:
    alice = hub.user_token("alice")
    spec = {**SPEC, "server_name": "nope", "resources": {"memory": "64G"}}
    r = hub.api("POST", "/versahub/launch", token=alice, json={"spec": spec})
    assert r.status_code == 403
    assert r.json()["status"] == "denied"
    assert "resources-over-cap" in [f["id"] for f in r.json()["decision"]["deny"]]
    assert _no_container(hub, "alice", "nope")


def test_public_readonly_copy_for_an_anonymous_visitor(hub: HubUnderTest) -> None:
    spec = {
        **SPEC,
        "public_readonly": True,
        # public access needs every mount read-only: the owner's home too (mounted aside)
        "mounts": [
            {"volume": "home", "path": "/home/jovyan/home", "mode": "ro"},
            {"volume": "teaching", "path": "/home/jovyan/teaching"},
        ],
    }
    r = hub.launch("alice", "demo", spec)
    assert r.status_code in (201, 202), r.text
    # not public: no link
    private = requests.get(f"{hub.url}/hub/versahub/public/alice/analysis")
    assert private.status_code == 404
    visitor = requests.Session()  # no account, no token
    link = f"{hub.url}/hub/versahub/public/alice/demo"
    page = visitor.get(link, timeout=60)
    assert page.status_code == 200, page.text[:500]
    assert not [u for u in hub.api("GET", "/users").json() if u["name"].startswith("guest-")]
    # the page's button POSTs its XSRF token and one-time token: that creates the copy
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    opened = visitor.post(link, data=fields, allow_redirects=False, timeout=60)
    assert opened.status_code == 302, opened.text[:500]
    guests = [u["name"] for u in hub.api("GET", "/users").json() if u["name"].startswith("guest-")]
    assert len(guests) == 1
    guest = guests[0]
    assert re.fullmatch(r"guest-[0-9a-f]{16}", guest)
    assert opened.headers["Location"] == f"/hub/spawn-pending/{guest}/public-alice-demo"
    hub.wait_ready(guest, "public-alice-demo")
    ctr = hub.container(guest, "public-alice-demo")
    out = hub.exec(
        ctr,
        "import os\n"
        "try:\n open('/home/jovyan/teaching/x','w'); print('wrote')\n"
        "except OSError as e: print('ro', e.errno)\n"
        "print(os.path.exists('/run/secrets/versahub'), os.path.ismount('/home/jovyan'),"
        " os.path.exists('/home/jovyan/home'))\n",
    )
    assert out.stdout.split() == ["ro", "30", "False", "False", "False"], out
    # the visitor reaches the copy through the proxy with the guest login
    landing = visitor.get(f"{hub.url}{opened.headers['Location']}", timeout=60)
    assert f"/user/{guest}/public-alice-demo/" in landing.url, landing.url
    tree = visitor.get(f"{hub.url}/user/{guest}/public-alice-demo/api/status", timeout=30)
    assert tree.status_code == 200, tree.status_code
    hub.stop_server(guest, "public-alice-demo")
    deadline = time.monotonic() + 15
    while not _no_container(hub, guest, "public-alice-demo") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _no_container(hub, guest, "public-alice-demo")
    # the culler deletes the guest account once its copy is gone (and only guest accounts)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        names = [u["name"] for u in hub.api("GET", "/users").json()]
        if guest not in names:
            break
        time.sleep(1)
    assert guest not in names
    assert "alice" in names and "bob" in names
    hub.stop_server("alice", "demo")
