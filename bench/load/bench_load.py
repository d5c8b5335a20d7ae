"""Load: N users (30) launching a cached image at once, VersaHub vs stock, and hub memory.

Two hubs run side by side on this machine, each with its own users created through the
admin API (``POST /hub/api/users``): (a) stock JupyterHub + DockerSpawner launching the
image directly, (b) VersaHub (``HubUnderTest``: the hub exactly as ``versahub up`` starts
it) launching a spec whose image is in the cache. Every container is capped at the same
memory (``--memory``, 512M: 30 of them fit in 24 GiB): the spec's ``resources.memory`` for
VersaHub, ``DockerSpawner.mem_limit`` for stock.

A *burst* is exactly N launches, one per user, all released at once (a barrier), each with
a deadline; a launch is timed from its request until its server answers a GET through the
proxy. Three ways of launching are measured:

- ``stock``: ``POST /hub/api/users/<u>/servers/<name>`` (no body), poll ``GET
  /hub/api/users/<u>`` until the server is ``ready``, then ``GET /user/<u>/<name>/api/status``;
- ``versahub-rest``: the same REST calls with ``user_options`` = the spec and its
  confirmation hash (the apples-to-apples comparison with stock);
- ``versahub-api``: ``POST /hub/api/versahub/launch`` (202), poll ``GET
  /hub/api/versahub/launch/<name>`` until ``ready``, then the same GET through the proxy.

Every request is made with the launching user's own API token. Rounds alternate: each round
runs one burst of each way, in an order that rotates every round, so that the load of other
work on a shared machine falls on all of them alike. After each burst all N servers are
stopped and removed (``DELETE …/servers/<name>`` with ``remove``) and the benchmark waits
until Docker has removed their containers.

Memory: the RSS (``VmRSS`` of ``/proc/<pid>/status``) of each hub's JupyterHub process with
0 running servers (users created, one warm-up launch done), 10 and N running servers (an
untimed launch of 10, then of the other N-10), and again with 0 after all the bursts.

Where VersaHub's time goes: its spawner logs ``VersaHub prepared <u>/<name> in N ms (site +
policy, image, plan + host)`` per launch and JupyterHub logs ``User <u>:<name> took N
seconds to start`` (its spawn, both hubs): both are collected from the hubs' logs per burst.

Before the hubs start it waits (at most ``--quiet-wait`` seconds, 900) for a quiet machine:
1-min load average below 1.5 and no pytest process; the load is printed per burst. Servers
are named ``load-<n>`` and users ``loads<nn>`` (stock) / ``loadv<nn>`` (VersaHub); every one
of them, and their containers, are removed at the end. Exits 1 if any launch failed.

Run: ``.venv/bin/python bench/load/bench_load.py [--users 30] [--rounds 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import spawn_support  # noqa: E402
from spawn_support import COMMIT, REPO, HubUnderTest, seed_cached_image  # noqa: E402

from versahub.images.engine import docker_cli  # noqa: E402

MODES = ("stock", "versahub-rest", "versahub-api")
LABELS = {
    "stock": "stock JupyterHub + DockerSpawner, REST API",
    "versahub-rest": "VersaHub, REST API (`user_options`: spec + confirmation)",
    "versahub-api": "VersaHub, launch API (`POST /hub/api/versahub/launch`)",
}
PREPARED = re.compile(
    r"VersaHub prepared (?P<user>[^/\s]+)/(?P<server>\S+) in (?P<total>\d+) ms "
    r"\(site \+ policy (?P<policy>\d+), image (?P<image>\d+), plan \+ host (?P<host>\d+)\)"
)
TOOK = re.compile(
    r"User (?P<user>[^:\s]+):(?P<server>\S+) took (?P<seconds>[\d.]+) seconds to start"
)


# -- small helpers ------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (as bench/spawn): p50 of 90 values is the 45th smallest."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def load1() -> float:
    return os.getloadavg()[0]


def other_pytests() -> list[str]:
    """Running pytest processes (not hubs or OPAs that merely live under /tmp/pytest-of-…)."""
    out = subprocess.run(["pgrep", "-fa", "pytest"], capture_output=True, text=True).stdout
    runner = re.compile(r"(^|[\s/])pytest(\s|$)|-m pytest\b")
    return [line for line in out.splitlines() if runner.search(line)]


def wait_quiet(limit: float) -> str:
    """Wait until the 1-min load is below 1.5 and no pytest runs (at most ``limit`` s)."""
    t0 = time.monotonic()
    while True:
        busy = other_pytests()
        if load1() < 1.5 and not busy:
            return f"quiet after {time.monotonic() - t0:.0f} s"
        if time.monotonic() - t0 >= limit:
            return (
                f"not quiet after {limit:.0f} s (load {load1():.2f}, "
                f"{len(busy)} pytest processes): measured anyway"
            )
        time.sleep(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values) / os.sysconf("SC_CLK_TCK")
    return total - idle / os.sysconf("SC_CLK_TCK"), total


def docker_names(pattern: str) -> list[str]:
    out = subprocess.run(
        [docker_cli(), "ps", "-a", "--format", "{{.Names}}", "--filter", f"name={pattern}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return out.split()


class StockHub(HubUnderTest):
    """``HubUnderTest``'s stock baseline with the containers' memory capped like VersaHub's:
    its generated configuration plus one ``DockerSpawner.mem_limit`` line."""

    def __init__(self, root: Path, *, image: str, memory: str) -> None:
        super().__init__(root, stock_image=image, cull_every=3600)
        self.memory = memory

    def start_stock_hub(self, site: Any, paths: Any) -> Any:
        real = spawn_support.start_process

        def start_process(name: str, argv: list[str], **kw: Any) -> Any:
            with Path(argv[-1]).open("a") as config:  # argv: python -m jupyterhub -f <config>
                config.write(f"c.DockerSpawner.mem_limit = {self.memory!r}\n")
            return real(name, argv, **kw)

        spawn_support.start_process = start_process
        try:
            return super().start_stock_hub(site, paths)
        finally:
            spawn_support.start_process = real


# -- one hub and its users ------------------------------------------------------------------
class Side:
    """One hub under test, its N users (each with an API token) and how it launches."""

    def __init__(self, kind: str, root: Path, image: str, args: argparse.Namespace) -> None:
        self.kind = kind
        self.stock = kind == "stock"
        self.args = args
        self.spec = {"repo": REPO, "ref": COMMIT, "resources": {"memory": args.memory}}
        if self.stock:
            self.hub: HubUnderTest = StockHub(root, image=image, memory=args.memory)
        else:
            self.hub = HubUnderTest(root, cull_every=3600)
        tag = "s" if self.stock else "v"
        self.users = [f"load{tag}{i:02d}" for i in range(1, args.users + 1)]
        self.servers = {u: f"load-{i}" for i, u in enumerate(self.users, 1)}
        self.tokens: dict[str, str] = {}
        self.confirmations: dict[str, str] = {}
        self.container_prefix = f"^/jupyter-load{tag}"
        self.log_offset = 0

    # setup
    def start(self) -> None:
        self.hub.start()
        cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        assert b"jupyterhub" in cmdline, cmdline

    @property
    def pid(self) -> int:
        hub = self.hub.components[-1]
        assert hub.name == "hub", hub
        return int(hub.process.pid)

    def pids(self) -> dict[str, int]:
        """The processes whose CPU a burst costs: the hub, its proxy, its OPA."""
        pids = {"hub": self.pid, "opa": int(self.hub.components[0].process.pid)}
        with contextlib.suppress(OSError, ValueError):
            pids["proxy"] = int((self.hub.paths.hub / "jupyterhub-proxy.pid").read_text())
        return pids

    def cpu(self) -> dict[str, float]:
        busy, total = machine_cpu()
        times = os.times()
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        out.update(client=times.user + times.system, machine=busy, machine_total=total)
        return out

    def create_users(self) -> None:
        r = self.hub.api("POST", "/users", json={"usernames": self.users}, timeout=60)
        assert r.status_code == 201, (r.status_code, r.text)
        for user in self.users:
            r = self.hub.api("POST", f"/users/{user}/tokens", json={"note": "bench/load"})
            r.raise_for_status()
            self.tokens[user] = r.json()["token"]
            if not self.stock:  # what the launch dialog sends: the check API's confirmation
                r = self.hub.api(
                    "POST", "/versahub/check", token=self.tokens[user], json={"spec": self.spec}
                )
                r.raise_for_status()
                doc = r.json()
                assert doc["valid"] and doc["confirmation"], doc
                self.confirmations[user] = doc["confirmation"]

    def delete_users(self) -> None:
        for user in self.users:
            with contextlib.suppress(requests.RequestException):
                self.hub.api("DELETE", f"/users/{user}", timeout=60)

    def rss(self) -> dict[str, float]:
        """VmRSS and VmHWM (the peak) of the hub's JupyterHub process, in MiB."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields

    # one launch
    def launch(self, mode: str, user: str, barrier: threading.Barrier | None) -> dict[str, Any]:
        """Launch ``user``'s server ``load-<n>`` in ``mode``; time request → answer through
        the proxy. Never raises: a failure is a record with ``ok`` False and its reason."""
        server = self.servers[user]
        record: dict[str, Any] = {"mode": mode, "user": user, "server": server, "ok": False}
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.tokens[user]}"
        base = self.hub.url
        if barrier is not None:
            barrier.wait()
        t0 = time.perf_counter()
        deadline = t0 + self.args.timeout
        try:
            if mode == "versahub-api":
                body = {
                    "spec": {**self.spec, "server_name": server},
                    "confirmation": self.confirmations[user],
                }
                r = session.post(f"{base}/hub/api/versahub/launch", json=body, timeout=120)
                record["post"] = [r.status_code, time.perf_counter() - t0]
                if r.status_code not in (200, 202):
                    raise RuntimeError(f"launch answered {r.status_code}: {r.text[:300]}")
                poll = f"{base}/hub/api/versahub/launch/{server}"

                def ready() -> bool:
                    doc = session.get(poll, timeout=60).json()
                    if doc.get("status") in ("failed", "stopped"):
                        raise RuntimeError(f"launch {doc.get('status')}: {doc.get('message')}")
                    return doc.get("status") == "ready"

            else:
                body = (
                    {}
                    if self.stock
                    else {
                        "user_options": {
                            "spec": self.spec, "confirmation": self.confirmations[user],
                        }
                    }
                )  # fmt: skip
                url = f"{base}/hub/api/users/{user}/servers/{server}"
                r = session.post(url, json=body, timeout=120)
                record["post"] = [r.status_code, time.perf_counter() - t0]
                if r.status_code not in (201, 202):
                    raise RuntimeError(f"REST start answered {r.status_code}: {r.text[:300]}")

                def ready() -> bool:
                    model = session.get(f"{base}/hub/api/users/{user}", timeout=60).json()
                    state = model.get("servers", {}).get(server) or {}
                    if state.get("ready"):
                        return True
                    if not state.get("pending"):
                        raise RuntimeError(f"server neither pending nor ready: {state}")
                    return False

            while True:
                try:
                    if ready():
                        break
                except (requests.Timeout, requests.ConnectionError):
                    pass  # a slow poll under load is not a failed launch; the deadline is
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"not ready after {self.args.timeout:.0f} s")
                time.sleep(self.args.poll)
            record["ready"] = time.perf_counter() - t0
            # the server itself answers through the proxy
            status_url = f"{base}/user/{user}/{server}/api/status"
            record["proxy_retries"] = 0
            while True:
                r = session.get(status_url, timeout=60, allow_redirects=False)
                if r.status_code == 200:
                    break
                record["proxy_retries"] += 1
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{status_url}: {r.status_code} until the deadline")
                time.sleep(0.2)
            record["seconds"] = time.perf_counter() - t0
            record["ok"] = True
        except Exception as err:  # a failed launch is a result
            record["error"] = f"{type(err).__name__}: {err}"
            record["seconds"] = time.perf_counter() - t0
        finally:
            session.close()
        return record

    def burst(self, mode: str, users: list[str]) -> dict[str, Any]:
        """``len(users)`` launches released at once; returns the records and the log lines."""
        self.log_offset = self.log_size()
        barrier = threading.Barrier(len(users))
        before, others = load1(), len(other_pytests())
        cpu0 = self.cpu()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(users)) as pool:
            records = list(pool.map(lambda u: self.launch(mode, u, barrier), users))
        wall = time.perf_counter() - t0
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in self.cpu().items()}
        return {
            "mode": mode,
            "records": records,
            "wall": wall,
            "load": [before, load1()],
            "cpu": cpu,  # CPU seconds spent during the burst
            "other_pytest": [others, len(other_pytests())],  # other people's test runs
            "log": self.log_lines(),
        }

    def teardown(self, users: list[str]) -> None:
        """Stop and remove these users' servers; wait until their containers are gone."""

        def remove(user: str) -> None:
            server = self.servers[user]
            with contextlib.suppress(requests.RequestException):
                self.hub.api(
                    "DELETE", f"/users/{user}/servers/{server}", json={"remove": True}, timeout=120
                )
            for _ in range(600):
                try:
                    model = self.hub.api("GET", f"/users/{user}", timeout=60).json()
                except requests.RequestException:
                    time.sleep(1)
                    continue
                if server not in model.get("servers", {}):
                    return
                time.sleep(0.5)

        with ThreadPoolExecutor(len(users)) as pool:
            list(pool.map(remove, users))
        for _ in range(600):
            if not docker_names(self.container_prefix):
                return
            time.sleep(0.5)
        raise RuntimeError(f"containers left: {docker_names(self.container_prefix)}")

    def container_limits(self) -> list[str]:
        """The distinct (memory bytes, nano CPUs) of this side's running containers."""
        names = docker_names(self.container_prefix)
        fmt = "memory {{.HostConfig.Memory}}, nano_cpus {{.HostConfig.NanoCpus}}"
        out = subprocess.run(
            [docker_cli(), "inspect", "-f", fmt, *names], capture_output=True, text=True
        ).stdout
        return sorted({line for line in out.splitlines() if line} | {f"{len(names)} containers"})

    def remove_containers(self) -> None:
        names = docker_names(self.container_prefix)
        if names:
            subprocess.run([docker_cli(), "rm", "-f", *names], capture_output=True, check=False)

    # the hub's log
    def log_size(self) -> int:
        try:
            return self.hub.log.stat().st_size
        except OSError:
            return 0

    def log_lines(self) -> dict[str, list[dict[str, Any]]]:
        with self.hub.log.open("rb") as log:
            log.seek(self.log_offset)
            text = log.read().decode(errors="replace")
        prepared = [
            {k: (v if k in ("user", "server") else int(v)) for k, v in m.groupdict().items()}
            for m in PREPARED.finditer(text)
        ]
        took = [
            {"user": m["user"], "server": m["server"], "seconds": float(m["seconds"])}
            for m in TOOK.finditer(text)
        ]
        # JupyterHub's http_timeout (60 s in both hubs) expiring: the launch fails
        gave_up = len(re.findall(r"server never showed up at", text))
        return {"prepared": prepared, "took": took, "gave_up": gave_up, "timeline": timeline(text)}


