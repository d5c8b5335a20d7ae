"""Errors raised for bad input anywhere in VersaHub.

Every entry point (form, URL, REST, CLI, LTI claim, site file, policy file) reports bad
input as an :class:`InputError` that names the field and the reason, so that the CLI can
print one line and exit 2, and the hub can answer 400 with the same words.
"""

from __future__ import annotations

# Exit statuses of every command line (``versahub …``): one place, below the CLIs.
EXIT_BAD_INPUT = 2
EXIT_DENIED = 3


class InputError(ValueError):
    """Bad input: ``field`` names where it was found, ``reason`` says what is wrong.

    ``str(err)`` is the one-line message shown to people: ``"<field>: <reason>"``.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def shorten(value: object, limit: int = 60) -> str:
    """Return ``repr``-like text of a hostile value, safe to put in a one-line message.

    Control and non-ASCII characters are shown escaped exactly once, as ``ascii()`` does
    (``'\\x1b[31m'``, ``'\\n'``, ``'caf\\xe9'``), and long values are cut to ``limit``
    shown characters plus ``…`` (never inside an escape), so that an error message never
    carries a 10 kB name or a terminal escape sequence.
    """
    text = str(value)
    quote = '"' if "'" in text[: limit + 1] and '"' not in text[: limit + 1] else "'"
    pieces = [_shown(char, quote) for char in text[: limit + 1]]
    if len(text) <= limit and sum(map(len, pieces)) <= limit:
        return quote + "".join(pieces) + quote
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > limit - 1:
            break
        kept.append(piece)
        used += len(piece)
    return quote + "".join(kept) + "…" + quote


def _shown(char: str, quote: str) -> str:
    """One character as ``ascii()`` shows it inside ``quote``-delimited text."""
    if char == quote:
        return "\\" + char
    return ascii(char)[1:-1] if char not in "'\"" else char
