"""Real concurrent checkouts over overlapping variants: no deadlock, no 500, stock never negative, and
every unit sold is accounted for (orders x quantity + stock left = stock at the start)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.support.assertions import code
from tests.support.flows import fill_cart, finish, gather_limited, make_customers, pay, set_on_hand, start


async def _paid_sessions(
    api: Any, sandbox: Any, db: Any, settings: Any, carts: list[list[tuple[int, int]]]
) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
    customers = await make_customers(db, settings, len(carts))
    for customer, lines in zip(customers, carts, strict=True):
        await fill_cart(db, customer.id, lines)
    sessions = await gather_limited(10, [start(api, c.token) for c in customers])
    payments = await gather_limited(10, [pay(sandbox.base_url, s["razorpayOrderId"]) for s in sessions])
    return list(zip(customers, sessions, payments, strict=True))


async def _sold(db: Any) -> dict[int, int]:
    rows = await db.fetch("SELECT variant_id, sum(quantity) AS q FROM order_items GROUP BY variant_id")
    return {r["variant_id"]: int(r["q"]) for r in rows}


async def test_opposite_cart_orders_never_deadlock(
    api: Any,
    make_user: Any,
    make_product: Any,
    sandbox: Any,
    db: Any,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id,
        price=49900,
        variants=[
            ("OV-A", "S", None, 1000, None),
            ("OV-B", "M", None, 1000, None),
            ("OV-C", "L", None, 1000, None),
        ],
    )
    a, b, c = product["variant_ids"]
    carts = []
    for i in range(30):
        lines = [(a, 1), (b, 2)] + ([(c, 1)] if i % 3 == 0 else [])
        carts.append(lines if i % 2 == 0 else lines[::-1])  # the same variants, added in the opposite order
    ready = await _paid_sessions(api, sandbox, db, settings, carts)
    initial = {a: 9, b: 40, c: 1000}
    for vid, units in initial.items():
        await set_on_hand(db, vid, units)
    # The holds lapsed (the payments are heard of late): each takes the stock again only if it is there.
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")

    with caplog.at_level(logging.WARNING, logger="kapda_gql.uow"):
        results = await asyncio.gather(*(finish(api, cu.token, s, p) for cu, s, p in ready))

    codes = [code(r) for r in results]
    assert set(codes) <= {None, "INSUFFICIENT_STOCK"}, codes
    # A limits: every cart holds one, and B (2 per cart) outlasts it.
    assert codes.count(None) == 9
    retries = [r.getMessage() for r in caplog.records if "retrying unit of work" in r.getMessage()]
    assert retries == []

    stock = {r["id"]: r["stock"] for r in await db.fetch("SELECT id, stock FROM variants")}
    assert all(v >= 0 for v in stock.values())
    sold = await _sold(db)
    for vid, start_stock in initial.items():
        assert sold.get(vid, 0) + stock[vid] == start_stock
    assert stock[a] == 0 and stock[b] == 40 - 18
    assert await db.fetchval("SELECT count(*) FROM orders") == 9
    assert await db.fetchval("SELECT count(*) FROM refunds WHERE status = 'PROCESSED'") == 21
    # The paid-and-ordered customers' carts are empty; the others keep theirs.
    assert await db.fetchval("SELECT count(DISTINCT cart_id) FROM cart_lines") == 21


async def test_many_overlapping_sets_keep_stock_consistent(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any, settings: Any
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id,
        price=19900,
        variants=[(f"MX-{i}", str(i), None, 1000, None) for i in range(5)],
    )
    vids = product["variant_ids"]
    carts = []
    for i in range(30):
        chosen = [vids[(i + k) % 5] for k in range(1 + i % 4)]
        lines = [(v, 1 + (i + j) % 3) for j, v in enumerate(chosen)]
        carts.append(lines if i % 2 else lines[::-1])
    ready = await _paid_sessions(api, sandbox, db, settings, carts)
    initial = dict(zip(vids, [7, 12, 5, 20, 9], strict=True))
    for vid, units in initial.items():
        await set_on_hand(db, vid, units)
    # The holds lapsed (the payments are heard of late): each takes the stock again only if it is there.
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")

    results = await asyncio.gather(*(finish(api, cu.token, s, p) for cu, s, p in ready))
    codes = [code(r) for r in results]
    assert set(codes) <= {None, "INSUFFICIENT_STOCK"}, codes
    assert None in codes and "INSUFFICIENT_STOCK" in codes

    stock = {r["id"]: r["stock"] for r in await db.fetch("SELECT id, stock FROM variants")}
    sold = await _sold(db)
    for vid, start_stock in initial.items():
        assert stock[vid] >= 0
        assert sold.get(vid, 0) + stock[vid] == start_stock
    # Each order holds exactly its cart: no partial orders.
    for (_, session, _), body in zip(ready, results, strict=True):
        if code(body) is None:
            order_id = int(body["data"]["checkout"]["id"])
            items = await db.fetch(
                "SELECT variant_id, quantity FROM order_items WHERE order_id = $1", order_id
            )
            assert sorted((r["variant_id"], r["quantity"]) for r in items) == sorted(
                (int(line["variantId"]), line["quantity"]) for line in session["lines"]
            )
    assert await db.fetchval("SELECT count(*) FROM orders") == codes.count(None)
    assert await db.fetchval("SELECT count(*) FROM refunds") == codes.count("INSUFFICIENT_STOCK")
