# ruff: noqa: S608 (every statement here is this module's fixed text)
"""Every reconcile check: what it compares, as one read-only statement each.

A check's rows are its disagreements (none: it agrees). All of them run in one snapshot
(REPEATABLE READ, READ ONLY): a live service keeps running, and the checks see one moment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.base import PGDialect

from kapda_gql.domain.enums import OrderStatus
from kapda_gql.domain.lifecycles import NOT_LIVE
from kapda_gql.orders import stats
from kapda_gql.payments.gateway import PaymentGateway

# Units held now per variant, as the holds store them (0 until holds exist). The ledger's held
# figure (sum of held_delta) must equal it, lapsed-but-unswept holds included: a lapse is no movement.
HELD_NOW = "SELECT variant_id, sum(quantity)::bigint AS held FROM stock_holds GROUP BY variant_id"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    what: str  # one line: what agreeing means
    sql: str


# designerStats for every designer, by the very statement the API runs (orders/stats.py), its only
# parameters the fixed statuses it is built with, rendered into the text.
_REPORTED = str(
    stats.figures().compile(
        dialect=PGDialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
)
_NOT_LIVE = ", ".join(f"'{status.value}'" for status in sorted(NOT_LIVE))
# The same figures summed line by line, written apart from the API's statement: each line counts for
# its own designer (its commission too, whatever the commission row names), its open units are
# its total less the closed units at their price, an order counts while a line of the designer has
# an open unit, and a commission stands where its line's state puts it (reversed once nothing of the
# line is open or the order no longer lives, earned once the order is delivered, pending before).
_SUMMED = f"""SELECT i.designer_id,
           count(DISTINCT i.order_id) FILTER (WHERE x.live AND x.open > 0) AS orders_count,
           coalesce(sum(x.open) FILTER (WHERE x.live), 0) AS units_sold,
           coalesce(sum(i.line_total - i.unit_price * (i.canceled_quantity + i.returned_quantity))
                    FILTER (WHERE x.live), 0) AS gross_sales,
           coalesce(sum(c.amount - c.reversed_amount)
                    FILTER (WHERE x.live AND x.open > 0 AND o.status <> '{OrderStatus.DELIVERED.value}'), 0)
               AS commission_pending,
           coalesce(sum(c.amount - c.reversed_amount)
                    FILTER (WHERE x.live AND x.open > 0 AND o.status = '{OrderStatus.DELIVERED.value}'), 0)
               AS commission_earned,
           coalesce(sum(c.reversed_amount), 0) AS commission_reversed
    FROM order_items i JOIN orders o ON o.id = i.order_id
    LEFT JOIN commissions c ON c.order_item_id = i.id
    CROSS JOIN LATERAL (SELECT o.status NOT IN ({_NOT_LIVE}) AS live,
                               i.quantity - i.canceled_quantity - i.returned_quantity AS open) x
    GROUP BY i.designer_id"""
# (the API's name of each figure, its column in both statements)
FIGURES = (
    ("ordersCount", "orders_count"),
    ("unitsSold", "units_sold"),
    ("grossSales", "gross_sales"),
    ("commissionPending", "commission_pending"),
    ("commissionEarned", "commission_earned"),
    ("commissionReversed", "commission_reversed"),
)
_FIGURE_PAIRS = ", ".join(f"('{name}', r.{col}, coalesce(s.{col}, 0))" for name, col in FIGURES)
DESIGNER_STATS = Check(
    "designers.stats",
    "every designer's designerStats equal the sum of their order lines and their commissions",
    f"""WITH reported AS ({_REPORTED}), summed AS ({_SUMMED})
        SELECT coalesce(r.designer_id, s.designer_id) AS designer, v.figure, v.reported, v.summed
        FROM reported r FULL JOIN summed s ON s.designer_id = r.designer_id
        CROSS JOIN LATERAL (VALUES {_FIGURE_PAIRS}) AS v(figure, reported, summed)
        WHERE v.reported IS DISTINCT FROM v.summed
        ORDER BY 1, 2""",
)


CHECKS: tuple[Check, ...] = (
    Check(
        "stock.on_hand",
        "every variant's stock + held equals the sum of its movements",
        # variants.stock is on hand (held units included; Variant.stock = on hand less live holds).
        f"""WITH led AS (SELECT variant_id, sum(delta) AS on_hand, sum(held_delta) AS held
                         FROM stock_movements GROUP BY variant_id),
                  h AS ({HELD_NOW})
            SELECT v.id, v.sku, v.stock AS counted, coalesce(led.on_hand, 0) AS ledger
            FROM variants v LEFT JOIN led ON led.variant_id = v.id LEFT JOIN h ON h.variant_id = v.id
            WHERE v.stock <> coalesce(led.on_hand, 0) ORDER BY v.id""",
    ),
    Check(
        "stock.held",
        "every variant's held units equal its open sessions' holds (ledger's HOLD - RELEASE - SALE)",
        f"""WITH led AS (SELECT variant_id, sum(held_delta) AS held FROM stock_movements GROUP BY variant_id),
                  h AS ({HELD_NOW})
            SELECT v.id, v.sku, coalesce(h.held, 0) AS counted, coalesce(led.held, 0) AS ledger
            FROM variants v LEFT JOIN led ON led.variant_id = v.id LEFT JOIN h ON h.variant_id = v.id
            WHERE coalesce(h.held, 0) <> coalesce(led.held, 0) ORDER BY v.id""",
    ),
    Check(
        "stock.after",
        "every movement's stock_after is the running sum of its variant's deltas, never negative",
        """SELECT id, variant_id, stock_after, running FROM (
               SELECT id, variant_id, stock_after,
                      sum(delta) OVER (PARTITION BY variant_id ORDER BY id) AS running
               FROM stock_movements) m
           WHERE stock_after <> running OR running < 0 ORDER BY id""",
    ),
    Check(
        "money.captured",
        "every captured payment is exactly one order, or refunded in full",
        """SELECT p.razorpay_payment_id, p.status, p.amount,
                  coalesce((SELECT sum(r.amount) FROM refunds r
                            WHERE r.payment_id = p.id AND r.status <> 'FAILED'), 0) AS refunded
           FROM payments p
           WHERE p.status NOT IN ('AUTHORIZED', 'FAILED') AND p.order_id IS NULL
             AND coalesce((SELECT sum(r.amount) FROM refunds r
                           WHERE r.payment_id = p.id AND r.status <> 'FAILED'), 0) <> p.amount
           UNION ALL
           SELECT o.number, 'ORDER WITHOUT PAYMENT', o.total, 0 FROM orders o
           WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)""",
    ),
    Check(
        "money.refunds",
        "no payment's refunds exceed its capture",
        """SELECT p.razorpay_payment_id, p.amount, sum(r.amount) AS refunded
           FROM payments p JOIN refunds r ON r.payment_id = p.id AND r.status <> 'FAILED'
           GROUP BY p.id HAVING sum(r.amount) > p.amount""",
    ),
    Check(
        "commissions.rate",
        "every line's commission is its rate x its line total (rounded half up)",
        """SELECT c.id, i.sku, c.amount, (i.line_total * c.rate_bps + 5000) / 10000 AS expected
           FROM commissions c JOIN order_items i ON i.id = c.order_item_id
           WHERE c.amount <> (i.line_total * c.rate_bps + 5000) / 10000 ORDER BY c.id""",
    ),
    Check(
        "commissions.reversed",
        "every line's reversed commission is its commission less the commission on its open units",
        """SELECT c.id, i.sku, c.reversed_amount,
                  c.amount - (i.unit_price * (i.quantity - i.canceled_quantity - i.returned_quantity)
                              * c.rate_bps + 5000) / 10000 AS expected
           FROM commissions c JOIN order_items i ON i.id = c.order_item_id
           WHERE (i.canceled_quantity + i.returned_quantity > 0 OR c.reversed_amount > 0)
             AND c.reversed_amount <> c.amount - (i.unit_price * (i.quantity - i.canceled_quantity
                 - i.returned_quantity) * c.rate_bps + 5000) / 10000
           ORDER BY c.id""",
    ),
    DESIGNER_STATS,
)

_PROCESSED = """SELECT p.razorpay_payment_id, r.razorpay_refund_id, r.amount
                FROM refunds r JOIN payments p ON p.id = r.payment_id
                WHERE r.status = 'PROCESSED' AND r.razorpay_refund_id IS NOT NULL
                  AND ($1::timestamptz IS NULL OR r.created_at >= $1)"""
_OURS_REFUNDED = """SELECT p.razorpay_payment_id, p.amount,
                        coalesce(sum(r.amount) FILTER (WHERE r.status = 'PROCESSED'), 0) AS processed
                    FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id
                    WHERE p.status NOT IN ('AUTHORIZED', 'FAILED')
                      AND ($1::timestamptz IS NULL OR p.created_at >= $1)
                    GROUP BY p.id"""

# Informational, never a disagreement: refunds the outbox settled from a refund made outside the
# service (Razorpay's dashboard), as their audit entries mark them (payments/refunds.py).
OUTSIDE = Check(
    "money.outside",
    "note, not a disagreement: refunds settled from a refund made in Razorpay's dashboard",
    """SELECT p.razorpay_payment_id, r.id AS refund, r.status, r.amount, r.razorpay_refund_id
       FROM audit_entries a
       JOIN refunds r ON a.target_id = r.id::text
       JOIN payments p ON p.id = r.payment_id
       WHERE a.target_type = 'Refund' AND a.action IN ('refund.processed', 'refund.failed')
         AND (a.changes ->> 'outside')::boolean IS TRUE
         AND ($1::timestamptz IS NULL OR r.created_at >= $1)
       ORDER BY r.id""",
)


@dataclass
class Result:
    """Each check's disagreements (rows), in the order run; how long it took."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    what: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # informational only
    seconds: float = 0.0

    @property
    def disagreements(self) -> int:
        return sum(len(r) for r in self.rows.values())


