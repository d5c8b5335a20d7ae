"""Time of a fresh ``versahub deploy`` onto a new systemd Debian host, and of the re-run.

Starts a fresh test host container (``tests/hosts/``), runs ``versahub deploy`` against it
(fresh deploy: every package installed, every service started), then runs it again (the
upgrade path, which must change nothing) and prints a Markdown table. The reference is
The Littlest JupyterHub's installer: 5–10 minutes for a hub alone on a 1 GB VM.

APT's packages and pip's cache are kept on this machine between runs
(``~/.cache/versahub/testhost``) as the integration test does; ``--cold`` empties them first
to measure a deploy that downloads everything. Run:
``.venv/bin/python bench/deploy/bench_deploy.py [--cold]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from deploy_support import (  # noqa: E402
    HOST_CACHE,
    TestHost,
    build_host_image,
    create_network,
    deploy,
    new_host_name,
    remove_network,
    snapshot_repo,
    write_inventory,
)

SITE = {
    "site": {"name": "Deploy benchmark"},
    "hub": {
        "url": "http://0.0.0.0:8000",
        "admin_users": ["admin"],
        "auth": {"kind": "demo", "users": ["admin"]},
    },
    "state_dir": "/var/lib/versahub",
}


def main() -> int:
    cold = "--cold" in sys.argv[1:]
    if cold:
        shutil.rmtree(HOST_CACHE, ignore_errors=True)
    image = build_host_image()
    network = create_network(new_host_name("vh-bench-net"))
    host = TestHost(new_host_name("vh-bench"), image, network=network).start()
    try:
        with tempfile.TemporaryDirectory(prefix="versahub-bench-") as tmp:
            repo = snapshot_repo(Path(tmp) / "repo")
            inv = write_inventory(Path(tmp) / "inv", host.name, SITE)
            playbook = repo / "playbooks" / "site.yml"
            fresh = deploy(inv, playbook=playbook)
            if fresh.returncode != 0:
                print(fresh.output[-3000:])
                return 1
            again = deploy(inv, playbook=playbook)
    finally:
        host.remove()
        remove_network(network)
    caches = "cold (empty APT/pip caches)" if cold else "warm APT/pip caches"
    print(f"\n| deploy onto a fresh Debian 12 host ({caches}) | seconds | tasks changed |")
    print("| --- | ---: | ---: |")
    print(f"| fresh deploy | {fresh.seconds:.0f} | {fresh.changed} |")
    print(f"| re-run (idempotent) | {again.seconds:.0f} | {again.changed} |")
    return 0 if again.returncode == 0 and again.changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
