"""Render a :class:`~versahub.launch.plan.RuntimePlan` as DockerSpawner 14 trait values.

Pure: ``docker_traits(plan)`` returns ``{trait: value}`` for ``dockerspawner.DockerSpawner``
(``image``, ``volumes`` with ``{"bind", "mode"}``, ``network_name``, ``use_internal_ip``,
``mem_limit``, ``cpu_limit``, ``extra_create_kwargs``, ``extra_host_config``, ``remove``,
``environment``, ``notebook_dir``, ``default_url``, ``cmd``). The spawner sets them; nothing
here talks to Docker. Secrets never appear here: the credentials file is mounted, its
content is written by ``credentials.py`` at start.
"""

from __future__ import annotations

from typing import Any

from versahub.launch.plan import RuntimePlan

# Runs before the image's command: copy the repository's files into the project folder on
# the first start only (never overwriting the user's copy), then exec the server.
START_SCRIPT = (
    'if [ -n "$VERSAHUB_PROJECT_DIR" ] && [ ! -e "$VERSAHUB_PROJECT_DIR" ]; then '
    'mkdir -p "$VERSAHUB_PROJECT_DIR" && '
    'if [ -d "$VERSAHUB_REPO_DIR" ]; then cp -a "$VERSAHUB_REPO_DIR/." "$VERSAHUB_PROJECT_DIR/" '
    "|| true; fi; fi; "
    'exec "$@"'
)
START_COMMAND = ["/bin/sh", "-c", START_SCRIPT, "versahub-start", "jupyterhub-singleuser"]
PIDS_LIMIT = 4096


def docker_traits(plan: RuntimePlan) -> dict[str, Any]:
    """DockerSpawner trait values for ``plan`` (golden-tested)."""
    volumes = {
        m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in plan.mounts
    }
    if plan.credentials is not None:
        volumes[plan.credentials.host_dir] = {"bind": plan.credentials.mount, "mode": "ro"}
    host_config: dict[str, Any] = {
        "pids_limit": PIDS_LIMIT,
        # no privilege escalation through setuid binaries inside the server
        "security_opt": ["no-new-privileges"],
        # no Linux capabilities: the server runs as the notebook user and needs none; an
        # image that switches to root (a repository's own Dockerfile may) stays powerless
        "cap_drop": ["ALL"],
    }
    if plan.limits.memory_bytes is not None:
        # no swap beyond the memory limit: the limit is the limit
        host_config["memswap_limit"] = plan.limits.memory_bytes
    return {
        "image": plan.image,
        "volumes": volumes,
        "read_only_volumes": {},
        "network_name": plan.network,
        "use_internal_ip": True,
        "mem_limit": plan.limits.memory_bytes,
        "cpu_limit": plan.limits.cpu,
        "remove": True,
        "extra_create_kwargs": {
            "labels": dict(plan.labels),
            "working_dir": plan.root_dir,
            "hostname": plan.server_name or "server",
        },
        "extra_host_config": host_config,
        "environment": dict(plan.environment),
        "notebook_dir": plan.root_dir,
        "default_url": "/" + plan.default_url.lstrip("/"),
        "cmd": list(START_COMMAND),
    }
