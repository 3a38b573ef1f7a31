"""Text input rules shared by every service: what a single-line or multi-line field may contain.

PostgreSQL text cannot hold NUL at all, and no field of ours has a use for other control characters.
A lone UTF-16 surrogate (JSON's ``"\\ud800"``) is not a character UTF-8 can encode, so no text
column (nor jsonb) can store it either.
"""

from __future__ import annotations

import re

LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and newlines are fine


def has_control(value: str | None, *, multiline: bool = False) -> bool:
    if value is None:
        return False
    return bool((TEXT_CONTROL_RE if multiline else LINE_CONTROL_RE).search(value))


UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why PostgreSQL cannot store this text (as the field message), or None when it can."""
    found = UNSTORABLE_RE.search(value)
    if found is None:
        return None
    # NUL keeps the wording the services use for control characters.
    return (
        "must not contain control characters"
        if found.group() == "\x00"
        else "must not contain lone UTF-16 surrogates"
    )
