"""X-Request-Id: the client's when it is sane (<= 128 printable characters), else a new UUID.

The id is set by the HTTP edge middleware (http/middleware.py); this module only judges and reads it.
"""

from __future__ import annotations

import uuid

from starlette.types import Scope

HEADER = "x-request-id"
MAX_LENGTH = 128


def is_sane(value: str) -> bool:
    return 0 < len(value) <= MAX_LENGTH and all(33 <= ord(c) <= 126 for c in value)


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = str(uuid.uuid4())
    return str(rid)
