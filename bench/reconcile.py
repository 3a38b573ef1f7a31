"""`kapda-gql reconcile` over a year of orders: how long the checks take at this machine's scale.

The year is generated with set-based SQL (a few statements, each over every row at once): 50
designers, 500 products of 5 variants (each with its INITIAL movement), 5,000 customers, and per
order a COMPLETED checkout session, the order, 2-3 lines of 1-2 units, their commissions, the
captured payment, and per line a HOLD and a SALE movement whose `stock_after` is the running
on-hand figure; 2 % of the orders are cancelled and refunded in full (a PROCESSED refund, the
payment REFUNDED). Created times are spread over the last 365 days (ending a day ago).

Then `kapda_gql.reconcile.checks.run` (what `kapda-gql reconcile --no-razorpay` runs) over it,
timed, twice (the second with the pages cached). The Razorpay check asks the sandbox about each
payment of its window: `sample` orders, their payments made in the sandbox, are the only ones in
the window (created now), as `--since` bounds it in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench import seed
from bench.common import JWT_SECRET, Sandbox, http_client
from kapda_gql.config import Settings
from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.reconcile import checks

DESIGNERS = 50
PRODUCTS = 500
VARIANTS_PER_PRODUCT = 5
CUSTOMERS = 5000
INITIAL_STOCK = 100_000
REFUNDED_EVERY = 50  # one order in 50 is cancelled and refunded

# Every order's lines: 2 or 3 distinct variants (the order number picks them), 1 or 2 units each.
LINES = """
CREATE TEMP TABLE year_lines AS
SELECT g, k, v.id AS variant_id, p.id AS product_id, p.designer_id, p.title, v.sku, v.size, v.color,
       p.price AS unit_price, 1 + ((g + k) % 2) AS quantity, p.price * (1 + ((g + k) % 2)) AS line_total,
       now() - interval '1 day' - (g::float / $1 * interval '365 days') AS at
FROM generate_series(1, $1) AS g
CROSS JOIN LATERAL generate_series(1, 2 + g % 2) AS k
JOIN LATERAL (SELECT ($2::bigint[])[1 + ((g * 7 + k * 131) % array_length($2::bigint[], 1))] AS id) AS pick ON true
JOIN variants v ON v.id = pick.id JOIN products p ON p.id = v.product_id
"""
SESSIONS = """
INSERT INTO checkout_sessions (id, user_id, razorpay_order_id, amount, currency, lines, price_adjustments,
                               shipping_address, status, expires_at, created_at)
SELECT md5('year' || t.g)::uuid, ($1::bigint[])[1 + t.g % array_length($1::bigint[], 1)],
       'order_year' || lpad(t.g::text, 10, '0'), t.total, 'INR', '[]'::jsonb, '[]'::jsonb, $2::jsonb, 'COMPLETED',
       t.at + interval '15 minutes', t.at
FROM (SELECT g, sum(line_total) AS total, min(at) AS at FROM year_lines GROUP BY g) AS t
"""
ORDERS = """
INSERT INTO orders (number, user_id, checkout_session_id, status, payment_status, subtotal, total, currency,
                    shipping_address, price_adjustments, created_at, updated_at)
SELECT 'KC-YEAR-' || right(s.razorpay_order_id, 10), s.user_id, s.id,
       CASE WHEN right(s.razorpay_order_id, 10)::bigint % $1 = 0 THEN 'CANCELED' ELSE 'DELIVERED' END,
       CASE WHEN right(s.razorpay_order_id, 10)::bigint % $1 = 0 THEN 'REFUNDED' ELSE 'CAPTURED' END,
       s.amount, s.amount, 'INR', s.shipping_address, '[]'::jsonb, s.created_at, s.created_at