async def run(url: str, gateway: PaymentGateway | None = None, *, since: datetime | None = None) -> Result:
    """Every check over the database at ``url``; with ``gateway``, also Razorpay's view of refunds."""
    started = time.perf_counter()
    result = Result()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for check in CHECKS:
                result.what[check.name] = check.what
                result.rows[check.name] = [tuple(r) for r in await conn.fetch(check.sql)]
            processed = [tuple(r) for r in await conn.fetch(_PROCESSED, since)]
            ours = [tuple(r) for r in await conn.fetch(_OURS_REFUNDED, since)]
            result.what[OUTSIDE.name] = OUTSIDE.what
            result.notes[OUTSIDE.name] = [tuple(r) for r in await conn.fetch(OUTSIDE.sql, since)]
    finally:
        await conn.close()
    if gateway is not None:
        await _razorpay(result, gateway, processed, ours)
    result.seconds = time.perf_counter() - started
    return result


async def _razorpay(
    result: Result,
    gateway: PaymentGateway,
    processed: Sequence[tuple[Any, ...]],
    ours: Sequence[tuple[Any, ...]],
) -> None:
    """Asks Razorpay (paged, per payment) for the refunds of every payment in the window."""
    name = "money.razorpay"
    result.what[name] = (
        "every refund we hold as processed is processed at Razorpay, and no more was refunded there"
    )
    found: list[tuple[Any, ...]] = []
    wanted = {payment for payment, _, _ in processed} | {payment for payment, _, _ in ours}
    theirs: dict[str, dict[str, tuple[str, int]]] = {}
    for payment in sorted(wanted):
        theirs[payment] = {r.id: (r.status, r.amount) for r in await gateway.payment_refunds(payment)}
    for payment, refund_id, amount in processed:
        status = theirs.get(payment, {}).get(refund_id)
        if status is None or status[0] != "processed" or status[1] != amount:
            found.append((payment, refund_id, amount, "missing" if status is None else status[0]))
    for payment, _amount, ours_processed in ours:
        there = sum(a for s, a in theirs.get(payment, {}).values() if s == "processed")
        if there > ours_processed:
            found.append((payment, "refunded outside the service", ours_processed, there))
    result.rows[name] = found
