"""``python -m versahub.deploy …`` = ``versahub deploy …`` (same errors and exit statuses)."""

from __future__ import annotations

import sys

from versahub import cli as root
from versahub.deploy.cli import deploy_command


def main(argv: list[str] | None = None) -> int:
    if "deploy" not in root.cli.commands:
        root.cli.add_command(deploy_command)
    return root.main(["deploy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
