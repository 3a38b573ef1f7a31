"""Helpers shared by the foundation tests: GraphQL documents and a look at the audit table."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

PRODUCT_FIELDS = """
  id slug title description category status images inStock createdAt
  price { amount currency formatted }
  designer { id name }
  variants { id sku size color stock inStock price { amount } }
"""


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


@pytest.fixture
def client_ip() -> str:
    """The address the shared `api` fixture's transport reports for every request."""
    return "203.0.113.7"
