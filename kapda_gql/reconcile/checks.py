# ruff: noqa: S608 (every statement here is this module's fixed text)
"""Every reconcile check: what it compares, as one read-only statement each.

A check's rows are its disagreements (none: it agrees). All of them run in one snapshot
(REPEATABLE READ, READ ONLY): a live service keeps running, and the checks see one moment.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.base import PGDialect

from kapda_gql.domain import lifecycles
from kapda_gql.domain.enums import CommissionStatus, OrderStatus
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
)

# designerStats for every designer, by the very statement the API runs (orders/stats.py), its only
# parameters the fixed statuses it is built with, rendered into the text.
_DESIGNER_FIGURES = str(
    stats.figures().compile(
        dialect=PGDialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
)
# Every order line with its order's status and its commission, summed up in Python (_lines_sum) by
# the line's own designer: nothing of the statement above is shared but the tables.
_LINES = """SELECT i.designer_id, i.order_id, o.status, i.unit_price, i.quantity,
                   i.canceled_quantity, i.returned_quantity, i.line_total,
                   c.amount, c.reversed_amount
            FROM order_items i JOIN orders o ON o.id = i.order_id
            LEFT JOIN commissions c ON c.order_item_id = i.id"""
FIGURES = (
    "ordersCount",
    "unitsSold",
    "grossSales",
    "commissionPending",
    "commissionEarned",
    "commissionReversed",
)
DESIGNER_STATS = Check(
    "designers.stats",
    "every designer's designerStats equal the sum of their order lines and their commissions",
    _DESIGNER_FIGURES,
)


def _lines_sum(lines: Sequence[tuple[Any, ...]]) -> dict[int, tuple[int, ...]]:
    """Each designer's figures from their lines alone: an order counts while a line of theirs in it
    has an open unit, units and sales are the open ones of orders still live, and each commission
    stands where its line's state puts it (reversed once nothing of the line is open or the order no
    longer lives, earned once the order is delivered, pending before)."""
    orders: dict[int, set[int]] = defaultdict(set)
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for (
        designer,
        order,
        status,
        unit_price,
        quantity,
        canceled,
        returned,
        line_total,
        amount,
        reversed_,
    ) in lines:
        live = OrderStatus(status) not in NOT_LIVE
        open_units = lifecycles.open_units(quantity, canceled, returned)
        units, gross, pending, earned, taken_back = sums[designer]
        if live:
            units += open_units
            gross += line_total - unit_price * (canceled + returned)
            if open_units > 0:
                orders[designer].add(order)
        if amount is not None:
            if not live or open_units == 0:
                standing_in = CommissionStatus.REVERSED
            elif OrderStatus(status) is OrderStatus.DELIVERED:
                standing_in = CommissionStatus.EARNED
            else:
                standing_in = CommissionStatus.PENDING
            pending += amount - reversed_ if standing_in is CommissionStatus.PENDING else 0
            earned += amount - reversed_ if standing_in is CommissionStatus.EARNED else 0
            taken_back += reversed_
        sums[designer] = [units, gross, pending, earned, taken_back]
    return {d: (len(orders[d]), *figures) for d, figures in sums.items()}


def _designer_disagreements(
    reported: Sequence[tuple[Any, ...]], lines: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """(designer, figure, designerStats says, the lines say) for every figure that differs."""
    summed = _lines_sum(lines)
    found: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    for designer, *figures in reported:
        seen.add(designer)
        expected = summed.get(designer, (0,) * len(FIGURES))
        found.extend(
            (designer, name, int(got), want)
            for name, got, want in zip(FIGURES, figures, expected, strict=True)
            if int(got) != want
        )
    found.extend((designer, "designer missing", None, None) for designer in sorted(set(summed) - seen))
    return found


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
            result.what[DESIGNER_STATS.name] = DESIGNER_STATS.what
            result.rows[DESIGNER_STATS.name] = _designer_disagreements(
                [tuple(r) for r in await conn.fetch(DESIGNER_STATS.sql)],
                [tuple(r) for r in await conn.fetch(_LINES)],
            )
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
