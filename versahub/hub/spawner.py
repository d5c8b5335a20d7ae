"""VersaHub's spawner: DockerSpawner that renders the launch service's plan.

``VersaHubSpawnerMixin.start`` hands the whole launch to the launch service
(``versahub.launch``), then renders its plan for DockerSpawner:

1. the request from ``user_options`` (JupyterHub stores it with the server, so a restart
   without options reuses it) is parsed for this server (owner = the server's user,
   volumes = the site's catalogue); bad input → ``400`` naming the field;
2. the service asks OPA (fail closed) and checks the confirmation: a denial → ``403``,
   the policy engine unavailable → ``503``, missing or wrong confirmation → ``409``;
3. the service gets the image (resolve, cache hit, registry, or one repo2docker build with
   the site's image settings; events on the progress page); a build failure → ``502``
   "The image could not be built: …" with the tail of repo2docker's log;
4. the service makes the runtime plan (pure); this class renders it for DockerSpawner,
   prepares host folders, networks, credentials and shares, then lets DockerSpawner create
   a fresh container (``remove=True``: persistent data lives only in volumes).

It never starts a container for a spec that OPA did not allow in this very call. A start
that is refused or fails before its container exists removes the server entry it
created, so refusals never use up the named-server limit. It never blocks the hub's event
loop: file and Docker I/O run in threads; OPA, git and the image engine are asynchronous.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from dockerspawner import DockerSpawner
from jupyterhub import orm
from tornado import web
from traitlets import Bool, Dict, Int, List, Unicode, default
from traitlets.config import Configurable

from versahub.constants import GUEST_GROUP
from versahub.errors import InputError
from versahub.hub import credentials as creds
from versahub.hub.docker import docker_traits
from versahub.hub.network import (
    ensure_network,
    install_offline_firewall,
    network_specs,
    offline_firewall_problem,
)
from versahub.hub.sharing import sync_shares
from versahub.launch import progress as launches
from versahub.launch.directory import known_collaborators
from versahub.launch.plan import Layout, RuntimePlan
from versahub.launch.progress import progress_event, ready_hook
from versahub.launch.request import PUBLIC_KEY, LaunchRequest, parse_request, stored_spec
from versahub.launch.service import LaunchRefused, LaunchService, Verdict, service_for
from versahub.launch.storage import STORAGE_TIMEOUT, storage_problem, storage_silent
from versahub.site.catalogue_store import record_launch
from versahub.site.config import Site


def prepare_folders(mounts: Any, uid: int) -> None:
    """Create missing host folders of ``mounts``, owned by ``uid`` when root (blocking)."""
    for mount in mounts:
        path = Path(mount.source)
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(path, uid, uid)


def stored_plan_images(db: Any) -> set[str]:
    """The image of every server the hub keeps a plan of, running or stopped."""
    images: set[str] = set()
    for (state,) in db.query(orm.Spawner.state):
        plan = (state or {}).get("versahub_plan") or {}
        if plan.get("image"):
            images.add(str(plan["image"]))
    return images


def http_error(refused: LaunchRefused) -> web.HTTPError:
    """The refusal as JupyterHub shows it (spawn page and REST), findings attached."""
    err = web.HTTPError(refused.status, refused.message)
    # JupyterHub shows ``log_message`` on the spawn page and in the API
    err.findings = refused.findings  # type: ignore[attr-defined]
    err.kind = refused.kind  # type: ignore[attr-defined]
    return err


class VersaHubSpawnerMixin(Configurable):
    """The launch service's decision, image and plan, rendered for DockerSpawner."""

    site_file = Unicode(
        "",
        config=True,
        help="""Path of the site's site.yaml. Everything else — OPA's address and timeout,
        volumes, caps, image and registry settings, the state folder — is read from it
        through the launch service at every start (re-read when the file changes).""",
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

    _networks_ready: ClassVar[bool] = False
    _network_lock: ClassVar[asyncio.Lock | None] = None

    # -- inputs ---------------------------------------------------------------------------
    @property
    def service(self) -> LaunchService:
        service = service_for(self.site_file)
        db = self.db
        service.stored_images = lambda: stored_plan_images(db)
        return service

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

    def directory(self, collaborators: tuple[str, ...]) -> dict[str, list[str]]:
        return known_collaborators(self.db, collaborators)

    async def public_verdict(self, site: Site) -> tuple[Verdict, Any]:
        """A public copy: the owner's stored request, judged as the owner's, as it is now."""
        source = self.user_options.get(PUBLIC_KEY) or {}
        owner = orm.User.find(self.db, str(source.get("owner", "")))
        orm_spawner = owner.orm_spawners.get(str(source.get("server", ""))) if owner else None
        options = (orm_spawner.user_options or {}) if orm_spawner else {}
        spec = stored_spec(options, owner=owner.name) if owner else None
        if owner is None or spec is None or not spec.public_readonly:
            raise web.HTTPError(404, "No such public server")
        try:
            request = parse_request(options, owner=owner.name, volumes=list(site.volumes))
        except InputError as err:
            raise web.HTTPError(400, f"Invalid server spec: {err}") from None
        request = LaunchRequest(
            spec=request.spec.with_server_name(self.name),
            confirmation=request.confirmation,
            origin=request.origin,
        )
        # judged as the owner's own server, which the owner confirmed; the copy only ever
        # gets less (every mount read-only, no home, no credentials, no collaborators)
        verdict = await self.service.judge(request, owner, self.directory, site)
        return verdict, owner

    def parse(self, site: Site) -> LaunchRequest:
        try:
            return parse_request(
                self.user_options, owner=self.user.name, volumes=list(site.volumes),
                server_name=self.name,
            )  # fmt: skip
        except InputError as err:
            raise web.HTTPError(400, f"Invalid server spec: {err}") from None

    # -- progress events ------------------------------------------------------------------
    def add_event(self, event: dict[str, Any]) -> None:
        """Record a progress event of this launch (read by every progress follower)."""
        launch = launches.current(self.user.name, self.name)
        if launch is None:
            launch = launches.begin(self.user.name, self.name)
        launch.add(event)

    # -- what each backend does with a plan --------------------------------------------------
    async def offline_isolation_problem(self) -> str | None:
        """Why a server without internet would not be isolated here, or None."""
        raise NotImplementedError

    def apply_plan(self, plan: RuntimePlan) -> None:
        """Set the backend spawner's traits from ``plan`` (a pure renderer's output)."""
        raise NotImplementedError

    async def prepare_runtime(self, plan: RuntimePlan) -> None:
        """Create what the server needs before it starts (folders, networks, policies)."""
        raise NotImplementedError

    async def store_credentials(self, plan: RuntimePlan, document: dict[str, Any]) -> None:
        """Put the credentials document where the plan mounts it."""
        raise NotImplementedError

    async def release_runtime(self, plan: dict[str, Any]) -> None:
        """Remove what ``prepare_runtime``/``store_credentials`` made, after a stop."""
        raise NotImplementedError

    async def credentials_document(self) -> dict[str, Any]:
        """A fresh hub token of the owner (the previous one revoked) and the owner's auth
        state, as the credentials file holds them; the backend stores it."""
        note = creds.token_note(self.name)
        self.revoke_credentials_token()
        plan = self.versahub_plan
        expires = (plan.get("limits") or {}).get("max_duration_seconds")
        token = self.user.new_api_token(
            note=note, scopes=list(self.credential_scopes), expires_in=expires
        )
        auth_state = await self.user.get_auth_state()
        return creds.credentials_document(
            hub_token=token,
            hub_api_url=self.hub_api_url_for_server(),
            scopes=self.credential_scopes,
            auth_state=auth_state,
        )

    def hub_api_url_for_server(self) -> str:
        return f"{self.hub_connect_url.rstrip('/')}{urlsplit(self.hub.api_url).path}"

    def revoke_credentials_token(self) -> None:
        note = creds.token_note(self.name)
        for token in list(self.user.orm_user.api_tokens):
            if token.note == note:
                self.db.delete(token)
        self.db.commit()

    # -- the lifecycle ----------------------------------------------------------------------
    versahub_env = Dict()
    versahub_plan = Dict()
    versahub_site: Site | None = None  # the site of the start in progress

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

    def options_from_query(self, query_data: dict[str, list[str]]) -> dict[str, Any]:
        """``GET /hub/spawn/<user>/<server>?…`` never starts a configuration from a URL.

        JupyterHub would start it without any confirmation, so a link on another site
        could launch anything as the visitor. Launch links are ``/hub/v2/…`` (the launch
        page, which shows the risk dialog); the REST API and the launch API carry the
        confirmation hash. JupyterHub then falls back to a start without options, which
        the launch service refuses (no spec), leaving no server entry behind.
        """
        raise web.HTTPError(
            400,
            "Servers are not started from query parameters of /hub/spawn: open the launch "
            "link (/hub/v2/...) or the launch page, which asks for confirmation",
        )

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.versahub_env)
        return env

    async def start(self) -> Any:
        launch = launches.begin(self.user.name, self.name)
        # a server that never got a plan before this start (JupyterHub sets ``started``
        # before calling us, so that cannot tell) is removed again if the start fails
        # before its container exists: refusals leave no entry behind
        first_start = not self.versahub_plan
        self._container_requested = False
        try:
            result = await self._launch()
        except web.HTTPError as err:
            self.add_event(progress_event("failed", str(err.log_message or err)))
            launch.finish("failed", getattr(err, "kind", "start"))
            if first_start and not self._container_requested:
                self._remove_entry_after_failure()
            raise
        except Exception as err:
            self.add_event(progress_event("failed", f"The server could not start: {err}"))
            launch.finish("failed", "start")
            if first_start and not self._container_requested:
                self._remove_entry_after_failure()
            raise
        launch.finish("ready")
        await self.count_for_catalogue()
        return result

    async def count_for_catalogue(self) -> None:
        """Count this start for the catalogue's popular entries (never a public copy's);
        a failure to count is logged, never a failed start."""
        spec, site = getattr(self, "_versahub_spec", None), self.versahub_site
        if spec is None or site is None or PUBLIC_KEY in (self.user_options or {}):
            return
        try:
            await asyncio.to_thread(record_launch, site.state_dir, spec, self.user.name)
        except (OSError, InputError) as err:
            self.log.warning("catalogue: launch of %s not counted: %s", spec.spec_id, err)

    def _remove_entry_after_failure(self) -> None:
        """Delete this server's entry (the default server's stored request) once JupyterHub
        has finished handling the failure: a refused request is not kept."""
        user, name = self.user, self.name

        async def remove() -> None:
            for _ in range(600):  # JupyterHub calls stop() after a failed start
                if not (self.active or self._start_pending or self._stop_pending):
                    break
                await asyncio.sleep(0.05)
            orm_spawner = user.orm_user.orm_spawners.get(name)
            if orm_spawner is None or orm_spawner.server is not None or self.versahub_plan:
                return
            if not name:  # the default server's entry always exists: forget the request
                orm_spawner.user_options = {}
                self.user_options = {}
                self.db.commit()
                return
            user.spawners.pop(name, None)
            self.db.delete(orm_spawner)
            self.db.commit()
            self.log.info("removed the entry of %s/%s after its refused start", user.name, name)

        asyncio.get_running_loop().create_task(remove())

    async def _launch(self) -> Any:
        t0 = time.perf_counter()
        service = self.service
        site = await service.site()
        public = PUBLIC_KEY in (self.user_options or {})
        if public:
            verdict, _owner = await self.public_verdict(site)
        elif self.user.orm_user is not None and any(
            g.name == GUEST_GROUP for g in self.user.groups
        ):
            raise web.HTTPError(403, "Guest accounts of public copies cannot launch servers")
        else:
            verdict = await service.judge(self.parse(site), self.user, self.directory, site)
        spec = verdict.request.spec
        self._versahub_spec = spec
        refused = verdict.refusal()
        if refused is not None:
            self.log.warning(
                "VersaHub refused %s/%s (spec %s): %s",
                self.user.name, self.name, spec.spec_id, refused.message,
            )  # fmt: skip
            raise http_error(refused)
        self.add_event(progress_event("waiting", f"policy: allowed (spec {spec.spec_id})"))
        if not spec.internet:  # internet off holds only where it is enforced: else refuse
            problem = await self.offline_isolation_problem()
            if problem is not None:
                self.log.error("VersaHub refused %s/%s: %s", self.user.name, self.name, problem)
                raise http_error(LaunchRefused(503, "offline-firewall-missing", problem))
        t1 = time.perf_counter()
        try:
            image = await service.image(spec, site, self.add_event)
        except LaunchRefused as refused:
            self.log.warning("VersaHub could not start %s/%s: %s", self.user.name, self.name,
                             refused.message)  # fmt: skip
            raise http_error(refused) from None
        t2 = time.perf_counter()
        plan = service.plan(
            verdict, site, owner=self.user.name, image=image, layout=self.layout(site),
            public=public,
        )  # fmt: skip
        self.versahub_plan = plan.to_dict()
        self.versahub_site = site
        self.apply_plan(plan)
        await self.prepare_runtime(plan)
        if plan.credentials is not None:
            await self.store_credentials(plan, await self.credentials_document())
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
        self._container_requested = True
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        plan = self.versahub_plan or {}
        await self.release_runtime(plan)
        if plan.get("credentials"):
            self.revoke_credentials_token()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """This start's events (each with ``phase``, ``progress``, ``message``) as they come.

        JupyterHub stops following it when the start finishes and then sends its own ready
        event (``phase: ready`` through ``progress_ready_hook``) or failed event.
        """
        sent = 0
        while True:
            launch = launches.current(self.user.name, self.name)
            events = [e for e in (launch.events if launch else []) if not e.get("final")]
            while sent < len(events):
                yield events[sent]
                sent += 1
            if self._spawn_future is None or self._spawn_future.done() or self.ready:
                break
            if launch is None:
                await asyncio.sleep(0.2)
            else:
                await launch.wait(1.0)

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

    async def offline_isolation_problem(self) -> str | None:
        # internet off holds only behind the firewall (repaired here when allowed)
        bridge = network_specs(self.internet_network, self.offline_network)[1].bridge
        return await asyncio.to_thread(
            offline_firewall_problem, bridge, self.hub_connect_ip, self._hub_port(),
            repair=self.offline_firewall,
        )  # fmt: skip

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
        site = self.versahub_site
        if site is not None:
            volumes = self.layout(site).volumes_dir
            check = asyncio.to_thread(
                storage_problem, bool(site.data["storage"]["remote"]), volumes,
                [m.source for m in plan.mounts],
            )  # fmt: skip
            try:
                problem = await asyncio.wait_for(check, STORAGE_TIMEOUT)
            except TimeoutError:
                problem = storage_silent(volumes)
            if problem is not None:
                self.log.error("VersaHub refused %s/%s: %s", self.user.name, self.name, problem)
                raise http_error(LaunchRefused(503, "storage-missing", problem))
        await asyncio.to_thread(prepare_folders, plan.mounts, self.notebook_uid)

    def apply_plan(self, plan: RuntimePlan) -> None:
        traits = docker_traits(plan)
        self.versahub_env = traits.pop("environment")
        for name, value in traits.items():
            setattr(self, name, value)
        # Every container is created from the plan: never reuse an old container.
        self.object_name = self._object_name_default()

    async def prepare_runtime(self, plan: RuntimePlan) -> None:
        await self.prepare_folders(plan)
        await self.ensure_networks()

    async def store_credentials(self, plan: RuntimePlan, document: dict[str, Any]) -> None:
        assert plan.credentials is not None
        await asyncio.to_thread(
            creds.write_credentials,
            Path(plan.credentials.host_dir), document, self.notebook_uid, self.notebook_uid,
        )  # fmt: skip

    async def release_runtime(self, plan: dict[str, Any]) -> None:
        if plan.get("credentials"):
            await asyncio.to_thread(creds.remove_credentials, Path(plan["credentials"]["host_dir"]))
