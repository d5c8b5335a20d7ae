"""VersaHub's spawner: DockerSpawner that enforces the policy before every start.

``VersaHubSpawnerMixin.start`` is the whole launch on the hub side:

1. read the request from ``user_options`` (``{"spec": {...}, "confirmation": "<hash>",
   "origin": {...}}``; a bare spec mapping is accepted too) — JupyterHub stores it with the
   server, so a restart without options reuses it;
2. re-parse the spec (``parse_spec``, owner = the server's user, volumes = the site's
   catalogue); bad input → ``400`` naming the field;
3. re-ask OPA with the real policies (``PolicyClient``, fail closed); a denial → ``403``
   with every finding's id and message; warnings without the confirmation hash of exactly
   this ``spec_id`` and these warning ids → ``409`` naming the missing confirmation;
4. get the image through ``versahub.images`` (resolve, cache hit or one repo2docker build;
   events shown on the progress page);
5. make the runtime plan (pure), render it for DockerSpawner, prepare host folders,
   networks, credentials and shares, then let DockerSpawner create a fresh container
   (``remove=True``: persistent data lives only in volumes).

It never starts a container for a spec that OPA did not allow in this very call, and it
never blocks the hub's event loop (JupyterHub is one tornado thread: a blocking call stalls
every other launch and request): file and Docker I/O run in threads, OPA, git and the
image engine are asynchronous. Progress events carry BinderHub's ``phase``
(:func:`progress_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import Configurable

from versahub.errors import InputError
from versahub.hub import credentials as creds
from versahub.hub.docker import docker_traits
from versahub.hub.network import ensure_network, install_offline_firewall, network_specs
from versahub.hub.sharing import existing, sync_shares
from versahub.launch.plan import Layout, RuntimePlan, make_plan
from versahub.policy import Decision, PolicyClient
from versahub.site.config import Site, load_site
from versahub.spec import ServerSpec, parse_spec

REQUEST_KEYS = ("spec", "confirmation", "origin")
PUBLIC_KEY = "public_copy_of"

# BinderHub's launch phases, in order, and where each puts the progress bar.
PHASES = ("waiting", "fetching", "building", "pushing", "built", "launching", "ready", "failed")
PHASE_PROGRESS = {
    "waiting": 10, "fetching": 20, "building": 40, "pushing": 75, "built": 85,
    "launching": 90, "ready": 100, "failed": 100,
}  # fmt: skip
# The image builder's phases as launch phases: its "ready" means the *image* is ready;
# the server is ready only when JupyterHub says so (``progress_ready_hook``).
BUILD_PHASES = {"ready": "built"}


def progress_event(phase: str, message: str) -> dict[str, Any]:
    """One event of JupyterHub's progress stream with BinderHub's ``phase`` (pure)."""
    if phase not in PHASE_PROGRESS:
        raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    return {"phase": phase, "progress": PHASE_PROGRESS[phase], "message": message}


def build_event(ev: Mapping[str, Any]) -> dict[str, Any]:
    """A ``versahub.images`` build event as a progress event (pure)."""
    phase = str(ev.get("phase", "building"))
    return progress_event(BUILD_PHASES.get(phase, phase), f"{phase}: {ev.get('message', '')}")


def ready_hook(spawner: Any, ready_event: dict[str, Any]) -> dict[str, Any]:
    """``Spawner.progress_ready_hook``: JupyterHub's final event gets ``phase: ready``."""
    return {**ready_event, "phase": "ready"}


_sites: dict[str, tuple[tuple[int, int, int], Site]] = {}


def load_site_cached(path: str) -> Site:
    """``load_site(path)``, parsed again only when the file changed (size, mtime, inode).

    Blocking (a ``stat``, and on a change a read and a YAML parse): call it through
    :func:`site_for` from the hub's event loop.
    """
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _sites.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    site = load_site(path)
    _sites[path] = (key, site)
    return site


async def site_for(path: str) -> Site:
    """The site of ``path`` as it is now, read in a thread (never blocks the loop)."""
    return await asyncio.to_thread(load_site_cached, str(path))


def prepare_folders(mounts: Any, uid: int) -> None:
    """Create missing host folders of ``mounts``, owned by ``uid`` when root (blocking)."""
    for mount in mounts:
        path = Path(mount.source)
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(path, uid, uid)


class LaunchRefused(web.HTTPError):
    """A start refused by the policy; ``findings`` are the finding dicts for the UI/API."""

    def __init__(self, status: int, message: str, findings: list[dict[str, str]]) -> None:
        super().__init__(status, message)
        # JupyterHub shows the message (``log_message``) on the spawn page and in the API
        self.findings = findings


