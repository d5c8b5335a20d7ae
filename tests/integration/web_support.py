"""A real VersaHub site for the launch-page tests: OPA + JupyterHub + proxy on loopback.

``WebHub`` is ``site_support.SiteUnderTest`` with the launch page's test site (site texts, a
catalogue, demo users, volumes home and teaching): the hub is started exactly as ``versahub
up`` starts it (the product's ``start_opa`` and ``start_hub``, the production
``jupyterhub_config.py``), with the VersaHub spawner when Docker is there. Users log in with
the demo password the site generated (``WebHub.password``). It never uses ``make up``.
Test helper, not product code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # site_support

from site_support import SiteUnderTest, docker0_available, free_port

__all__ = ["CATALOGUE", "USERS", "WebHub", "docker0_available", "free_port"]

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "admin"]

CATALOGUE = [
    {
        "id": "requirements-demo",
        "title": "Python with requirements.txt",
        "description": "The binder-examples requirements demo, with your home folder.",
        "spec": {
            "repo": "https://github.com/binder-examples/requirements",
            "urlpath": "lab",
            "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}],
        },
    },
    {
        "id": "ds101",
        "title": "DS101 labs <b>(course)</b>",
        "description": "Course material read-only, no internet.",
        "spec": {
            "repo": "https://github.com/binder-examples/requirements",
            "internet": False,
            "mounts": [{"volume": "teaching", "path": "/home/jovyan/course", "mode": "ro"}],
        },
    },
]


class WebHub(SiteUnderTest):
    """One site with the launch page; ``url`` is the public (proxy) URL."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)

    def site_document(self) -> dict[str, Any]:
        doc = super().site_document()
        doc.update({
            "site": {
                "name": "VersaHub test site",
                "institution": "Example University",
                "docs_url": "https://versahub.example.org/docs",
                "credits": "Service provided by the Example University research computing team.",
                "warnings": [
                    "Servers built from repositories you do not know can act as you inside "
                    "the server."
                ],
            },
            "catalogue": CATALOGUE,
            "volumes": {
                "home": {
                    "kind": "home",
                    "description": "Your persistent home folder.",
                    "read": {"users": ["*"]},
                    "write": {"users": ["*"]},
                },
                "teaching": {
                    "kind": "shared",
                    "description": "Course material, written by teachers.",
                    "read": {"users": ["*"]},
                    "write": {"users": ["admin"]},
                },
            },
            "policy": {
                "trusted_repos": ["https://github.com/binder-examples/*"],
                "trusted_forges": ["github.com"],
                "caps": {
                    "default": {
                        "memory": "2G", "cpu": 2, "max_duration": "24h", "idle_timeout": "4h",
                    }
                },
                "large_request": {"memory": "1G", "cpu": 1.5},
            },
        })  # fmt: skip
        doc["hub"].update(admin_users=["admin"], auth={"kind": "demo", "users": USERS})
        doc["opa"]["timeout"] = 2.0
        return doc

    def start(self) -> WebHub:
        super().start()
        return self