FROM checkout_sessions s WHERE s.razorpay_order_id LIKE 'order_year%'
"""
ITEMS = """
WITH items AS (
    INSERT INTO order_items (order_id, variant_id, product_id, designer_id, product_title, sku, size, color,
                             unit_price, quantity, line_total, canceled_quantity, refunded_amount)
    SELECT o.id, l.variant_id, l.product_id, l.designer_id, l.title, l.sku, l.size, l.color, l.unit_price,
           l.quantity, l.line_total,
           -- a whole-order cancel closes every unit, refunded at its charged price (orders/store.py)
           CASE o.status WHEN 'CANCELED' THEN l.quantity ELSE 0 END,
           CASE o.status WHEN 'CANCELED' THEN l.line_total ELSE 0 END
    FROM year_lines l JOIN orders o ON o.number = 'KC-YEAR-' || lpad(l.g::text, 10, '0')
    RETURNING id, order_id, designer_id, line_total
)
INSERT INTO commissions (order_item_id, order_id, designer_id, rate_bps, amount, status, reversed_amount)
SELECT items.id, items.order_id, items.designer_id, d.commission_rate_bps,
       (items.line_total * d.commission_rate_bps + 5000) / 10000,
       CASE o.status WHEN 'CANCELED' THEN 'REVERSED' ELSE 'EARNED' END,
       CASE o.status WHEN 'CANCELED' THEN (items.line_total * d.commission_rate_bps + 5000) / 10000 ELSE 0 END
FROM items JOIN designers d ON d.id = items.designer_id JOIN orders o ON o.id = items.order_id
"""
PAYMENTS = """
INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id, amount, currency,
                      status, refunded_amount, created_at, updated_at)
SELECT 'pay_year' || right(o.number, 10), s.razorpay_order_id, s.id, o.id, o.total, 'INR',
       CASE WHEN o.payment_status = 'REFUNDED' THEN 'REFUNDED' ELSE 'CAPTURED' END,
       CASE WHEN o.payment_status = 'REFUNDED' THEN o.total ELSE 0 END, o.created_at, o.created_at
FROM orders o JOIN checkout_sessions s ON s.id = o.checkout_session_id WHERE o.number LIKE 'KC-YEAR-%'
"""
REFUNDS = """
INSERT INTO refunds (payment_id, order_id, amount, currency, reason, idempotency_key, status, razorpay_refund_id,
                     created_at, processed_at)
SELECT p.id, p.order_id, p.amount, 'INR', 'ORDER_CANCELLED', 'year-' || p.id, 'PROCESSED',
       'rfnd_year' || p.id, p.created_at + interval '1 day', p.created_at + interval '1 day'
FROM payments p WHERE p.status = 'REFUNDED' AND p.razorpay_payment_id LIKE 'pay_year%'
"""
# A HOLD then a SALE per line, in time order per variant; stock_after = the running on hand.
MOVEMENTS = """
INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, order_id, checkout_session_id,
                             actor_id, at)
SELECT m.variant_id, m.reason, m.delta, m.held_delta,
       $1 + sum(m.delta) OVER (PARTITION BY m.variant_id ORDER BY m.at, m.g, m.step),
       m.order_id, m.session_id, m.user_id, m.at
