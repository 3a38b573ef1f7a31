"""orders and auditLog paged both ways: the same order and cursors, true pageInfo on every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.flows import record_payment

ORDERS = """query($first: Int, $after: String, $last: Int, $before: String) {
  orders(first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }"""
AUDIT = """query($first: Int, $after: String, $last: Int, $before: String) {
  auditLog(filter: {action: "test.paged"}, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }"""

ADDRESS = (
    '{"name": "A", "line1": "1 Road", "city": "Pune", "state": "MH", "postalCode": "411001",'
    ' "country": "IN", "phone": "+919800000000"}'
)


async def _walk_both_ways(
    api: Any, query: str, field: str, token: str, expected: list[int], size: int
) -> None:
    """Forward to the end and backward to the start, each page checked against ``expected``."""
    cursors: list[str] = []
    after = None
    while True:
        data = (await api.ok(query, {"first": size, "after": after}, token=token))[field]
        ids = [int(e["node"]["id"]) for e in data["edges"]]
        start = len(cursors)
        assert ids == expected[start : start + size]
        cursors += [e["cursor"] for e in data["edges"]]
        info = data["pageInfo"]
        assert info["hasPreviousPage"] is (start > 0)
        assert info["hasNextPage"] is (len(cursors) < len(expected))
        assert (info["startCursor"], info["endCursor"]) == (cursors[start], cursors[-1])
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(cursors) == len(expected) and data["totalCount"] == len(expected)
    before, end = None, len(expected)
    while True:
        data = (await api.ok(query, {"last": size, "before": before}, token=token))[field]
        start = max(0, end - size)
        assert [int(e["node"]["id"]) for e in data["edges"]] == expected[start:end]
        assert [e["cursor"] for e in data["edges"]] == cursors[start:end]
        info = data["pageInfo"]
        assert info["hasPreviousPage"] is (start > 0)
        assert info["hasNextPage"] is (end < len(expected))
        end = start
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert end == 0


@pytest.mark.parametrize("size", [1, 3])
async def test_orders_both_ways(api: Any, db: Any, make_user: Any, size: int) -> None:
    customer = await make_user()
    other = await make_user()
    base = datetime(2026, 3, 1, tzinfo=UTC)
    mine: list[tuple[datetime, int]] = []
    for i in range(8):
        for who in (customer, other):
            session = await db.fetchval(
                "INSERT INTO checkout_sessions (user_id, amount, lines, shipping_address, expires_at, status)"
                " VALUES ($1, 100, '[]', '{}', now(), 'COMPLETED') RETURNING id",
                who.id,
            )
            at = base - timedelta(hours=i // 2)  # pairs share a moment: the id breaks the tie
            oid = await db.fetchval(
                "INSERT INTO orders (number, user_id, checkout_session_id, subtotal, total, shipping_address,"
                " created_at) VALUES ($1, $2, $3, 100, 100, $5, $4) RETURNING id",
                f"T-{i}-{who.id}",
                who.id,
                session,
                at,
                ADDRESS,
            )
            await record_payment(db, oid)
            if who is customer:
                mine.append((at, oid))
    expected = [oid for _, oid in sorted(mine, reverse=True)]
    await _walk_both_ways(api, ORDERS, "orders", customer.token, expected, size)
    error = await api.error(ORDERS, {"last": 101}, token=customer.token)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize("size", [2, 5])
async def test_audit_log_both_ways(api: Any, db: Any, make_user: Any, size: int) -> None:
    admin = await make_user("ADMIN")
    base = datetime(2026, 3, 1, tzinfo=UTC)
    entries = []
    for i in range(11):
        at = base - timedelta(minutes=i // 3)
        eid = await db.fetchval(
            "INSERT INTO audit_entries (action, target_type, target_id, at) VALUES ('test.paged', 'T', $1, $2)"
            " RETURNING id",
            str(i),
            at,
        )
        entries.append((at, eid))
    expected = [eid for _, eid in sorted(entries, reverse=True)]
    await _walk_both_ways(api, AUDIT, "auditLog", admin.token, expected, size)
    error = await api.error(AUDIT, {"last": 101}, token=admin.token)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
