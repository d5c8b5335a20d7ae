"""Get a ready image for (repo, ref): resolve, look up, and on a miss build once with repo2docker.

``ImageBuilder.ensure(repo, ref)`` is an async iterator of events (``events.py``) ending in
``ready`` (with ``image``, ``commit``, ``cache``) or ``failed``. Around the real
``jupyter-repo2docker`` it adds what repo2docker lacks and BinderHub does in its pods:

- a lookup before any build (local engine; or registry ``HEAD`` + pull in registry mode),
  so a registry hit is a hit wherever the image was built;
- builds on the site's builders (``pool.py``: remote engines over TLS, least busy first),
  whose engine pushes to the registry; the hub's engine then pulls the image. A builder
  gets the hub's base image (same image id, so the cache key holds) copied once;
- single flight: concurrent requests for one cache key follow one build's event log;
- a site-wide limit on concurrent builds (a semaphore) and a build timeout;
- ``--user-id/--user-name`` and a ``--target-repo-dir`` outside the home directory;
- the offline buildpack registered through a repo2docker ``--config`` file;
- a failed build leaves no tagged image and is forgotten, so the next request retries;
- every hit and build is recorded in the last-used index, and with a ``disk_budget`` a
  successful build is followed by a prune of the least recently used images (``prune.py``).

Itself it removes only the tag of a build that failed (other removals are ``prune.py``'s,
under its rules), and it never runs a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import repo2docker

from versahub.images.buildpack import BUILDPACK_VERSION, repo2docker_config
from versahub.images.config import ImagesConfig
from versahub.images.engine import LOCAL, DockerEngine, Endpoint, EngineError, run_cli
from versahub.images.events import Event, EventLog, clean_line, event, is_meaningful
from versahub.images.lookup import RegistryClient, RegistryError, find_image
from versahub.images.names import CACHE_KEY_LABEL, ImageRef, canonical_repo, image_name
from versahub.images.pool import BuilderPool, NoBuilder
from versahub.images.prune import LastUsedIndex, PruneReport, prune
from versahub.images.refs import RefError, check_repo_host, resolve_ref
from versahub.images.registry_access import CredentialsError, RegistryAccess

BUILDER_VERSION = f"r2d-{repo2docker.__version__}+vh-{BUILDPACK_VERSION}"
TAIL_LINES = 12


class BuildFailed(RuntimeError):
    """A build did not produce an image; ``str(err)`` ends with the last log lines."""


@dataclass
class BuildStats:
    """Counters a site (and the tests) can read: what was asked, what was built."""

    requests: int = 0
    hits_local: int = 0
    hits_registry: int = 0
    builds_started: int = 0
    builds_failed: int = 0
    joined: int = 0
    built: list[str] = field(default_factory=list)
    built_on: dict[str, str] = field(default_factory=dict)  # image -> builder name
    base_copies: list[str] = field(default_factory=list)  # builders given the base image
    pruned: list[str] = field(default_factory=list)


@dataclass
class _Build:
    image: ImageRef
    log: EventLog
    task: asyncio.Task[None] | None = None


class ImageBuilder:
    """Resolve, look up and build images for one site (one instance per hub process)."""

    def __init__(
        self,
        config: ImagesConfig | None = None,
        *,
        keep: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """``keep()`` names images the disk budget must never remove besides running ones
        (the hub passes the images of every stored server, stopped ones included)."""
        self.config = config or ImagesConfig()
        self.keep = keep or (lambda: ())
        self.stats = BuildStats()
        self._builds: dict[str, _Build] = {}
        self._slots = asyncio.Semaphore(self.config.max_concurrent_builds)
        self._base: tuple[str, str] | None = None  # (image id, python major.minor)
        self._prunes: set[asyncio.Task[PruneReport | None]] = set()
        self.pool = BuilderPool(self.config.builders)
        self._bases: dict[str, str] = {}  # builder name -> base image id known to be there
        self.push_access: RegistryAccess | None = None
        self.pull_access: RegistryAccess | None = None
        registry = self.config.registry
        if registry is not None:
            scheme = self.config.registry_scheme
            self.push_access = RegistryAccess(
                registry, scheme, self.config.registry_push_credentials
            )
            self.pull_access = RegistryAccess(
                self.config.registry_pull or registry, scheme,
                self.config.registry_pull_credentials,
            )  # fmt: skip

    # -- the build configuration that keys the cache ------------------------------------
    async def _base_image(self, engine: DockerEngine) -> tuple[str, str]:
        if self._base is None:
            doc = await engine.inspect_image(self.config.base_image)
            if doc is None:
                raise BuildFailed(
                    f"base image {self.config.base_image} is missing: "
                    "run `versahub images bootstrap`"
                )
            out = await run_cli(
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "python3",
                self.config.base_image,
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2])",
                timeout=60,
            )
            self._base = (doc["Id"], out.strip().splitlines()[-1])
        return self._base

    def build_config(self, base_id: str) -> dict[str, object]:
        """Everything besides repo and commit that changes what a build produces."""
        ca = hashlib.sha256()
        for path in self.config.ca_files():
            ca.update(path.read_bytes())
        return {
            "base_image": base_id,
            "offline": self.config.offline,
            "user_id": self.config.user_id,
            "user_name": self.config.user_name,
            "target_repo_dir": self.config.target_repo_dir,
            "pip_index_url": self.config.pip_index_url,
            "ca_bundle": ca.hexdigest(),
        }

    async def image_for(self, engine: DockerEngine, repo: str, commit: str) -> ImageRef:
        base_id, _ = await self._base_image(engine)
        return image_name(
            repo, commit, BUILDER_VERSION, self.build_config(base_id),
            prefix=self.config.image_prefix,
        )  # fmt: skip

    def _registry(self) -> RegistryClient | None:
        """The registry's API at the pull endpoint, with the pull account."""
        if self.pull_access is None:
            return None
        return RegistryClient(
            self.pull_access.url, auth=self.pull_access.basic_auth(),
            ca_files=self.config.ca_files(),
        )  # fmt: skip

    # -- the public entry point ---------------------------------------------------------
    async def ensure(self, repo: str, ref: str = "HEAD") -> AsyncIterator[Event]:
        """Events until the image for ``repo`` at ``ref`` is ready (or failed)."""
        self.stats.requests += 1
        yield event("fetching", f"Resolving {ref} of {repo}")
        try:
            commit = await resolve_ref(
                repo, ref, timeout=self.config.resolve_timeout,
                allowed_internal_hosts=self.config.allowed_internal_hosts,
            )  # fmt: skip
        except RefError as err:
            yield event("failed", str(err))
            return
        async with DockerEngine() as engine:
            try:
                image = await self.image_for(engine, repo, commit)
            except (BuildFailed, EngineError) as err:
                yield event("failed", str(err), commit=commit)
                return
            registry = None
            try:
                registry = self._registry()
                if registry is not None:
                    await registry.__aenter__()
                where = await find_image(image, engine, registry)
            except (RegistryError, CredentialsError) as err:
                yield event("failed", f"image lookup failed: {err}", commit=commit)
                return
            finally:
                if registry is not None:
                    await registry.__aexit__(None, None, None)
        if where == "local":
            self.stats.hits_local += 1
            await self._record_use(image)
            yield event(
                "ready", f"Found built image {image}", image=str(image), commit=commit,
                cache="hit", where="local",
            )  # fmt: skip
            return
        if where == "registry":
            self.stats.hits_registry += 1
            yield event("fetching", f"Pulling {image} from the registry", image=str(image))
            try:
                await self._pull(image)
            except (EngineError, CredentialsError) as err:
                yield event("failed", f"pull failed: {err}", image=str(image), commit=commit)
                return
            await self._record_use(image)
            yield event(
                "ready", f"Pulled built image {image}", image=str(image), commit=commit,
                cache="hit", where="registry",
            )  # fmt: skip
            return
        async for ev in self._follow_build(repo, commit, image):
            yield ev

    async def ready_image(self, repo: str, ref: str = "HEAD") -> Event:
        """The final event of ``ensure``; raises ``BuildFailed`` when it failed."""
        last: Event | None = None
        async for ev in self.ensure(repo, ref):
            last = ev
        assert last is not None
        if last["phase"] != "ready":
            raise BuildFailed(last["message"])
        return last

    # -- single flight ------------------------------------------------------------------
    async def _follow_build(self, repo: str, commit: str, image: ImageRef) -> AsyncIterator[Event]:
        build = self._builds.get(image.key)
        if build is None:
            build = _Build(image=image, log=EventLog())
            self._builds[image.key] = build
            build.task = asyncio.create_task(self._run_build(repo, commit, build))
        else:
            self.stats.joined += 1
        async for ev in build.log.follow():
            yield ev

    async def _run_build(self, repo: str, commit: str, build: _Build) -> None:
        log = build.log
        image = build.image
        used: Endpoint = LOCAL
        try:
            if self._slots.locked():
                await log.emit(event("waiting", "Waiting for a free build slot", image=str(image)))
            async with self._slots, self.pool.use() as endpoint:
                used = endpoint
                self.stats.builds_started += 1
                on = "" if endpoint.is_local else f" on {endpoint.name}"
                await log.emit(
                    event("building", f"Building {image}{on}", image=str(image),
                          builder=endpoint.name)
                )  # fmt: skip
                await self._repo2docker(repo, commit, image, log, endpoint)
                if self.push_access is not None:
                    await log.emit(event("pushing", f"Pushing {image}{on}", image=str(image)))
                    await run_cli(
                        "push", str(image), timeout=self.config.build_timeout,
                        env={**endpoint.env(), **self.push_access.env()},
                    )  # fmt: skip
                self.stats.built_on[str(image)] = endpoint.name
            if not endpoint.is_local:
                await log.emit(event("fetching", f"Pulling {image} to this host", image=str(image)))
                await self._pull(image)
            self.stats.built.append(str(image))
            await self._record_use(image)
            await log.emit(event("built", f"Built {image}", image=str(image), commit=commit))
            await log.emit(
                event(
                    "ready", f"Image {image} is ready", image=str(image), commit=commit,
                    cache="miss",
                )
            )  # fmt: skip
            if self.config.disk_budget:
                task = asyncio.create_task(self._prune_after_build(image))
                self._prunes.add(task)
                task.add_done_callback(self._prunes.discard)
        except (BuildFailed, EngineError, OSError, NoBuilder, CredentialsError) as err:
            self.stats.builds_failed += 1
            await self._untag(image, used)
            await log.emit(event("failed", str(err), image=str(image), commit=commit))
        except asyncio.CancelledError:
            await self._untag(image, used)
            await log.close()
            raise
        finally:
            # forget the build either way: success is now in the engine, failure is retried
            self._builds.pop(image.key, None)

    async def _record_use(self, image: ImageRef) -> None:
        """Note in the last-used index that ``image`` was just used (never fails a launch).

        The index is a locked file shared with other processes (``versahub images prune``),
        so it is written in a thread: waiting for its lock must never stall the event loop.
        """
        index = LastUsedIndex.for_config(self.config)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(index.touch, str(image))

    async def prunes_done(self) -> None:
        """Wait for the disk-budget prunes that builds started in the background."""
        while self._prunes:
            await asyncio.gather(*self._prunes)

    async def _prune_after_build(self, image: ImageRef) -> PruneReport | None:
        """Enforce ``disk_budget`` after a build, keeping the new image. It runs after
        ``ready`` in the background (``/system/df`` can be slow on a busy host); errors are
        ignored: the build succeeded, and the next build or ``versahub images prune`` retries."""
        try:
            report = await prune(self.config, keep=[str(image), *self.keep()])
        except (EngineError, OSError, aiohttp.ClientError):
            return None
        for removed in report.removed:
            self.stats.pruned.extend(removed["tags"])
        return report

    async def _untag(self, image: ImageRef, endpoint: Endpoint = LOCAL) -> None:
        """Make sure a failed build leaves no tagged image behind (here and on its builder)."""
        for where in {LOCAL, endpoint}:
            with contextlib.suppress(EngineError, OSError, aiohttp.ClientError):
                async with DockerEngine(where) as engine:
                    await engine.remove_image(str(image))

    # -- the registry and the builders' engines -------------------------------------------
    async def _pull(self, image: ImageRef) -> None:
        """Pull ``image`` into this host's engine from the pull endpoint, with the pull
        account; an image pulled under the pull endpoint's name is tagged with its own."""
        assert self.pull_access is not None
        source = str(image)
        if self.config.registry_pull and self.config.registry_pull != self.config.registry:
            source = f"{self.config.registry_pull}/{image.registry_path}:{image.tag}"
        await run_cli(
            "pull", "--quiet", source, timeout=self.config.build_timeout,
            env=self.pull_access.env(),
        )  # fmt: skip
        if source != str(image):
            await run_cli("tag", source, str(image), timeout=60)
            await run_cli("rmi", source, timeout=60)

    async def _ensure_base(
        self, endpoint: Endpoint, base_id: str, log: EventLog, image: ImageRef
    ) -> None:
        """Give a remote builder the hub's base image ``base_id``, byte for byte (the cache
        key names that id), copied once over the builder's TLS connection."""
        if self._bases.get(endpoint.name) == base_id:
            return
        async with DockerEngine(endpoint, timeout=60) as there:
            doc = await there.inspect_image(self.config.base_image)
            if doc is None or doc["Id"] != base_id:
                await log.emit(
                    event("building", f"Copying the base image {self.config.base_image} to "
                          f"{endpoint.name} (once)", image=str(image))
                )  # fmt: skip
                async with DockerEngine(timeout=60) as here:
                    await there.load_image(here.export_image(self.config.base_image))
                doc = await there.inspect_image(self.config.base_image)
                if doc is None or doc["Id"] != base_id:
                    raise BuildFailed(
                        f"{endpoint.name} does not hold the base image {base_id[:19]} after "
                        "the copy"
                    )
                self.stats.base_copies.append(endpoint.name)
        self._bases[endpoint.name] = base_id

    # -- repo2docker --------------------------------------------------------------------
    def repo2docker_command(
        self, repo: str, commit: str, image: ImageRef, config_file: str
    ) -> list[str]:
        """The repo2docker command line for one build (pure)."""
        cmd = [
            sys.executable, "-m", "repo2docker",
            "--config", config_file,
            "--json-logs",
            "--no-run",
            "--user-id", str(self.config.user_id),
            "--user-name", self.config.user_name,
            "--target-repo-dir", self.config.target_repo_dir,
            "--image-name", str(image),
            "--ref", commit,
            "--label", f"{CACHE_KEY_LABEL}={image.key}",
            "--label", f"org.versahub.repo={canonical_repo(repo)}",
            "--label", f"org.versahub.commit={commit}",
        ]  # fmt: skip
        if self.config.build_memory_limit:
            cmd += ["--build-memory-limit", str(self.config.build_memory_limit)]
        if self.config.pip_index_url:
            cmd += ["--build-arg", f"PIP_INDEX_URL={self.config.pip_index_url}"]
        return [*cmd, "--", repo]

    async def _repo2docker(
        self, repo: str, commit: str, image: ImageRef, log: EventLog, endpoint: Endpoint = LOCAL
    ) -> None:
        """Build with repo2docker here; the build itself runs on ``endpoint``'s engine (the
        clone and repo2docker's reading of the repository stay on this host)."""
        try:  # again right before the clone: a full commit skipped resolve_ref's check
            await check_repo_host(
                repo, self.config.allowed_internal_hosts, timeout=self.config.resolve_timeout
            )
        except RefError as err:
            raise BuildFailed(str(err)) from None
        async with DockerEngine() as engine:
            base_id, python_version = await self._base_image(engine)
        if not endpoint.is_local:
            await self._ensure_base(endpoint, base_id, log, image)
        with tempfile.TemporaryDirectory(prefix="versahub-r2d-") as tmp:
            config_file = Path(tmp) / "repo2docker_config.py"
            config_file.write_text(
                repo2docker_config(
                    base_image=self.config.base_image,
                    python_version=python_version,
                    offline=self.config.offline,
                )
            )
            cmd = self.repo2docker_command(repo, commit, image, str(config_file))
            env = dict(os.environ)
            # Debian's docker client first: its API version matches Debian's engine.
            env["PATH"] = "/usr/bin:" + env.get("PATH", "")
            env["GIT_TERMINAL_PROMPT"] = "0"
            env.update(endpoint.env())
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=tmp,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # so a timeout can stop buildx and git too
                limit=1 << 20,
            )
            tail: list[str] = []
            try:
                await asyncio.wait_for(
                    self._pump(proc, log, image, tail), timeout=self.config.build_timeout
                )
            except TimeoutError:
                _kill_group(proc)
                await proc.wait()
                raise BuildFailed(
                    f"build of {image} stopped after {self.config.build_timeout:g} s\n"
                    + "\n".join(tail)
                ) from None
            except asyncio.CancelledError:
                _kill_group(proc)
                await proc.wait()
                raise
            if proc.returncode != 0:
                raise BuildFailed(
                    f"repo2docker failed (exit {proc.returncode}); last lines:\n" + "\n".join(tail)
                )
        async with DockerEngine(endpoint) as engine:
            if await engine.inspect_image(str(image)) is None:
                raise BuildFailed(f"repo2docker finished but {image} is missing")

    async def _pump(
        self, proc: asyncio.subprocess.Process, log: EventLog, image: ImageRef, tail: list[str]
    ) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            text = raw.decode(errors="replace")
            try:
                doc = json.loads(text)
                message = str(doc.get("message", ""))
                r2d_phase = str(doc.get("phase", "building"))
            except (json.JSONDecodeError, AttributeError):
                message, r2d_phase = text, "building"
            for line in clean_line(message).splitlines():
                if is_meaningful(line):
                    tail.append(line)
                    del tail[:-TAIL_LINES]
            phase = "fetching" if r2d_phase == "fetching" else "building"
            if message.strip():
                await log.emit(event(phase, clean_line(message), image=str(image)))
        await proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
