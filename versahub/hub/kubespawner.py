"""VersaHub's spawner on Kubernetes: KubeSpawner rendering the launch service's plan.

Everything before the plan — request parsing, the policy decision (fail closed), the
confirmation, the image, the plan itself, progress and the removal of refused entries — is
``VersaHubSpawnerMixin``'s, shared with Docker. This class only renders the plan
(``versahub.hub.kubernetes``) and creates, before the pod exists, the server's own
NetworkPolicy (so the pod never runs a moment without it) and, when the spec asks for
credentials, their Secret; both are deleted when the server stops.

Internet off is enforced by the NetworkPolicy, which only a cluster whose network plugin
enforces NetworkPolicies honours (Calico, Cilium, k3s's default kube-router, most clouds'
options): ``docs/deploy-kubernetes.md`` says so and ``scripts/k8s-smoke.sh`` checks it on a
real cluster.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Unicode

from versahub.hub.kubernetes import (
    KubeSettings,
    credentials_secret,
    kube_traits,
    network_policy,
    secret_name,
)
from versahub.hub.spawner import VersaHubSpawnerMixin, http_error
from versahub.launch.plan import Layout, RuntimePlan
from versahub.launch.service import LaunchRefused
from versahub.site.config import Site


class VersaHubKubeSpawner(VersaHubSpawnerMixin, KubeSpawner):
    """KubeSpawner with VersaHub's policy enforcement, images and runtime plan."""

    state_dir_in_claim = Unicode(
        "/srv/versahub",
        config=True,
        help="""The site's state folder as the plan knows it: mount sources under
        ``<state>/volumes`` become subPaths of the volume claim (``kubernetes.volumes_claim``
        of site.yaml).""",
    )

    def kube_settings(self, site: Site) -> KubeSettings:
        return KubeSettings.from_site(site)

    def layout(self, site: Site) -> Layout:
        return self.kube_settings(site).layout(str(site.state_dir), self.notebook_uid)

    # -- rendering ------------------------------------------------------------------------
    def apply_plan(self, plan: RuntimePlan) -> None:
        site = self._site()
        settings = self.kube_settings(site)
        layout = self.layout(site)
        traits = kube_traits(plan, settings, self.pod_name, volumes_dir=layout.volumes_dir)
        self.versahub_env = traits.pop("environment")
        for name, value in traits.items():
            setattr(self, name, value)

    async def offline_isolation_problem(self) -> str | None:
        return None  # the server's NetworkPolicy is created before its pod, or the start fails

    async def prepare_runtime(self, plan: RuntimePlan) -> None:
        site = self._site()
        settings = self.kube_settings(site)
        if plan.mounts:
            await self._check_claim(settings.volumes_claim)
        body = network_policy(plan, settings, self.pod_name)
        await self._replace(
            shared_client("NetworkingV1Api"), "namespaced_network_policy", self.namespace,
            self.pod_name, body,
        )  # fmt: skip

    async def store_credentials(self, plan: RuntimePlan, document: dict[str, Any]) -> None:
        site = self._site()
        settings = self.kube_settings(site)
        body = credentials_secret(plan, settings, self.pod_name, document)
        await self._replace(
            self.api, "namespaced_secret", self.namespace, secret_name(self.pod_name), body
        )

    async def release_runtime(self, plan: dict[str, Any]) -> None:
        if not plan:
            return
        namespace = self.namespace
        await self._delete(shared_client("NetworkingV1Api"), "namespaced_network_policy",
                           namespace, self.pod_name)  # fmt: skip
        if plan.get("credentials"):
            await self._delete(self.api, "namespaced_secret", namespace, secret_name(self.pod_name))

    def _site(self) -> Site:
        assert self.versahub_site is not None, "a plan is rendered during a start only"
        return self.versahub_site

    async def _check_claim(self, claim: str) -> None:
        """A pod whose claim is missing or unbound would wait, Pending, until the start
        times out: say why at once instead."""
        try:
            pvc = await self.api.read_namespaced_persistent_volume_claim(claim, self.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            raise http_error(LaunchRefused(
                503, "storage-unavailable",
                f"The site's volume claim {claim} does not exist in namespace {self.namespace}: "
                "no server with volumes can start (ask the site's operators)",
            )) from None  # fmt: skip
        phase = pvc.status.phase if pvc.status is not None else None
        if phase == "Lost":
            raise http_error(LaunchRefused(
                503, "storage-unavailable",
                f"The site's volume claim {claim} has lost its volume: no server with volumes "
                "can start (ask the site's operators)",
            ))  # fmt: skip

    # -- API helpers ----------------------------------------------------------------------
    async def _replace(self, api: Any, kind: str, namespace: str, name: str, body: Any) -> None:
        """Create ``body``; if an object of that name exists (a server that did not stop
        cleanly), replace it: a start never runs under an old policy or secret."""
        try:
            await getattr(api, f"create_{kind}")(namespace, body)
        except ApiException as err:
            if err.status != 409:
                raise
            await getattr(api, f"replace_{kind}")(name, namespace, body)

    async def _delete(self, api: Any, kind: str, namespace: str, name: str) -> None:
        try:
            await getattr(api, f"delete_{kind}")(
                name, namespace, body=client.V1DeleteOptions(propagation_policy="Background")
            )
        except ApiException as err:
            if err.status != 404:
                raise
