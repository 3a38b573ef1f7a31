"""What tests assert on: error codes and fields of an answer, and the audit table."""

from __future__ import annotations

from typing import Any

import asyncpg


async def audit_rows(db: asyncpg.Connection, action: str) -> list[dict[str, Any]]:
    """The audit entries for one action, oldest first, as plain dicts (``changes`` decoded)."""
    import json

    rows = await db.fetch(
        "SELECT action, actor_id, target_type, target_id, changes, request_id, host(ip) AS ip, user_agent"
        " FROM audit_entries WHERE action = $1 ORDER BY id",
        action,
    )
    out = []
    for row in rows:
        entry = dict(row)
        if isinstance(entry["changes"], str):
            entry["changes"] = json.loads(entry["changes"])
        out.append(entry)
    return out


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def bad_fields(error: dict[str, Any]) -> set[str]:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return {f["field"] for f in error["extensions"]["fields"]}


def code(body: dict[str, Any]) -> str | None:
    """The first error's code, or None for a success."""
    errors = body.get("errors")
    return str(errors[0]["extensions"]["code"]) if errors else None