def split_request(user_options: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, dict]:
    """``(spec mapping, confirmation, origin)`` from ``user_options`` (pure)."""
    options = dict(user_options or {})
    if "spec" in options:
        unknown = sorted(set(options) - set(REQUEST_KEYS))
        if unknown:
            raise InputError(unknown[0], f"unknown launch option; known: {', '.join(REQUEST_KEYS)}")
        spec = options["spec"]
    else:
        spec = {k: v for k, v in options.items() if k not in ("confirmation", "origin")}
    if not isinstance(spec, Mapping):
        raise InputError("spec", "must be a mapping")
    confirmation = options.get("confirmation")
    if confirmation is not None and not isinstance(confirmation, str):
        raise InputError("confirmation", "must be a string (the confirmation hash)")
    origin = options.get("origin") or {}
    if not isinstance(origin, Mapping):
        raise InputError("origin", "must be a mapping")
    return dict(spec), confirmation, dict(origin)


def refusal(decision: Decision, spec: ServerSpec, confirmation: str | None) -> LaunchRefused | None:
    """The error to raise for this decision, or ``None`` when the start may go ahead."""
    if not decision.allowed:
        findings = [f.to_dict() for f in decision.deny]
        text = "; ".join(f"[{f.id}] {f.message}" for f in decision.deny)
        return LaunchRefused(403, f"Denied by the site's policy: {text}", findings)
    if not decision.is_confirmed_by(confirmation, spec.spec_id):
        findings = [f.to_dict() for f in decision.warn]
        ids = ", ".join(decision.warn_ids)
        what = "does not match" if confirmation else "is missing"
        return LaunchRefused(
            409,
            f"Confirmation required: the confirmation {what} for spec {spec.spec_id} with "
            f"warnings [{ids}] (send confirmation=sha256(spec_id + warning ids), "
            "see docs/spawning.md)",
            findings,
        )
    return None


async def policy_decision(
    db: Any,
    user: Any,
    site: Site,
    spec: ServerSpec,
    origin: Mapping[str, Any],
    *,
    opa_url: str = "",
    timeout: float = 0.0,
) -> Decision:
    """Ask OPA about ``spec`` launched by ``user`` (a JupyterHub user); fails closed."""
    url = opa_url or site.opa_url
    timeout = timeout or float(site.data["opa"].get("timeout", 1.0))
    directory = existing(db, spec.collaborators)
    who = {
        "name": user.name,
        "groups": [g.name for g in user.groups],
        "admin": bool(user.admin),
    }
    async with PolicyClient(url, timeout=timeout) as client:
        return await client.decide_spec(
            spec, who, origin, directory, {"name": site.name, "hub_url": site.hub_url}
        )


