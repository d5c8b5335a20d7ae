"""Pack the repository's Rego policies into a reproducible tarball on the Ansible controller.

The opa role copies this one file to each hub host and unpacks it only when its bytes
changed, so a deploy costs one transfer however many policy files there are, and a second
deploy changes nothing. Tests (``*_test.rego``) and hidden files are left out; entries are
sorted, owned by 0:0 and dated 1980-01-01. Usage:
``python -m versahub.deploy.policies POLICY_DIR OUT_FILE`` (prints OUT_FILE).
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

MTIME = 315532800
SUFFIXES = (".rego", ".json")


def policy_files(policy_dir: Path) -> list[Path]:
    """The files that belong in the bundle, sorted by relative path."""
    files = []
    for path in sorted(policy_dir.rglob("*")):
        rel = path.relative_to(policy_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in SUFFIXES and not path.name.endswith("_test.rego"):
            files.append(path)
    return files


def pack(policy_dir: Path, out_file: Path) -> Path:
    """Write the tarball (only when its bytes change) and return its path."""
    files = policy_files(policy_dir)
    if not files:
        raise FileNotFoundError(f"no policies under {policy_dir}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to(policy_dir)))
            info.size, info.mtime, info.mode = len(data), MTIME, 0o640
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if not out_file.exists() or out_file.read_bytes() != blob:
        tmp = out_file.with_name(f".{out_file.name}.tmp")
        tmp.write_bytes(blob)
        tmp.replace(out_file)
    return out_file


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m versahub.deploy.policies POLICY_DIR OUT_FILE", file=sys.stderr)
        return 2
    print(pack(Path(args[0]), Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