FROM (
    SELECT l.variant_id, r.reason, r.step, l.g, o.id AS order_id, o.checkout_session_id AS session_id,
           o.user_id, l.at + r.step * interval '1 minute' AS at,
           CASE r.step WHEN 0 THEN 0 ELSE -l.quantity END AS delta,
           CASE r.step WHEN 0 THEN l.quantity ELSE -l.quantity END AS held_delta
    FROM year_lines l JOIN orders o ON o.number = 'KC-YEAR-' || lpad(l.g::text, 10, '0')
    CROSS JOIN (VALUES (0, 'HOLD'), (1, 'SALE')) AS r(step, reason)
) AS m
ORDER BY m.variant_id, m.at, m.g, m.step
"""
STOCK = """
UPDATE variants v SET stock = v.stock - s.sold
FROM (SELECT variant_id, sum(quantity) AS sold FROM year_lines GROUP BY variant_id) AS s
WHERE v.id = s.variant_id
"""


@dataclass
class Result:
    steps: list[tuple[str, int, float, int | None]] = field(default_factory=list)

    def rows(self) -> list[list[Any]]:
        return [[s, f"{n:,}" if n else "", f"{t:.2f}", "" if d is None else d] for s, n, t, d in self.steps]

    def summary(self) -> str:
        by = {s: (n, t, d) for s, n, t, d in self.steps}
        parts = [f"{k}: {by[k][1]:.2f} s ({by[k][2]} disagreements)" for k in by if k.startswith("reconcile")]
        return "summary: " + "; ".join(parts)

    def json(self) -> list[dict[str, Any]]:
        return [
            {"step": s, "rows": n, "seconds": round(t, 3), "disagreements": d} for s, n, t, d in self.steps
        ]


async def _timed(result: Result, name: str, conn: asyncpg.Connection, sql: str, *args: Any) -> None:
    t0 = time.perf_counter()
    status = await conn.execute(sql, *args)
    rows = int(status.split()[-1]) if status.split()[-1].isdigit() else 0
    result.steps.append((name, rows, time.perf_counter() - t0, None))


async def generate(url: str, orders: int, result: Result) -> None:
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        tag = f"year-{uuid.uuid4().hex[:6]}"
        studios = await seed.designers(conn, [f"Year Studio {i}" for i in range(DESIGNERS)], tag)
        specs = [
            seed.ProductSpec(
                studios[p % DESIGNERS],
                f"Year kurta {p}",
                "A year of sales",
                "Bench",
                49900 + 1000 * (p % 50),
                [(f"{tag}-{p}-{s}", s, "Indigo", INITIAL_STOCK) for s in seed.SIZES[:VARIANTS_PER_PRODUCT]],
            )
            for p in range(PRODUCTS)
        ]
        variants = [v.id for v in await seed.products(conn, specs)]
        owners = await conn.fetch(
            "INSERT INTO users (email, password_hash, name, role, status) "
            "SELECT $1 || '-' || g || '@bench.example', $2, 'Year Customer', 'CUSTOMER', 'ACTIVE' "
            "FROM generate_series(1, $3) AS g RETURNING id",
            tag,
            seed.PASSWORD_HASH,
            CUSTOMERS,
        )
        result.steps.append(
            ("catalog and customers", len(variants) + CUSTOMERS, time.perf_counter() - t0, None)
        )
        customers = [int(r[0]) for r in owners]
        await _timed(result, "order lines (temp table)", conn, LINES, orders, variants)
        await conn.execute("ANALYZE year_lines")
        address = json.dumps({**seed.ADDRESS, "country": "IN", "line2": None})
        await _timed(result, "checkout sessions", conn, SESSIONS, customers, address)
        await _timed(result, "orders", conn, ORDERS, REFUNDED_EVERY)
        await conn.execute("ANALYZE orders")
        await _timed(result, "order items + commissions", conn, ITEMS)
        await _timed(result, "payments", conn, PAYMENTS)
        await _timed(result, "refunds", conn, REFUNDS)
        await _timed(result, "stock movements (HOLD + SALE)", conn, MOVEMENTS, INITIAL_STOCK)
        await _timed(result, "variants' stock", conn, STOCK)
        await conn.execute("DROP TABLE year_lines")
        await conn.execute("VACUUM ANALYZE")
        result.steps.append(("generated in all", 0, time.perf_counter() - t0, None))
    finally:
        await conn.close()


async def razorpay_sample(url: str, sandbox: Sandbox, sample: int) -> None:
    """The `sample` newest orders get payments that exist in the sandbox, created now: the only
    payments in the Razorpay check's window."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT p.id, p.amount FROM payments p WHERE p.status = 'CAPTURED' ORDER BY p.created_at DESC LIMIT $1",
            sample,
        )
        gateway = _gateway(url, sandbox)
        try:
            made: list[tuple[int, str, str]] = []
            async with http_client(sandbox.url) as pay:
                for pid, amount in rows:
                    order = await gateway.create_order(
                        amount=int(amount), currency="INR", receipt=f"year-{pid}"
                    )
                    proof = (await pay.post(f"/sandbox/orders/{order.id}/pay", json={})).json()
                    made.append((int(pid), order.id, proof["razorpay_payment_id"]))
        finally:
            gateway.close()
        await conn.executemany(
            "UPDATE payments SET razorpay_order_id = $2, razorpay_payment_id = $3, created_at = now() WHERE id = $1",
            made,
        )
    finally:
        await conn.close()