# -- a launch's timeline in the hub's log -------------------------------------------------------
STAMP = r"^\[[A-Z] (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) [^\]]*\] "
EVENTS = {
    # the launch request's access line (written when answered, with its duration)
    "request": re.compile(
        STAMP + r"20[12] POST /hub/api/(?:users/[^/\s]+/servers/\S+|versahub/launch) "
        r"\((?P<user>[^@\s]+)@[^)]*\) (?P<ms>[\d.]+)ms",
        re.M,
    ),
    "prepared": re.compile(STAMP + r"VersaHub prepared (?P<user>[^/\s]+)/", re.M),
    "created": re.compile(STAMP + r"Created container jupyter-(?P<user>[a-z0-9]+)--", re.M),
    "ready": re.compile(
        STAMP + r"User (?P<user>[^:\s]+):\S+ took (?P<seconds>[\d.]+) seconds to start", re.M
    ),
}
PHASES = {
    "hub, before the spawn": ("request", "spawn"),
    "VersaHub prepared": ("spawn", "prepared"),
    "spawn → DockerSpawner created the container": ("spawn", "created"),
    "container created → the hub sees the server up": ("created", "ready"),
}


def timeline(text: str) -> dict[str, dict[str, float]]:
    """Per user: the times (s since the epoch, hub's clock) of the launch's events."""
    out: dict[str, dict[str, float]] = {}
    for event, pattern in EVENTS.items():
        for m in pattern.finditer(text):
            t = datetime.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
            events = out.setdefault(m["user"], {})
            if event == "request":
                events["request"] = t - float(m["ms"]) / 1000  # when it arrived
            elif event == "ready":
                events["ready"] = t
                events["spawn"] = t - float(m["seconds"])  # JupyterHub's spawn began
            else:
                events.setdefault(event, t)
    return out


