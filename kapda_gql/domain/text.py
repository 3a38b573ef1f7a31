"""Text input rules shared by every service: what a single-line or multi-line field may contain.

PostgreSQL text cannot hold NUL at all, and no field of ours has a use for other control characters.
"""

from __future__ import annotations

import re

LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and newlines are fine


def has_control(value: str | None, *, multiline: bool = False) -> bool:
    if value is None:
        return False
    return bool((TEXT_CONTROL_RE if multiline else LINE_CONTROL_RE).search(value))
