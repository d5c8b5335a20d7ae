"""The launch service: one decision path for every entry point, one image path, one plan.

:class:`LaunchService` (one per ``site.yaml`` in a process, :func:`service_for`) does, for
a :class:`~versahub.launch.request.LaunchRequest` and the user launching it:

1. the policy input — the spec, the user (name, groups, admin), the directory of known
   collaborators, the origin, the site — and OPA's decision, failing closed
   (:meth:`judge` → :class:`Verdict`);
2. the confirmation check: warnings need the hash of exactly this ``spec_id`` and these
   warning ids (:meth:`Verdict.refusal`);
3. the image: resolve the ref, a cache or registry hit or one repo2docker build, with the
   site's ``images:`` and ``registry:`` settings (:meth:`image`);
4. the runtime plan (pure, :func:`versahub.launch.plan.make_plan`), which a backend renders.

Everything it knows about the site comes from the one site object
(:func:`versahub.site.source.site_file`), re-read when ``site.yaml`` changes; OPA's address
and timeout, the volumes and the image settings are never copied elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from versahub.images.builder import ImageBuilder
from versahub.images.config import ImagesConfig
from versahub.launch.metrics import count_decision, count_image
from versahub.launch.plan import Layout, RuntimePlan, effective_mounts, make_plan
from versahub.launch.progress import build_event
from versahub.launch.request import LaunchRequest
from versahub.policy import UNAVAILABLE_ID, Decision, PolicyClient, confirmation_hash
from versahub.policy.input import build_input, user_document
from versahub.site.config import Site
from versahub.site.source import SiteFile, site_file
from versahub.site.usage_store import month_usage

log = logging.getLogger(__name__)

# Warnings about where a request came from (a link from outside the hub): they are about
# this one request, so "don't ask again" never covers them.
ORIGIN_FINDING_PREFIX = "origin-"


class LaunchRefused(Exception):
    """A launch that must not go ahead: ``status`` is the HTTP status to answer with."""

    def __init__(
        self, status: int, kind: str, message: str, findings: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind  # denied | unavailable | confirmation-required | build-failed | ...
        self.message = message
        self.findings = findings or []


@dataclass(frozen=True)
class Verdict:
    """OPA's decision about one request, and what it means for the launch."""

    request: LaunchRequest
    decision: Decision

    @property
    def spec_id(self) -> str:
        return self.request.spec.spec_id

    @property
    def unavailable(self) -> bool:
        return any(f.id == UNAVAILABLE_ID for f in self.decision.deny)

    @property
    def expected_confirmation(self) -> str | None:
        """The hash that confirms exactly these warnings for exactly this spec."""
        if not self.decision.allowed:
            return None
        return confirmation_hash(self.spec_id, self.decision.warn_ids)

    @property
    def origin_warnings(self) -> tuple[str, ...]:
        return tuple(i for i in self.decision.warn_ids if i.startswith(ORIGIN_FINDING_PREFIX))

    def refusal(self, confirmation: str | None = None) -> LaunchRefused | None:
        """Why this request may not start now (``None``: it may).

        ``confirmation`` defaults to the one the request carries.
        """
        decision = self.decision
        if confirmation is None:
            confirmation = self.request.confirmation
        if not decision.allowed:
            findings = [f.to_dict() for f in decision.deny]
            text = "; ".join(f"[{f.id}] {f.message}" for f in decision.deny)
            if self.unavailable:
                return LaunchRefused(503, "unavailable", f"Policy engine unavailable: {text}",
                                     findings)  # fmt: skip
            return LaunchRefused(403, "denied", f"Denied by the site's policy: {text}", findings)
        if not decision.is_confirmed_by(confirmation, self.spec_id):
            ids = ", ".join(decision.warn_ids)
            what = "does not match" if confirmation else "is missing"
            return LaunchRefused(
                409,
                "confirmation-required",
                f"Confirmation required: the confirmation {what} for spec {self.spec_id} "
                f"with warnings [{ids}] (send confirmation=sha256(spec_id + warning ids), "
                "see docs/spawning.md)",
                [f.to_dict() for f in decision.warn],
            )
        return None


def site_summary(site: Site) -> dict[str, str]:
    """The policy input's small ``site`` block (the policy's site *data* is in OPA)."""
    return {"name": site.name, "hub_url": site.hub_url}