def phases(records: list[dict[str, Any]], lines: dict[str, dict[str, float]]) -> dict[str, list]:
    """Seconds per phase of each successful launch (``PHASES``, and the client's share:
    request → ready through the proxy minus the hub's request → ready)."""
    out: dict[str, list[float]] = {name: [] for name in PHASES}
    out["client: polling and the GET through the proxy"] = []
    for r in records:
        events = lines.get(r["user"], {})
        if not r["ok"]:
            continue
        for name, (a, b) in PHASES.items():
            if a in events and b in events:
                out[name].append(events[b] - events[a])
        if "request" in events and "ready" in events:
            out["client: polling and the GET through the proxy"].append(
                r["seconds"] - (events["ready"] - events["request"])
            )
    return out


# -- the run ------------------------------------------------------------------------------
def report_burst(what: str, b: dict[str, Any]) -> None:
    secs = [r["seconds"] for r in b["records"] if r["ok"]] or [float("nan")]
    failed = [r for r in b["records"] if not r["ok"]]
    print(
        f"{what}: p50 {statistics.median(secs):.2f} s, max {max(secs):.2f} s, "
        f"{len(failed)} failed, wall {b['wall']:.1f} s, load {b['load'][0]:.2f} → "
        f"{b['load'][1]:.2f}, hub: {b['log']['gave_up']} never showed up",
        flush=True,
    )
    for r in failed:
        print(f"  FAILED {r['user']}/{r['server']}: {r.get('error')}", flush=True)


