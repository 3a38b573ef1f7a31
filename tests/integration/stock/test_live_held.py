"""The fresh-snapshot count of a variant's holds (migration 0009) is the sellable-stock rule's own
sum (domain/stock.py ``HELD_SQL``), whatever holds there are."""

from __future__ import annotations

from typing import Any

import asyncpg

from kapda_gql.domain.stock import held_after_lock_sql, held_sql


async def test_the_count_after_a_lock_is_the_rules_sum_for_live_lapsed_and_no_holds(
    make_user: Any, make_product: Any, db: asyncpg.Connection
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id,
        price=49900,
        variants=[
            ("LIVE-1", "M", None, 9, None),
            ("LIVE-2", "L", None, 9, None),
            ("LIVE-3", "S", None, 9, None),
        ],
    )
    first, second, untouched = product["variant_ids"]
    customers = [await make_user() for _ in range(3)]
    # (variant, quantity, seconds to expiry): live holds, lapsed ones (not swept yet), one at the edge.
    holds = [(first, 2, 600), (first, 3, -1), (second, 1, 600), (second, 4, 0.5), (first, 1, -600)]
    compare = (
        f"SELECT v.id, {held_after_lock_sql('v')} AS fresh, {held_sql('v')} AS rule"
        " FROM variants v WHERE v.id = ANY($1::bigint[]) ORDER BY v.id"
    )
    # Written and compared in one transaction, then rolled back: the ledger never sees them.
    transaction = db.transaction()
    await transaction.start()
    try:
        for i, (vid, quantity, seconds) in enumerate(holds):
            session = await db.fetchval(
                "INSERT INTO checkout_sessions (id, user_id, amount, currency, lines, price_adjustments,"
                " shipping_address, status, expires_at) VALUES (gen_random_uuid(), $1, 100, 'INR', '[]',"
                " '[]', '{}', 'FAILED', now()) RETURNING id",
                customers[i % 3].id,
            )
            await db.execute(
                "INSERT INTO stock_holds (session_id, variant_id, quantity, expires_at)"
                " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                session,
                vid,
                quantity,
                float(seconds),
            )
        rows = [tuple(r) for r in await db.fetch(compare, [first, second, untouched])]
    finally:
        await transaction.rollback()
    assert [fresh for _, fresh, _ in rows] == [rule for _, _, rule in rows]
    # Only live holds count: 2 of the first's three (3 and 1 lapsed), both of the second's.
    assert [fresh for _, fresh, _ in rows] == [2, 5, 0]
