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

    Control characters are escaped and long values are cut, so that an error message
    never carries a 10 kB name or a terminal escape sequence.
    """
    text = str(value).encode("unicode_escape", "backslashreplace").decode("ascii")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)