class VersaHubSpawnerMixin(Configurable):
    """Policy enforcement, image resolution and the runtime plan, before DockerSpawner."""

    site_file = Unicode(
        "",
        config=True,
        help="""Path of the site's site.yaml; volumes, caps, the state folder and OPA's
        address are read from it at every start.""",
    )
    opa_url = Unicode(
        "",
        config=True,
        help="""Base URL of the OPA server; empty means the site's ``opa.address``.""",
    )
    opa_timeout = Float(
        0.0,
        config=True,
        help="""Seconds to wait for a decision (0: the site's ``opa.timeout``). No answer
        in time is a denial.""",
    )
    images_config = Dict(
        config=True,
        help="""Settings for ``versahub.images.ImagesConfig`` (image prefix, base image,
        registry, CA bundle...). Empty: its defaults.""",
    )
    hub_connect_ip = Unicode(
        "172.17.0.1",
        config=True,
        help="""Address of the hub as the servers see it (the docker0 address on a single
        host). The hub's bind address must be this one.""",
    )
    internet_network = Unicode(
        "versahub-internet",
        config=True,
        help="""Docker network of servers with internet (a bridge without
        inter-container traffic), created when missing.""",
    )
    offline_network = Unicode(
        "versahub-offline",
        config=True,
        help="""Docker network of servers without internet (``--internal``, no
        inter-container traffic), created when missing.""",
    )
    offline_firewall = Bool(
        True,
        config=True,
        help="""Install iptables INPUT rules so that offline servers reach only the hub's
        port on the host (needs root on the Docker host).""",
    )
    credential_scopes = List(
        Unicode(),
        default_value=list(creds.DEFAULT_SCOPES),
        config=True,
        help="""Scopes of the hub token handed to servers whose spec asks for credentials.""",
    )
    notebook_uid = Int(
        1000,
        config=True,
        help="""uid (and gid) of the notebook user in every image; host folders of writable
        volumes are owned by it.""",
    )

    _builder: ClassVar[Any] = None
    _networks_ready: ClassVar[bool] = False
    _network_lock: ClassVar[asyncio.Lock | None] = None

    # -- inputs ---------------------------------------------------------------------------
    @property
    def site(self) -> Site:
        """The site, read synchronously (outside the hub's loop; ``start`` uses ``site_for``)."""
        return load_site_cached(self.site_file)

    def layout(self, site: Site) -> Layout:
        return Layout(
            state_dir=str(site.state_dir),
            user_id=self.notebook_uid,
            internet_network=self.internet_network,
            offline_network=self.offline_network,
            hub_connect_url=f"http://{self.hub_connect_ip}:{self._hub_port()}",
        )

    def _hub_port(self) -> int:
        hub = getattr(self, "hub", None)
        return (urlsplit(hub.url).port if hub is not None else None) or 8081

    def public_source(self, site: Site) -> tuple[Any, ServerSpec, str | None]:
        """For a public copy: the owner, the owner's stored spec and its confirmation."""
        from jupyterhub import orm

        source = self.user_options.get(PUBLIC_KEY) or {}
        owner = orm.User.find(self.db, str(source.get("owner", "")))
        orm_spawner = owner.orm_spawners.get(str(source.get("server", ""))) if owner else None
        if orm_spawner is None or not orm_spawner.user_options:
            raise web.HTTPError(404, "No such public server")
        raw, confirmation, _ = split_request(orm_spawner.user_options)
        raw = {**raw, "server_name": self.name}
        spec = parse_spec(raw, owner=owner.name, volumes=list(site.volumes))
        if not spec.public_readonly:
            raise web.HTTPError(404, "No such public server")
        return owner, spec, confirmation

    def parse_request(self, site: Site) -> tuple[ServerSpec, str | None, dict[str, Any]]:
        try:
            raw, confirmation, origin = split_request(self.user_options)
            raw = dict(raw)
            if raw.get("server_name") and raw["server_name"] != self.name:
                raise InputError(
                    "server_name",
                    f"{raw['server_name']!r} differs from the server being started ({self.name!r})",
                )
            if self.name:
                raw["server_name"] = self.name
            spec = parse_spec(raw, owner=self.user.name, volumes=list(site.volumes))
        except InputError as err:
            raise web.HTTPError(400, f"Invalid server spec: {err}") from None
        return spec, confirmation, origin

    async def decide(self, site: Site, spec: ServerSpec, origin: Mapping[str, Any]) -> Decision:
        return await policy_decision(
            self.db, self.user, site, spec, origin, opa_url=self.opa_url, timeout=self.opa_timeout
        )

    async def resolve_image(self, spec: ServerSpec) -> str:
        from versahub.images.builder import ImageBuilder
        from versahub.images.config import ImagesConfig

        cls = type(self)
        if cls._builder is None:
            cls._builder = ImageBuilder(ImagesConfig.from_mapping(dict(self.images_config)))
        last: dict[str, Any] | None = None
        async for ev in cls._builder.ensure(spec.repo, spec.ref):
            last = ev
            self.add_event(build_event(ev))
        if last is None or last["phase"] != "ready":
            message = last["message"] if last else "no image"
            raise web.HTTPError(500, f"Image build failed: {message}")
        return str(last["image"])

    # -- progress events ------------------------------------------------------------------
    def _reset_events(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._events_changed = asyncio.Event()

    def add_event(self, event: dict[str, Any]) -> None:
        """Record a progress event and wake every ``progress()`` listener."""
        if not hasattr(self, "_events"):
            self._reset_events()
        self._events.append(event)
        # a fresh Event per change: each listener waits on the one it saw, so none misses it
        changed, self._events_changed = self._events_changed, asyncio.Event()
        changed.set()

    # -- host side preparation ------------------------------------------------------------
    async def ensure_networks(self) -> None:
        cls = type(self)
        if cls._network_lock is None:
            cls._network_lock = asyncio.Lock()
        async with cls._network_lock:
            if cls._networks_ready:
                return
            port = self._hub_port()
            for spec in network_specs(self.internet_network, self.offline_network):
                await asyncio.to_thread(ensure_network, self.client, spec)
                if spec.internal and self.offline_firewall:
                    await asyncio.to_thread(
                        install_offline_firewall, spec.bridge, self.hub_connect_ip, port
                    )
            cls._networks_ready = True

    async def prepare_folders(self, plan: RuntimePlan) -> None:
        await asyncio.to_thread(prepare_folders, plan.mounts, self.notebook_uid)

    async def write_credentials(self, plan: RuntimePlan) -> None:
        assert plan.credentials is not None
        note = creds.token_note(self.name)
        self.revoke_credentials_token()
        expires = plan.limits.max_duration_seconds
        token = self.user.new_api_token(
            note=note, scopes=list(self.credential_scopes), expires_in=expires
        )
        auth_state = await self.user.get_auth_state()
        doc = creds.credentials_document(
            hub_token=token,
            hub_api_url=self.hub_api_url_for_server(),
            scopes=self.credential_scopes,
            auth_state=auth_state,
        )
        await asyncio.to_thread(
            creds.write_credentials,
            Path(plan.credentials.host_dir), doc, self.notebook_uid, self.notebook_uid,
        )  # fmt: skip

    def hub_api_url_for_server(self) -> str:
        return f"http://{self.hub_connect_ip}:{self._hub_port()}{urlsplit(self.hub.api_url).path}"

    def revoke_credentials_token(self) -> None:

        note = creds.token_note(self.name)
        for token in list(self.user.orm_user.api_tokens):
            if token.note == note:
                self.db.delete(token)
        self.db.commit()

    def apply_plan(self, plan: RuntimePlan) -> None:
        traits = docker_traits(plan)
        self.versahub_env = traits.pop("environment")
        for name, value in traits.items():
            setattr(self, name, value)
        # Every container is created from the plan: never reuse an old container.
        self.object_name = self._object_name_default()

    # -- the lifecycle ----------------------------------------------------------------------
    versahub_env = Dict()
    versahub_plan = Dict()

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        # The request is read, validated and judged in start(); nothing to apply here.
        return lambda spawner, user_options: None

    @default("progress_ready_hook")
    def _default_progress_ready_hook(self) -> Any:
        return ready_hook

    @default("hub_connect_url")
    def _default_hub_connect_url(self) -> str:
        return f"http://{self.hub_connect_ip}:{self._hub_port()}"

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.versahub_env)
        return env

    async def start(self) -> Any:
        self._reset_events()
        try:
            return await self._start()
        except web.HTTPError as err:
            self.add_event(progress_event("failed", str(err.log_message or err)))
            raise

    async def _start(self) -> Any:
        t0 = time.perf_counter()
        site = await site_for(self.site_file)
        public = PUBLIC_KEY in (self.user_options or {})
        if public:
            # the owner's configuration, judged as the owner's, as it is now
            owner, spec, confirmation = self.public_source(site)
            origin: dict[str, Any] = {}
            decision = await policy_decision(self.db, owner, site, spec, origin)
        else:
            spec, confirmation, origin = self.parse_request(site)
            decision = await self.decide(site, spec, origin)
        refused = refusal(decision, spec, confirmation)
        if refused is not None:
            self.log.warning(
                "VersaHub refused %s/%s (spec %s): %s",
                self.user.name, self.name, spec.spec_id, str(refused),
            )  # fmt: skip
            raise refused
        self.add_event(progress_event("waiting", f"policy: allowed (spec {spec.spec_id})"))
        t1 = time.perf_counter()
        image = await self.resolve_image(spec)
        t2 = time.perf_counter()
        plan = make_plan(
            spec, site, decision, owner=self.user.name, image=image, layout=self.layout(site),
            public=public,
        )  # fmt: skip
        self.versahub_plan = plan.to_dict()
        self.apply_plan(plan)
        await self.prepare_folders(plan)
        await self.ensure_networks()
        if plan.credentials is not None:
            await self.write_credentials(plan)
        changes = sync_shares(
            self.db, self.orm_spawner, plan.collaborators, plan.group_collaborators
        )
        if changes.granted or changes.revoked:
            self.log.info(
                "shares of %s/%s: granted %s, revoked %s",
                self.user.name, self.name, list(changes.granted), list(changes.revoked),
            )  # fmt: skip
        self.add_event(progress_event("launching", f"launching: starting the server {self.name}"))
        self.log.info(
            "VersaHub prepared %s/%s in %.0f ms (site + policy %.0f, image %.0f, plan + host %.0f)",
            self.user.name, self.name, 1000 * (time.perf_counter() - t0), 1000 * (t1 - t0),
            1000 * (t2 - t1), 1000 * (time.perf_counter() - t2),
        )  # fmt: skip
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        plan = self.versahub_plan or {}
        if plan.get("credentials"):
            await asyncio.to_thread(creds.remove_credentials, Path(plan["credentials"]["host_dir"]))
            self.revoke_credentials_token()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """This start's events (each with ``phase``, ``progress``, ``message``) as they come.

        JupyterHub stops following it when the start finishes and then sends its own ready
        event (``phase: ready`` through ``progress_ready_hook``) or failed event.
        """
        if not hasattr(self, "_events"):
            self._reset_events()
        sent = 0
        while True:
            changed = self._events_changed
            while sent < len(self._events):
                yield self._events[sent]
                sent += 1
            if self._spawn_future is None or self._spawn_future.done() or self.ready:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=1.0)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.versahub_plan:
            state["versahub_plan"] = self.versahub_plan
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.versahub_plan = state.get("versahub_plan") or {}


class VersaHubDockerSpawner(VersaHubSpawnerMixin, DockerSpawner):
    """DockerSpawner with VersaHub's policy enforcement, images and runtime plan."""