def side_of(mode: str) -> str:
    return "stock" if mode == "stock" else "versahub"


@contextlib.contextmanager
def two_hubs(image: str, args: argparse.Namespace) -> Iterator[dict[str, Side]]:
    tmp = Path(tempfile.mkdtemp(prefix="vh-bench-load-"))
    sides = {k: Side(k, tmp / k, image, args) for k in ("stock", "versahub")}
    ok = False
    try:
        for side in sides.values():
            (tmp / side.kind).mkdir()
            side.start()
        yield sides
        ok = True
    finally:
        for side in sides.values():
            with contextlib.suppress(Exception):
                side.teardown(side.users)
            side.delete_users()
            side.hub.stop()
            side.remove_containers()
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for side in sides.values():
                with contextlib.suppress(OSError):
                    shutil.copy(side.hub.log, args.logs / f"{side.kind}-hub.log")
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"failed; the hubs' logs are kept in {tmp}/*/state/logs/hub.log", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    image = seed_cached_image()
    result: dict[str, Any] = {
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "cores": os.cpu_count(),
        "args": vars(args),
    }
    result["quiet"] = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else "not waited"
    result["load_start"] = os.getloadavg()
    print(f"{result['date']}, {result['cores']} cores; {result['quiet']}", flush=True)
    bursts: list[dict[str, Any]] = []
    memory: dict[str, dict[str, dict[str, float]]] = {}
    limits: dict[str, list[str]] = {}
    untimed: list[dict[str, Any]] = []
    with two_hubs(image, args) as sides:
        for side in sides.values():
            side.create_users()
            warm = side.launch("stock" if side.stock else "versahub-api", side.users[0], None)
            assert warm["ok"], warm
            side.teardown(side.users[:1])
        # memory with 0, 10 and N running servers (untimed launches, the product's way)
        few = min(10, args.users)
        for side in sides.values():
            mode = "stock" if side.stock else "versahub-api"
            time.sleep(args.settle)
            memory[side.kind] = {"0": side.rss()}
            for label, users in ((str(few), side.users[:few]), (str(args.users), side.users[few:])):
                if users:
                    b = side.burst(mode, users)
                    b["phase"] = f"memory, {label} running"
                    untimed.append(b)
                    report_burst(f"{side.kind} memory phase → {label}", b)
                time.sleep(args.settle)
                memory[side.kind][label] = side.rss()
            limits[side.kind] = side.container_limits()
            side.teardown(side.users)
            print(f"memory {side.kind}: {memory[side.kind]}", flush=True)
        # timed bursts, the order rotating every round
        for rnd in range(args.rounds):
            order = MODES[rnd % len(MODES) :] + MODES[: rnd % len(MODES)]
            for mode in order:
                side = sides[side_of(mode)]
                b = side.burst(mode, side.users)
                b["round"] = rnd
                bursts.append(b)
                side.teardown(side.users)
                report_burst(f"round {rnd + 1} {mode}", b)
        for side in sides.values():
            time.sleep(args.settle)
            memory[side.kind]["0 after"] = side.rss()
    result["bursts"] = bursts
    result["untimed"] = untimed
    result["memory"] = memory
    result["container_limits"] = limits
    result["load_end"] = os.getloadavg()
    return result


