"""Helpers for the Kubernetes tests: the local control plane and the Pulumi CLI, offline.

The control plane is the real one (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) with kwok as a simulated node, started by ``scripts/k8s-cluster.sh`` from the
binaries ``scripts/k8s-toolchain.sh`` built (docs/kubernetes-local-cluster.md). Nothing here
mocks the API server. Each session gets its own folder and ports, so two runs do not collide.
These helpers never signal a process they did not start: the cluster script only stops PIDs
recorded in the cluster's folder whose command line names that folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from kubernetes_asyncio import client, config

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_BIN = Path(os.environ.get("VERSAHUB_K8S_BIN") or REPO_ROOT / ".tools" / "k8s" / "bin")
CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "k8s-cluster.sh"
TOOLCHAIN_SCRIPT = REPO_ROOT / "scripts" / "k8s-toolchain.sh"

CLUSTER_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PULUMI_TOOLS = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-kubernetes",
)
ALL_TOOLS = (*CLUSTER_TOOLS, "kubectl", *PULUMI_TOOLS)
# what `k8s-cluster.sh` runs, in the order `down` stops them last to first
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORT_VARS = (
    "APISERVER_PORT",
    "ETCD_PORT",
    "ETCD_PEER_PORT",
    "CONTROLLER_MANAGER_PORT",
    "SCHEDULER_PORT",
    "KWOK_PORT",
)
NODE = "kwok-node-0"
PULUMI_PASSPHRASE = "versahub-test-passphrase"  # protects test stacks only


def missing_tools(bin_dir: Path = K8S_BIN) -> list[str]:
    """The toolchain's files that are not in ``bin_dir`` (empty when everything is built)."""
    missing = [name for name in ALL_TOOLS if not os.access(bin_dir / name, os.X_OK)]
    if not (bin_dir.parent / "kwok-stages.yaml").is_file():
        missing.append("kwok-stages.yaml")
    return missing


def toolchain_message(missing: Iterable[str]) -> str:
    return (
        f"the Kubernetes toolchain is incomplete in {K8S_BIN} (missing: {', '.join(missing)}): "
        "run scripts/k8s-toolchain.sh (cold ~45-60 min, or `make setup`), "
        "or set VERSAHUB_SKIP_K8S=1 to skip the kubernetes tests"
    )


def free_ports(count: int, low: int = 20000, high: int = 32000) -> list[int]:
    """``count`` distinct ports that are free on 127.0.0.1 now.

    Picked at random below the kernel's ephemeral range (32768-60999), so an outgoing
    connection does not take one between this check and the cluster's start.
    """
    ports: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(ports) < count:
            port = random.randint(low, high)
            if port in ports:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def wait_until(check: Callable[[], T], what: str, timeout: float = 60, interval: float = 0.3) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout:.0f} s")
        time.sleep(interval)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pid_files(cluster_dir: Path) -> dict[str, int]:
    """The PIDs recorded in ``cluster_dir/run`` by ``k8s-cluster.sh up``, by component."""
    pids = {}
    for name in COMPONENTS:
        with contextlib.suppress(OSError, ValueError):
            pids[name] = int((cluster_dir / "run" / f"{name}.pid").read_text())
    return pids


def live_processes(cluster_dir: Path, pids: dict[str, int] | None = None) -> dict[str, int]:
    """Those of ``pids`` (default: the PID files) still running with ``cluster_dir`` in their
    command line (a reused PID belongs to someone else and is not counted)."""
    pids = pid_files(cluster_dir) if pids is None else pids
    mark = f"{cluster_dir.resolve()}/"
    return {name: pid for name, pid in pids.items() if mark in _cmdline(pid)}


