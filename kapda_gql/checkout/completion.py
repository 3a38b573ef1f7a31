"""Completion: turn a captured payment into exactly one order, and say what happened as a value.

Shared by the ``checkout`` mutation and the webhooks. The session row's ``UPDATE ... WHERE status =
'OPEN'`` decides who makes the one order; whoever loses finds the session closed elsewhere. The
order transaction takes its locks in the order ``kapda_gql.core.locks`` states — the session
first, then the payment, then the variants last, right before COMMIT, so the hot rows are held as
briefly as can be.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from kapda_gql.checkout import compensation, store
from kapda_gql.checkout.named import instance
from kapda_gql.checkout.quote import QuoteLine, shortage
from kapda_gql.checkout.results import Completion, OutOfStock, Placed, answer
from kapda_gql.core import idempotency, locks
from kapda_gql.db.models import Order, OrderItem, OrderStatusChange
from kapda_gql.db.sql import violated_constraint
from kapda_gql.db.uow import LeanUnit, UnitOfWork
from kapda_gql.domain.enums import OrderStatus
from kapda_gql.domain.errors import PaymentVerificationFailed
from kapda_gql.domain.policy import Actor
from kapda_gql.payments.gateway import GatewayPayment, PaymentGateway

PLACED_NOTE = "Order placed"
PlacedHook = Callable[[Order, list[OrderItem], list[OrderStatusChange]], None]


def order_number() -> str:
    # 64 random bits: 32 collided about once in 20,000 orders (the bench hit one), and a collision
    # after the payment was captured would fail the customer's checkout.
    return f"KC-{datetime.now(UTC):%y%m%d}-{secrets.token_hex(8).upper()}"


def written_items(order_id: int, lines: Sequence[QuoteLine]) -> list[OrderItem]:
    """The order's lines as the order statement inserted them (in the same, id, order)."""
    return [
        instance(
            OrderItem,
            {
                "order_id": order_id,
                "variant_id": x.variant_id,
                "product_id": x.product_id,
                "designer_id": x.designer_id,
                "product_title": x.title,
                "sku": x.sku,
                "size": x.size,
                "color": x.color,
                "unit_price": x.unit_price,
                "quantity": x.quantity,
                "line_total": x.line_total,
            },
        )
        for x in lines
    ]


_PENDING = OrderStatus.PENDING.value


def first_change(order_id: int, actor: Actor, at: datetime) -> OrderStatusChange:
    return instance(
        OrderStatusChange,
        {
            "order_id": order_id,
            "from_status": None,
            "to_status": _PENDING,
            "actor_id": actor.user_id,
            "note": PLACED_NOTE,
            "at": at,
        },
    )


async def _take_stock(tx: LeanUnit, lines: Sequence[QuoteLine], sale: store.Sale) -> list[dict[str, Any]]:
    """Sell every line's units, ending the session's holds (each a SALE movement); the lines the
    stock cannot cover (then nothing is taken).

    The variants are locked first, in the lock order, and the sale is checked in the NEXT
    statement: its snapshot then sees every hold committed by whoever held the lock before us (a
    statement that waited for a row lock keeps its older snapshot, and would miss them).
    """
    await locks.variants(tx, [x.variant_id for x in lines])
    short_of = await store.sell_held(tx, lines, sale)
    return [] if short_of is None else shortage(lines, short_of)


async def complete(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    session_id: uuid.UUID,
    payment: GatewayPayment,
    *,
    claim: idempotency.Claim | None = None,
) -> Completion:
    """Turn a captured payment into exactly one order; every payment that made none is refunded.

    ``Placed``: this call made the order. ``ClosedElsewhere``: someone else closed the session (its
    order, or the error it failed with). ``OutOfStock``: the stock no longer covered it; the session
    failed and the payment is refunded.
    """

    async def work(tx: LeanUnit) -> Placed | OutOfStock | None:
        # A lean unit: every statement here is plain SQL, and this is the checkout's hot path.
        closed = await store.close_session(tx, session_id)
        if closed is None:
            return None
        now = datetime.now(UTC)
        number = order_number()
        new = store.NewOrder(number, session_id, closed, payment, now, actor, PLACED_NOTE)
        order = await store.place_order(tx, new, claim, answer(number))
        # The contended rows last, then commit at once, so the hot-SKU lock is held as briefly as can be.
        short = await _take_stock(tx, closed.lines, store.Sale(order.id, session_id, actor.user_id))
        if short:
            return OutOfStock(short)  # never committed: the unit rolls the order back as it ends
        await tx.commit()
        return Placed(order, written_items(order.id, closed.lines), [first_change(order.id, actor, now)])

    try:
        result = await uow.run_lean(work)
    except IntegrityError as error:
        if violated_constraint(error) == store.PAYMENT_REUSED:
            # This payment already made an order (through another session row): never a second one.
            raise PaymentVerificationFailed("This payment was already used") from None
        raise
    if result is None:
        # The session was no longer open: see how it ended (it is not locked: it changes no more).
        return await compensation.closed_elsewhere(uow, gateway, actor, session_id, payment, claim)
    if isinstance(result, OutOfStock):
        return await compensation.fail_out_of_stock(uow, gateway, actor, session_id, payment, claim, result)
    return result
