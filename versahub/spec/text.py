"""Type and character checks shared by every ServerSpec field validator.

Everything that reaches :mod:`versahub.spec` is hostile input: it may be the wrong JSON
type, 10 kB long or full of control characters. These helpers check the type and the
characters before any field-specific rule looks at a value, and raise
:class:`~versahub.errors.InputError` naming the field. They never coerce a value to
another type (no ``str(list)``, no ``"true"`` → ``True``) and never print it unshortened.
"""

from __future__ import annotations

import math
import re
import unicodedata

from versahub.errors import InputError, shorten

# C0/C1 control characters, DEL, the Unicode line/paragraph separators, and the invisible
# format characters that reorder or hide text (bidi embeddings/overrides/isolates, zero
# width spaces and joiners, the BOM): a value must read as what it is (no Trojan Source).
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
# every Unicode "format" character (soft hyphen, TAG characters, Mongolian vowel separator,
# and the rest of category Cf), controls, separators and private-use characters
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co"})
_SPACE = re.compile(r"\s")
# Lone surrogates cannot be encoded as UTF-8 (and so cannot be hashed or quoted).
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def require_str(field: str, value: object, *, max_len: int, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a string of acceptable length without control characters."""
    if not isinstance(value, str):
        hint = " (quote it in YAML)" if isinstance(value, int | float) else ""
        raise InputError(field, f"must be a string, not {type_name(value)}{hint}")
    if len(value) > max_len:
        raise InputError(field, f"is too long ({len(value)} characters, at most {max_len})")
    if not value and not allow_empty:
        raise InputError(field, "must not be empty")
    if _CONTROL.search(value) or any(unicodedata.category(c) in _HIDDEN for c in value):
        raise InputError(
            field, f"must not contain control or invisible characters: {shorten(value)}"
        )
    if _SURROGATE.search(value):
        raise InputError(field, f"is not valid Unicode text: {shorten(value)}")
    return value


def require_no_space(field: str, value: str) -> str:
    """Reject any whitespace (space, tab, non-breaking space …) inside ``value``."""
    if _SPACE.search(value):
        raise InputError(field, f"must not contain whitespace: {shorten(value)}")
    return value


def require_bool(field: str, value: object) -> bool:
    """Return ``value`` if it is a real boolean (``"true"`` strings are the URL layer's job)."""
    if not isinstance(value, bool):
        raise InputError(field, f"must be true or false, not {type_name(value)}")
    return value


def require_number(field: str, value: object) -> float:
    """Return a finite int/float (never a bool, never a numeric string) as float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, f"must be a number, not {type_name(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise InputError(field, "is far too large a number") from None
    if not math.isfinite(number):
        raise InputError(field, "must be a finite number")
    return number


def require_list(field: str, value: object, *, max_items: int) -> list[object]:
    """Return ``value`` if it is a list (YAML sequence) of at most ``max_items`` items."""
    if not isinstance(value, list | tuple):
        raise InputError(field, f"must be a list, not {type_name(value)}")
    if len(value) > max_items:
        raise InputError(field, f"has too many items ({len(value)}, at most {max_items})")
    return list(value)


def type_name(value: object) -> str:
    """Name a value's type the way a YAML/JSON author thinks of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
