"""Build a reproducible wheel of the VersaHub repository on the Ansible controller.

The hub role copies this wheel to each hub host and installs it there; because the bytes
only change when the sources do, a second deploy copies nothing and restarts nothing.
The sources are copied to a temporary folder first, so a stale ``build/`` or ``*.egg-info``
in the work tree never ends up in the wheel and the work tree is never written to, except
``OUT_DIR``. Usage: ``python -m versahub.deploy.wheel REPO OUT_DIR`` (prints the wheel path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# 1980-01-01, the earliest time a zip file can hold.
SOURCE_DATE_EPOCH = "315532800"
INCLUDE = ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in", "versahub")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")


def build_wheel(repo: Path, out_dir: Path) -> Path:
    """Build the wheel of ``repo`` into ``out_dir`` and return its path."""
    repo = repo.resolve()
    if not (repo / "pyproject.toml").is_file():
        raise FileNotFoundError(f"{repo} has no pyproject.toml: not the VersaHub repository")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="versahub-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in INCLUDE:
            path = repo / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=IGNORE)
            elif path.is_file():
                shutil.copy2(path, src / name)
        built = Path(tmp) / "dist"
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PYTHONHASHSEED="0")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(built),
                str(src),
            ],
            check=True,
            env=env,
            stdout=sys.stderr,
        )
        (wheel,) = built.glob("versahub-*.whl")
        target = out_dir / wheel.name
        if not target.exists() or target.read_bytes() != wheel.read_bytes():
            tmp_target = out_dir / f".{wheel.name}.tmp"
            shutil.copyfile(wheel, tmp_target)
            tmp_target.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m versahub.deploy.wheel REPO OUT_DIR", file=sys.stderr)
        return 2
    print(build_wheel(Path(args[0]), Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
