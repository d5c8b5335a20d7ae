"""VersaHub's Prometheus metrics, in the hub's own registry (served at ``/hub/metrics``).

JupyterHub already serves its metrics (``jupyterhub_*``: running servers, spawn and
request durations, …) at ``/hub/metrics`` from ``prometheus_client``'s default registry;
VersaHub's join them there, so one scrape gets both (``docs/metrics.md``). Each metric is
counted in exactly one place of the launch path:

- ``versahub_launches_total{outcome, reason}`` — every start of a server through the
  spawner (``progress.Progress.finish``): ``ready``, or ``failed`` with why (``denied``,
  ``unavailable``, ``confirmation-required``, ``build-failed``, ``start``, …);
- ``versahub_policy_decisions_total{result}`` and
  ``versahub_policy_decision_seconds`` — every OPA decision of the launch service
  (``LaunchService.judge``): ``allowed``, ``denied`` or ``unavailable``;
- ``versahub_policy_findings_total{rule, kind}`` — the deny and warn findings of those
  decisions, by rule id;
- ``versahub_images_total{source}`` — how each launch got its image
  (``LaunchService.image``): ``local`` or ``registry`` (cache hits), ``build``, ``failed``;
- ``versahub_public_copies`` — live public read-only copies (read from the hub's
  database at each scrape, ``versahub.hub.handlers``).

Labels carry only bounded values (outcomes, rule ids, sources), never a user, a server
or a repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

LAUNCHES = Counter(
    "versahub_launches",
    "Server starts through VersaHub's launch path, by outcome (ready|failed) and reason.",
    ["outcome", "reason"],
)
DECISIONS = Counter(
    "versahub_policy_decisions",
    "Policy decisions asked of OPA by the launch service, by result.",
    ["result"],
)
DECISION_SECONDS = Histogram(
    "versahub_policy_decision_seconds",
    "Time to get a policy decision from OPA (seconds).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FINDINGS = Counter(
    "versahub_policy_findings",
    "Findings of the policy decisions, by rule id and kind (deny|warn).",
    ["rule", "kind"],
)
IMAGES = Counter(
    "versahub_images",
    "How launches got their image: local or registry (cache hits), build, failed.",
    ["source"],
)


def count_launch(outcome: str, reason: str = "") -> None:
    LAUNCHES.labels(outcome=outcome, reason=reason or "none").inc()


def count_decision(
    seconds: float, *, allowed: bool, unavailable: bool,
    deny: Iterable[str], warn: Iterable[str],
) -> None:  # fmt: skip
    result = "unavailable" if unavailable else "allowed" if allowed else "denied"
    DECISIONS.labels(result=result).inc()
    DECISION_SECONDS.observe(seconds)
    for rule in deny:
        FINDINGS.labels(rule=rule, kind="deny").inc()
    for rule in warn:
        FINDINGS.labels(rule=rule, kind="warn").inc()


def count_image(last: Mapping[str, Any] | None) -> None:
    """The final event of an image request (``versahub.images``)."""
    if last is None or last.get("phase") != "ready":
        source = "failed"
    elif last.get("cache") == "hit":
        source = str(last.get("where") or "local")
    else:
        source = "build"
    IMAGES.labels(source=source).inc()
