"""Memory sizes, CPU counts and durations of a ServerSpec's ``resources``.

Sizes are binary like JupyterHub's ``ByteSpecification`` (``512M`` = 512 × 1024², ``2G`` =
2 × 1024³); the suffix may be written ``K``/``M``/``G``/``T`` (any case), optionally followed
by ``i`` or ``iB`` or ``B`` — all of them mean powers of 1024. The canonical form is the
largest unit that divides the size exactly (``1.5G`` → ``1536M``). Durations are
``<n>d<n>h<n>m<n>s`` (any non-empty subset, in that order) or a whole number of seconds;
the canonical form is compound (``90m`` → ``1h30m``).

``limits_of`` is the one conversion of a ``resources``-shaped mapping (a spec's
``resources``, a site's ``policy.caps.*`` and ``policy.large_request``) into the numbers the
policy, the runtime plan and the culler compare: bytes, CPUs, seconds.

This module only parses and formats numbers; whether a size is *allowed* is a policy
question (``data.versahub.site.caps``). It must never round a value silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from versahub.errors import InputError, shorten
from versahub.spec.text import require_number, require_str, type_name

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?([KMGT]?)(?:I?B|I)?\Z")
MIN_MEMORY = 1024**2  # 1 MiB: anything smaller is a typo (missing unit)
MAX_MEMORY = 64 * 1024**4  # 64 TiB: sanity bound, caps come from policy

MAX_CPU = 256.0

_DURATION = re.compile(r"^(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?\Z")
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
MAX_DURATION_SECONDS = 366 * 86400


def parse_memory(field: str, value: object) -> int:
    """Return a memory size in bytes from ``"2G"``-like text or an integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        text = require_str(field, value, max_len=32)
        match = _SIZE.match(text.upper())
        if not match:
            raise InputError(field, f"must be a size like 512M or 2G: {shorten(text)}")
        whole, frac, unit = match.groups()
        scale = _UNITS[unit]
        size = int(whole) * scale
        if frac:
            numerator = int(frac) * scale
            denominator = 10 ** len(frac)
            if numerator % denominator:
                raise InputError(field, f"is not a whole number of bytes: {shorten(text)}")
            size += numerator // denominator
    else:
        raise InputError(field, f"must be a size like 2G, not {type_name(value)}")
    if size < MIN_MEMORY:
        raise InputError(field, "must be at least 1M (sizes are bytes unless a unit is given)")
    if size > MAX_MEMORY:
        raise InputError(field, "must be at most 64T")
    return size


def format_memory(size: int) -> str:
    """Canonical text of a size: the largest binary unit that divides it exactly."""
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def parse_cpu(field: str, value: object) -> float:
    """Return a CPU count: a number > 0 and <= 256, in steps of 0.001 (millicores)."""
    number = require_number(field, value)
    if number <= 0:
        raise InputError(field, "must be greater than 0")
    if number > MAX_CPU:
        raise InputError(field, f"must be at most {MAX_CPU:g}")
    millis = round(number * 1000)
    if abs(millis - number * 1000) > 1e-6:
        raise InputError(field, "must be a multiple of 0.001")
    return millis / 1000


def parse_duration(field: str, value: object) -> int:
    """Return a duration in seconds from ``"8h"``/``"1h30m"`` text or an integer of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = require_str(field, value, max_len=32)
        match = _DURATION.match(text.lower())
        if not text or not match or not any(match.groups()):
            raise InputError(field, f"must be a duration like 30m, 8h or 1h30m: {shorten(text)}")
        seconds = sum(
            int(part) * scale
            for part, (_, scale) in zip(match.groups(), _DURATION_UNITS, strict=True)
            if part
        )
    else:
        raise InputError(field, f"must be a duration like 8h, not {type_name(value)}")
    if seconds < 1:
        raise InputError(field, "must be at least 1s")
    if seconds > MAX_DURATION_SECONDS:
        raise InputError(field, "must be at most 366d")
    return seconds


def format_duration(seconds: int) -> str:
    """Canonical text of a duration: ``5400`` → ``"1h30m"``, ``86400`` → ``"1d"``."""
    parts = []
    for unit, scale in _DURATION_UNITS:
        count, seconds = divmod(seconds, scale)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


RESOURCE_KEYS = ("memory", "cpu", "max_duration", "idle_timeout")
LIMIT_KEYS = ("memory_bytes", "cpu", "max_duration_seconds", "idle_timeout_seconds")


def limits_of(
    resources: Mapping[str, Any], field: str, fallback: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The numbers of ``resources`` (``{"memory": "2G", "cpu": 1, ...}``), keyed by
    ``LIMIT_KEYS``: memory in bytes, CPUs as a float, durations in seconds.

    A key left out, ``None`` or ``""`` takes ``fallback``'s value (``None`` without one):
    a spec's limits over the site's default caps, a group's caps over the default ones.
    Errors name ``<field>.<key>``.
    """
    memory, cpu, max_duration, idle = (
        None if resources.get(key) in (None, "") else resources[key] for key in RESOURCE_KEYS
    )
    given = {
        "memory_bytes": None if memory is None else parse_memory(f"{field}.memory", memory),
        "cpu": None if cpu is None else require_number(f"{field}.cpu", cpu),
        "max_duration_seconds": (
            None if max_duration is None else parse_duration(f"{field}.max_duration", max_duration)
        ),
        "idle_timeout_seconds": (
            None if idle is None else parse_duration(f"{field}.idle_timeout", idle)
        ),
    }
    base = fallback or {}
    return {key: base.get(key) if value is None else value for key, value in given.items()}
