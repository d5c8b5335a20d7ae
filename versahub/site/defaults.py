"""The one place where site.yaml defaults live.

``DEFAULTS`` is deep-merged under the operator's ``site.yaml`` before validation, so every
key a reader of the site needs is present. Nothing here reads files or the environment.
A unit test checks that ``DEFAULTS`` alone validates against ``schema.json``.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "site": {
        "name": "VersaHub",
        "institution": "",
        "credits": "",
        "warnings": [],
    },
    "hub": {
        "url": "http://127.0.0.1:8000",
        "internal_ip": "172.17.0.1",
        "internal_port": 8081,
        "cull_every": 60,
        "cleanup_servers": False,
        "spawner": "docker",
        "public_copies": {"max_per_server": 20, "max_total": 100, "per_minute": 30},
        "admin_users": [],
        "groups": {},
        "auth": {"kind": "demo", "users": ["alice", "bob"]},
    },
    "opa": {
        "address": "127.0.0.1:8181",
        "timeout": 1.0,
    },
    "state_dir": ".versahub",
    "volumes": {
        "home": {
            "kind": "home",
            "description": "Your persistent home folder.",
            "read": {"users": ["*"], "groups": []},
            "write": {"users": ["*"], "groups": []},
        },
    },
    "catalogue": [],
    "popular": {"min_users": 3, "max_entries": 50},
    "accounting": {
        "enabled": True,
        "sample_every": 60,
        "keep_hourly_days": 35,
        "keep_daily_days": 730,
    },
    "federation": {"hubs": [], "entry_point": {"enabled": False, "health_timeout": 2.0}},
    "kubernetes": {
        "namespace": "versahub",
        "volumes_claim": "versahub-volumes",
        "hub_service": "hub",
        "dns_namespace": "kube-system",
        "metadata_cidr": "169.254.169.254/32",
        "pull_policy": "IfNotPresent",
        "service_account": "versahub-hub",
        "hub_in_cluster": False,
    },
    "images": {},
    "registry": {
        "enabled": False,
        "address": "127.0.0.1:5000",
        "storage_dir": "registry",
        "tls": False,
    },
    "storage": {"remote": False},
    "policy": {
        "trusted_repos": [],
        "trusted_forges": [],
        "allowed_forges": ["*"],
        "allowed_internal_hosts": [],
        "caps": {
            "default": {"memory": "4G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h"},
            "groups": {},
        },
        "large_request": {"memory": "8G", "cpu": 4},
        "share": {"groups": "member"},
        "decision_log": {"keep_days": 30, "personal_data": "keep"},
    },
}

# Defaults of the LTI logins (``hub.auth.lti13`` / ``hub.auth.lti11``, docs/lti.md), filled
# in by ``versahub.site.lti`` only for the kind a site uses, so a demo site's document
# carries no LTI section. ``sub`` and ``user_id`` are the opaque, stable user ids of
# LTI 1.3 and LTI 1.1 (always sent, unlike an email address).
LTI_DEFAULTS: dict[str, dict[str, Any]] = {
    "lti13": {"username_key": "sub", "frame_ancestors": []},
    "lti11": {"username_key": "user_id", "frame_ancestors": []},
}

# Keys whose value replaces the default wholesale instead of being merged into it: an
# operator who lists volumes or caps per group means exactly that list.
REPLACE_KEYS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("volumes",),
        ("policy", "caps", "groups"),
        ("hub", "groups"),
    }
)
