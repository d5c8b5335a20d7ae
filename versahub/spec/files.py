"""Read a spec file: the one reader of YAML/JSON ServerSpec files (CLI, catalogue tools).

At most 1 MB, UTF-8, one mapping; every failure is an ``InputError`` on ``file``. This is
the spec package's only I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from versahub.errors import InputError, shorten
from versahub.spec.text import type_name
from versahub.util.yamlfile import AliasRefused, DuplicateKey, TooDeep, load_yaml

MAX_FILE_BYTES = 1024 * 1024


def read_spec_file(name: str) -> dict[str, Any]:
    """Read a YAML/JSON mapping of at most 1 MB, reporting every failure as ``file``."""
    path = Path(name)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError("file", f"no such file: {shorten(name)}") from None
    except IsADirectoryError:
        raise InputError("file", f"is a directory: {shorten(name)}") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise InputError("file", f"cannot read {shorten(name)}: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError("file", f"is larger than 1 MB: {shorten(name)}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("file", f"is not UTF-8 text: {shorten(name)}") from None
    try:
        data = load_yaml(text)
    except DuplicateKey as err:
        raise InputError(
            err.key if err.key.isidentifier() else "file", f"is given twice (line {err.line})"
        ) from None
    except TooDeep:
        raise InputError("file", "is nested too deeply") from None
    except AliasRefused as err:
        raise InputError("file", str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise InputError("file", f"is not valid YAML/JSON{where}: {problem}") from None
    if not isinstance(data, dict):
        raise InputError("file", f"must hold a mapping (key: value), not {type_name(data)}")
    return data