# -- the report ---------------------------------------------------------------------------
def report(result: dict[str, Any]) -> int:
    args = result["args"]
    n, bursts = args["users"], result["bursts"]
    by_mode = {m: [r for b in bursts if b["mode"] == m for r in b["records"]] for m in MODES}
    loads = [x for b in bursts for x in b["load"]]
    print(
        f"\n{result['date']}, {result['cores']} cores; {result['quiet']}; 1-min load during the "
        f"bursts {min(loads):.2f}–{max(loads):.2f}; {args['rounds']} rounds × {n} concurrent "
        f"launches per way, order rotating; memory cap {args['memory']}; polls every "
        f"{args['poll']} s\n"
    )
    stock = [r["seconds"] for r in by_mode["stock"] if r["ok"]]
    print(
        f"| {n} concurrent launches, cached image | launches | failed | p50 | p95 | max |", end=""
    )
    print(" ratio p50 | ratio p95 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    failures = 0
    for mode in MODES:
        recs = by_mode[mode]
        ok = [r["seconds"] for r in recs if r["ok"]]
        failures += len(recs) - len(ok)
        if not ok:
            print(f"| {LABELS[mode]} | {len(recs)} | {len(recs)} | — | — | — | — | — |")
            continue
        p50, p95 = statistics.median(ok), pct(ok, 0.95)
        ratio = (
            f"×{p50 / statistics.median(stock):.2f} | ×{p95 / pct(stock, 0.95):.2f}"
            if stock
            else "— | —"
        )
        print(
            f"| {LABELS[mode]} | {len(recs)} | {len(recs) - len(ok)} | {p50:.2f} s | "
            f"{p95:.2f} s | {max(ok):.2f} s | {ratio} |"
        )
    print(
        "\nPer round, p50 / p95 s (burst wall time; 1-min load before → after; other "
        "people's pytest processes before/after):\n"
    )
    print("| round | " + " | ".join(MODES) + " |")
    print("| --- |" + " --- |" * len(MODES))
    for rnd in range(args["rounds"]):
        cells = []
        for mode in MODES:
            b = next(b for b in bursts if b["round"] == rnd and b["mode"] == mode)
            ok = [r["seconds"] for r in b["records"] if r["ok"]] or [float("nan")]
            cells.append(
                f"{statistics.median(ok):.1f} / {pct(ok, 0.95):.1f} ({b['wall']:.0f} s; "
                f"{b['load'][0]:.1f} → {b['load'][1]:.1f}; "
                f"{'/'.join(map(str, b.get('other_pytest', [])))})"
            )
        print(f"| {rnd + 1} | " + " | ".join(cells) + " |")

    mem = result["memory"]
    labels = [k for k in mem["stock"] if k != "0 after"] + ["0 after"]
    print("\nHub process (JupyterHub) RSS, MiB:\n")
    head = " | ".join(f"{k} running" if k != "0 after" else "0, after the bursts" for k in labels)
    print(f"| hub | {head} | peak (VmHWM) |")
    print("| --- |" + " ---: |" * (len(labels) + 1))
    for kind in ("stock", "versahub"):
        cells = " | ".join(f"{mem[kind][k]['VmRSS']:.0f}" for k in labels)
        print(f"| {kind} | {cells} | {mem[kind]['0 after']['VmHWM']:.0f} |")

    print("\nWhere the time goes (from the hubs' logs), p50 / p95 per launch:\n")
    print("| way | request → ready | JupyterHub spawn (`took … to start`) | VersaHub prepared |")
    print("| --- | --- | --- | --- |")
    for mode in MODES:
        ok = [r["seconds"] for r in by_mode[mode] if r["ok"]]
        took = [t["seconds"] for b in bursts if b["mode"] == mode for t in b["log"]["took"]]
        prep = [p for b in bursts if b["mode"] == mode for p in b["log"]["prepared"]]
        cell = "—"
        if prep:
            parts = []
            for key, name in (("total", "total"), ("policy", "site + policy"),
                              ("image", "image"), ("host", "plan + host")):  # fmt: skip
                values = [p[key] / 1000 for p in prep]
                parts.append(f"{name} {statistics.median(values):.2f} / {pct(values, 0.95):.2f}")
            cell = "; ".join(parts) + " s"
        took_cell = f"{statistics.median(took):.2f} / {pct(took, 0.95):.2f} s" if took else "—"
        ok_cell = f"{statistics.median(ok):.2f} / {pct(ok, 0.95):.2f} s" if ok else "—"
        print(f"| {mode} | {ok_cell} | {took_cell} | {cell} |")
    print("\nCPU seconds per burst (mean over the rounds) while the machine had 2 cores:\n")
    print("| way | hub | its proxy | its OPA | bench client | machine busy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        mine = [b for b in bursts if b["mode"] == mode and "cpu" in b]
        if not mine:
            continue

        def mean(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return statistics.mean(b["cpu"].get(key, 0.0) for b in mine)

        busy = mean("machine") / mean("machine_total") if mean("machine_total") else 0.0
        print(
            f"| {mode} | {mean('hub'):.1f} | {mean('proxy'):.1f} | {mean('opa'):.1f} | "
            f"{mean('client'):.1f} | {mean('machine'):.0f} s of "
            f"{mean('machine_total'):.0f} s ({100 * busy:.0f} %) |"
        )
    print("\nA launch's phases in the hub's log (one clock), p50 / p95 s:\n")
    print("| phase | " + " | ".join(MODES) + " |")
    print("| --- |" + " ---: |" * len(MODES))
    per_mode: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
    for b in bursts:  # each burst's records against its own stretch of the log
        for name, values in phases(b["records"], b["log"]["timeline"]).items():
            per_mode[b["mode"]].setdefault(name, []).extend(values)
    for name in per_mode["versahub-api"]:
        cells = [
            f"{statistics.median(v):.2f} / {pct(v, 0.95):.2f}"
            if (v := per_mode[m].get(name))
            else "—"
            for m in MODES
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    posts = {
        m: [r["post"][1] for r in by_mode[m] if r.get("post")] for m in MODES
    }  # time until the launch request was answered (JupyterHub waits up to 10 s for a spawn)
    print(
        "\nLaunch request answered after, p50 / p95: "
        + "; ".join(
            f"{m} {statistics.median(v):.2f} / {pct(v, 0.95):.2f} s" for m, v in posts.items() if v
        )
    )
    for kind, seen in result.get("container_limits", {}).items():
        print(f"{kind} containers: {'; '.join(seen)}")
    untimed_failed = sum(1 for b in result.get("untimed", []) for r in b["records"] if not r["ok"])
    untimed_n = sum(len(b["records"]) for b in result.get("untimed", []))
    print(f"untimed launches of the memory phase: {untimed_n}, failed: {untimed_failed}")
    failures += untimed_failed
    retries = sum(r.get("proxy_retries", 0) for m in MODES for r in by_mode[m])
    print(f"GETs through the proxy that did not answer 200 at the first try: {retries}")
    start, end = (" ".join(f"{x:.2f}" for x in result[k]) for k in ("load_start", "load_end"))
    print(f"load average at the start {start}, at the end {end}")
    if failures:
        print(f"\n{failures} launches FAILED")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30, help="concurrent launches per burst")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per way of launching")
    parser.add_argument("--memory", default="512M", help="memory cap of every container")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per launch")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between status polls")
    parser.add_argument("--settle", type=float, default=5, help="seconds before reading RSS")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=900,
        help="seconds to wait for a quiet machine (0: none)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--logs", type=Path, help="copy the two hubs' logs into this folder")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return report(result)


if __name__ == "__main__":
    sys.exit(main())
