"""VersaHub's policy engine wiring: OPA decides every requested server configuration.

``input`` (pure: spec + user + origin → OPA input), ``data`` (pure: site.yaml → OPA site data,
plus an atomic writer), ``decision`` (pure: decision values, validation, confirmation hash),
``client`` (async OPA client that fails closed) and ``server`` (the ``opa run`` process).
No Rego is evaluated here: only a real OPA decides.

The client (aiohttp, opa-python-client) is imported on first use of ``PolicyClient`` or
``DEFAULT_OPA_URL``, so reading a site (which renders OPA's site data) stays fast for
command-line tools that never talk to OPA.
"""

from typing import Any

from versahub.policy.data import render_site_data, write_site_data
from versahub.policy.decision import (
    UNAVAILABLE_ID,
    Decision,
    Finding,
    MalformedDecision,
    confirmation_hash,
    unavailable,
    validate_decision,
)
from versahub.policy.input import build_input

__all__ = [
    "DEFAULT_OPA_URL",
    "UNAVAILABLE_ID",
    "Decision",
    "Finding",
    "MalformedDecision",
    "PolicyClient",
    "build_input",
    "confirmation_hash",
    "render_site_data",
    "unavailable",
    "validate_decision",
    "write_site_data",
]


def __getattr__(name: str) -> Any:
    if name in ("PolicyClient", "DEFAULT_OPA_URL"):
        from versahub.policy import client  # deferred for start-up time, not for a cycle

        return getattr(client, name)
    raise AttributeError(f"module 'versahub.policy' has no attribute {name!r}")