class LaunchService:
    """The launch path of one site. Use :func:`service_for` to share one per process."""

    def __init__(self, site_source: SiteFile) -> None:
        self.site_source = site_source
        self._clients: dict[tuple[str, float], PolicyClient] = {}
        self._builders: dict[ImagesConfig, ImageBuilder] = {}
        # images of every stored server (stopped ones too): the hub sets this, and the
        # disk budget never removes them (a stopped persistent server starts again)
        self.stored_images: Callable[[], Iterable[str]] = lambda: ()

    # -- the site -----------------------------------------------------------------------
    async def site(self) -> Site:
        """The site as ``site.yaml`` says now (read in a thread when it changed)."""
        return await self.site_source.get()

    # -- the decision -------------------------------------------------------------------
    def policy_client(self, site: Site) -> PolicyClient:
        """One OPA client (one HTTP session) per OPA address and timeout."""
        key = (site.opa_url, float(site.data["opa"]["timeout"]))
        if key not in self._clients:
            self._clients[key] = PolicyClient(key[0], timeout=key[1])
        return self._clients[key]

    async def judge(
        self,
        request: LaunchRequest,
        user: Any,
        directory: Callable[[tuple[str, ...]], Mapping[str, list[str]]],
        site: Site | None = None,
    ) -> Verdict:
        """OPA's decision about ``request`` launched by ``user`` (fails closed).

        ``user`` is a JupyterHub user (``name``, ``groups``, ``admin``) or a mapping;
        ``directory(collaborators)`` says which of the spec's collaborators exist. The
        policy judges the mounts the server will really get (:func:`effective_mounts`:
        the default home volume included).
        """
        site = site or await self.site()
        spec = request.spec
        person = user_document(user)
        quotas = site.data["accounting"].get("quotas") or {}
        watched = [g for g in person["groups"] if g in quotas]
        usage = await asyncio.to_thread(month_usage, site.state_dir, watched) if watched else {}
        doc = build_input(
            spec,
            person,
            request.origin,
            directory(spec.collaborators),
            site_summary(site),
            mounts=effective_mounts(spec, site),
            usage=usage,
        )
        started = time.perf_counter()
        decision = await self.policy_client(site).decide(doc)
        verdict = Verdict(request=request, decision=decision)
        count_decision(
            time.perf_counter() - started, allowed=decision.allowed,
            unavailable=verdict.unavailable, deny=[f.id for f in decision.deny],
            warn=decision.warn_ids,
        )  # fmt: skip
        return verdict

    # -- the image ------------------------------------------------------------------------
    def builder(self, site: Site) -> ImageBuilder:
        """The image builder of the site's current ``images:``/``registry:`` settings."""
        config = site.images_config()
        if config not in self._builders:
            self._builders[config] = ImageBuilder(config, keep=lambda: self.stored_images())
        return self._builders[config]

    async def image(self, spec: Any, site: Site, on_event: Callable[[dict[str, Any]], None]) -> str:
        """The image of ``spec`` (cache hit, registry pull, or a build); raises
        :class:`LaunchRefused` (``build-failed``, 502) when it cannot be had."""
        last: dict[str, Any] | None = None
        async for ev in self.builder(site).ensure(spec.repo, spec.ref):
            last = ev
            on_event(build_event(ev))
        count_image(last)
        if last is None or last["phase"] != "ready":
            message = last["message"] if last else "no image"
            raise LaunchRefused(502, "build-failed", f"The image could not be built: {message}")
        return str(last["image"])

    # -- the plan ---------------------------------------------------------------------------
    @staticmethod
    def plan(
        verdict: Verdict, site: Site, *, owner: str, image: str, layout: Layout,
        public: bool = False,
    ) -> RuntimePlan:  # fmt: skip
        """The runtime plan of an allowed verdict (pure; the backend renders it)."""
        return make_plan(
            verdict.request.spec, site, verdict.decision, owner=owner, image=image,
            layout=layout, public=public,
        )  # fmt: skip


_services: dict[str, LaunchService] = {}


def service_for(path: Any) -> LaunchService:
    """The process-wide :class:`LaunchService` of the site file ``path``."""
    source = site_file(path)
    key = str(source.path)
    if key not in _services:
        _services[key] = LaunchService(source)
    return _services[key]