def _gateway(url: str, sandbox: Sandbox) -> PaymentGateway:
    """The gateway `kapda-gql reconcile` builds, with the sandbox's keys (the settings' defaults)."""
    settings = Settings(database_url=url, jwt_secret=JWT_SECRET, razorpay_base_url=sandbox.url)
    return PaymentGateway(
        key_id=settings.razorpay_key_id,
        key_secret=settings.razorpay_key_secret,
        webhook_secret=settings.razorpay_webhook_secret,
        base_url=settings.razorpay_base_url,
        timeout=settings.razorpay_timeout_seconds,
    )


async def run(url: str, sandbox: Sandbox, orders: int, sample: int) -> Result:
    result = Result()
    await generate(url, orders, result)
    async with asyncpg.create_pool(url, min_size=1, max_size=1) as pool:
        counts = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items),"
            " (SELECT count(*) FROM payments), (SELECT count(*) FROM stock_movements)"
        )
    result.steps.append(
        (
            f"in all: {counts[0]:,} orders, {counts[1]:,} lines, {counts[2]:,} payments, movements",
            counts[3],
            0.0,
            None,
        )
    )
    for attempt in ("first", "second"):
        r = await checks.run(url)
        result.steps.append((f"reconcile --no-razorpay ({attempt} run)", 0, r.seconds, r.disagreements))
    # The command itself, as an operator runs it: a new process, its imports, the table printed.
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("kapda-gql")),
        "reconcile",
        "--no-razorpay",
        env={
            **os.environ,
            "KAPDA_DATABASE_URL": url,
            "KAPDA_ENV": "development",
            "KAPDA_JWT_SECRET": JWT_SECRET,
        },
        stdout=asyncio.subprocess.DEVNULL,
    )
    code = await proc.wait()
    result.steps.append(
        (f"`kapda-gql reconcile --no-razorpay` process (exit {code})", 0, time.perf_counter() - t0, None)
    )
    # The Razorpay window starts now: payments the bench made earlier in this database (the raw
    # baselines' invented ids, which the sandbox never saw) fall before it.
    conn = await asyncpg.connect(url)
    try:
        since: datetime = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    t0 = time.perf_counter()
    await razorpay_sample(url, sandbox, sample)
    result.steps.append(
        (f"setup: {sample} payments made in the sandbox", sample, time.perf_counter() - t0, None)
    )
    gateway = _gateway(url, sandbox)
    try:
        r = await checks.run(url, gateway, since=since)
    finally:
        gateway.close()
    result.steps.append((f"reconcile with Razorpay ({sample} payments asked)", 0, r.seconds, r.disagreements))
    # The Razorpay part alone: one paged refunds request per payment of the window, as the check asks.
    conn = await asyncpg.connect(url)
    try:
        window = [
            x[0]
            for x in await conn.fetch(
                "SELECT razorpay_payment_id FROM payments WHERE created_at >= $1", since
            )
        ]
    finally:
        await conn.close()
    gateway = _gateway(url, sandbox)
    try:
        t0 = time.perf_counter()
        for payment in window:
            await gateway.payment_refunds(payment)
        asked = time.perf_counter() - t0
    finally:
        gateway.close()
    result.steps.append(
        (f"  of which Razorpay: {len(window)} refund lists asked one after another", len(window), asked, None)
    )
    for name, rows in r.rows.items():
        if rows:
            result.steps.append((f"  {name} disagreement, e.g. {rows[0]}", len(rows), 0.0, None))
    return result