class KubeApi:
    """A synchronous face of ``kubernetes_asyncio`` (the client KubeSpawner uses; the venv
    has no sync ``kubernetes`` package): ``api.core.list_namespaced_pod("ns")``.

    Groups: ``core``, ``apps``, ``networking``, ``rbac``, ``storage``, ``batch``, ``policy``,
    ``custom``, ``version``; their methods, arguments and models are those of the ``kubernetes``
    client (``CoreV1Api`` …), errors are ``kubernetes_asyncio.client.ApiException``. Calls run on
    a private event loop in a thread, so sync and async tests can both use it.
    """

    GROUPS: ClassVar[dict[str, str]] = {
        "core": "CoreV1Api",
        "apps": "AppsV1Api",
        "networking": "NetworkingV1Api",
        "rbac": "RbacAuthorizationV1Api",
        "storage": "StorageV1Api",
        "batch": "BatchV1Api",
        "policy": "PolicyV1Api",
        "custom": "CustomObjectsApi",
        "version": "VersionApi",
    }

    def __init__(self, kubeconfig: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="k8s-api", daemon=True)
        self._thread.start()
        self.client = self.run(_api_client(kubeconfig))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run a coroutine of kubernetes_asyncio on this client's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __getattr__(self, group: str) -> _SyncGroup:
        if group not in self.GROUPS:
            raise AttributeError(f"{group!r}: not one of {', '.join(self.GROUPS)}")
        return _SyncGroup(self, getattr(client, self.GROUPS[group])(self.client))

    def sanitize(self, obj: Any) -> Any:
        """A model (e.g. the V1Pod from ``kubespawner.objects.make_pod``) as a JSON-ready dict."""
        return self.client.sanitize_for_serialization(obj)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.run(self.client.close(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@dataclass
class _SyncGroup:
    owner: KubeApi
    api: Any

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.api, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.owner.run(method(*args, **kwargs))

        return call


async def _api_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
    )
    return client.ApiClient(configuration)


@dataclass
class Cluster:
    """A local control plane started by ``scripts/k8s-cluster.sh`` in ``dir``.

    ``kubeconfig``: the admin kubeconfig (certificates embedded, one context). ``env``: an
    environment for subprocesses (KUBECONFIG, and PATH with the toolchain first).
    """

    dir: Path
    ports: dict[str, int]
    owned: bool = True  # started by this session, stopped at its end
    startup_seconds: float | None = None
    _api: KubeApi | None = field(default=None, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['APISERVER_PORT']}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(port_env(self.ports))
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{K8S_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["VERSAHUB_K8S_DIR"] = str(self.dir)
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl ARGS`` against this cluster; text output captured, not checked by default."""
        proc = subprocess.run(
            [str(K8S_BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def kubectl_json(self, *args: str, input: str | None = None) -> Any:
        """``kubectl ARGS -o json``, checked, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", input=input, check=True).stdout)

    def api(self) -> KubeApi:
        """The session's synchronous API client (see ``KubeApi``); closed with the cluster."""
        if self._api is None:
            self._api = KubeApi(self.kubeconfig)
        return self._api

    @contextlib.asynccontextmanager
    async def async_client(self) -> AsyncIterator[Any]:
        """A ``kubernetes_asyncio`` ApiClient on the caller's event loop (for async tests)."""
        api_client = await _api_client(self.kubeconfig)
        try:
            yield api_client
        finally:
            await api_client.close()

    def namespace(self, name: str | None = None, *, prefix: str = "test") -> str:
        """Make sure namespace ``name`` exists (created if missing; calling again is fine), or
        with no name create a fresh one, ``<prefix>-<random>``. Waits for its default service
        account (pods are refused without it) and returns the name."""
        if name is None:
            name = f"{prefix[:50].rstrip('-')}-{secrets.token_hex(3)}"
        if self.kubectl("get", "namespace", name).returncode != 0:
            created = self.kubectl("create", "namespace", name)
            if created.returncode != 0 and "AlreadyExists" not in created.stderr:
                raise AssertionError(f"kubectl create namespace {name}: {created.stderr}")
        wait_until(
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", name).returncode == 0,
            f"the default service account of namespace {name}",
        )
        return name

    def delete_namespace(self, name: str, wait: bool = False) -> None:
        wait_flag = f"--wait={str(wait).lower()}"
        self.kubectl("delete", "namespace", name, "--ignore-not-found", wait_flag)

    def script(self, command: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """``scripts/k8s-cluster.sh COMMAND --dir DIR ARGS`` with this cluster's ports."""
        return run_cluster_script(command, self.dir, self.ports, *args, timeout=timeout)

    def pids(self) -> dict[str, int]:
        return pid_files(self.dir)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def stop(self) -> None:
        """``k8s-cluster.sh down`` and check no process of it is left."""
        self.close()
        pids = self.pids()
        proc = self.script("down")
        if proc.returncode != 0:
            raise AssertionError(f"k8s-cluster.sh down failed:\n{proc.stdout}{proc.stderr}")
        left = live_processes(self.dir, pids)
        if left:
            raise AssertionError(f"k8s-cluster.sh down left processes running: {left}")


def port_env(ports: dict[str, int]) -> dict[str, str]:
    return {f"VERSAHUB_K8S_{var}": str(port) for var, port in ports.items()}


def run_cluster_script(
    command: str, cluster_dir: Path, ports: dict[str, int] | None, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VERSAHUB_K8S_BIN=str(K8S_BIN))
    if ports:
        env.update(port_env(ports))
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), command, "--dir", str(cluster_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def start_cluster(cluster_dir: Path, attempts: int = 3) -> Cluster:
    """``k8s-cluster.sh up`` in ``cluster_dir`` on free ports (new ports if one was taken)."""
    for attempt in range(1, attempts + 1):
        ports = dict(zip(PORT_VARS, free_ports(len(PORT_VARS)), strict=True))
        t0 = time.monotonic()
        proc = run_cluster_script("up", cluster_dir, ports)
        if proc.returncode == 0:
            return Cluster(cluster_dir, ports, startup_seconds=time.monotonic() - t0)
        output = proc.stdout + proc.stderr
        if "is in use" not in output or attempt == attempts:
            raise AssertionError(f"k8s-cluster.sh up failed (logs: {cluster_dir}/logs):\n{output}")
    raise AssertionError("unreachable")


def attach_cluster(cluster_dir: Path) -> Cluster:
    """A cluster somebody else started (``make cluster-up``); it is left running."""
    ports_file = cluster_dir / "ports.env"
    ports = {}
    for line in ports_file.read_text().splitlines():
        var, _, value = line.partition("=")
        ports[var.removeprefix("VERSAHUB_K8S_")] = int(value)
    cluster = Cluster(cluster_dir, ports, owned=False)
    status = cluster.script("status")
    if status.returncode != 0:
        raise AssertionError(f"the cluster in {cluster_dir} is not running:\n{status.stdout}")
    return cluster


# --- Pulumi, offline -------------------------------------------------------------------------


def _venv() -> Path:
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix)
    return REPO_ROOT / ".venv"


def kubernetes_plugin_version() -> str:
    """The provider version the pip SDK asks the CLI for; the built plugin must carry the same
    (scripts/k8s-toolchain.sh stamps it), or the CLI tries to download another one."""
    version = importlib.metadata.version("pulumi_kubernetes")
    plugin = (K8S_BIN / "pulumi-resource-kubernetes").resolve()
    stamp = plugin.with_name(plugin.name + ".version")
    if stamp.is_file() and stamp.read_text().strip() != version:
        raise AssertionError(
            f"pip pulumi-kubernetes is {version} but {plugin} was built as "
            f"{stamp.read_text().strip()}: rebuild with scripts/k8s-toolchain.sh or reinstall"
        )
    return version


def pulumi_env(home: Path, state: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``pulumi`` runs with no network and no Pulumi Cloud account:
    the locally built kubernetes plugin installed into ``home`` (PULUMI_HOME), ambient plugins
    ignored, state in ``file://<state>``, secrets with a passphrase. The old Python language
    host (v3.79) ignores ``runtime.options``: the venv's ``bin`` must come first on PATH."""
    env = {k: v for k, v in (base or os.environ).items() if not k.startswith("PULUMI_")}
    venv = _venv()
    home.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=os.pathsep.join([str(K8S_BIN), str(venv / "bin"), env.get("PATH", "")]),
        VIRTUAL_ENV=str(venv),
        PULUMI_HOME=str(home),
        PULUMI_PYTHON_CMD=str(venv / "bin" / "python"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_CONFIG_PASSPHRASE=PULUMI_PASSPHRASE,
        PULUMI_IGNORE_AMBIENT_PLUGINS="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
        PULUMI_BACKEND_URL=f"file://{state}",
    )
    env.pop("VIRTUAL_ENV_PROMPT", None)
    version = kubernetes_plugin_version()
    run_pulumi(
        env,
        "plugin",
        "install",
        "resource",
        "kubernetes",
        f"v{version}",
        "--file",
        str(K8S_BIN / "pulumi-resource-kubernetes"),
    )
    run_pulumi(env, "login", f"file://{state}")
    return env


def run_pulumi(
    env: dict[str, str],
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``pulumi ARGS --non-interactive`` in ``env``; checked by default, output captured."""
    proc = subprocess.run(
        [str(K8S_BIN / "pulumi"), *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"pulumi {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc
