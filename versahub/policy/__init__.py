"""VersaHub's policy engine wiring: OPA decides every requested server configuration.

``input`` (pure: spec + user + origin → OPA input), ``data`` (pure: site.yaml → OPA site data,
plus an atomic writer), ``decision`` (pure: decision values, validation, confirmation hash),
``client`` (async OPA client that fails closed), ``server`` (the ``opa run`` process) and
``cli`` (``versahub policy …``). No Rego is evaluated here: only a real OPA decides.
"""

from versahub.policy.client import DEFAULT_OPA_URL, PolicyClient
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
