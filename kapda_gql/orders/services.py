"""Orders after checkout: reading them, and the lifecycle with its side effects.

The lifecycle is data (``domain.lifecycles.ORDER`` and ``order_step``); who may make a move is
``policy.check_transition``. Side effects happen in the same transaction as the status change
(stock back, commissions, refund intent); the refund itself is carried out at Razorpay after
commit, from the outbox. Reorder and designer figures live in ``orders.reorder`` and
``orders.stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kapda_gql.core import audit
from kapda_gql.core.pagination import Page, Window
from kapda_gql.db.models import Order, OrderItem, OrderStatusChange, Refund, User
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain import lifecycles
from kapda_gql.domain.enums import OrderStatus, PaymentStatus
from kapda_gql.domain.errors import BadUserInput, NotFound
from kapda_gql.domain.policy import (
    Actor,
    can_see_order,
    check_transition,
    order_list_owner,
    require_user,
    sales_designer,
)
from kapda_gql.domain.validation import optional_note, tracking_problems
from kapda_gql.orders import store
from kapda_gql.orders.reorder import (
    ReorderLine,
    ReorderResult,
    ReorderUnavailable,
    UnavailableReason,
    reorder,
)
from kapda_gql.orders.stats import DesignerStats, designer_stats
from kapda_gql.payments import refunds
from kapda_gql.payments import store as payment_store
from kapda_gql.payments.gateway import PaymentGateway

__all__ = [
    "DesignerSale",
    "DesignerStats",
    "OrderItem",
    "OrderStatusChange",
    "Refund",
    "ReorderLine",
    "ReorderResult",
    "ReorderUnavailable",
    "UnavailableReason",
    "designer_stats",
    "reorder",
]


# --- batch loads for DataLoaders ---------------------------------------------------------------


async def users_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[User | None]:
    async with uow.orm(read=True) as tx:
        by_id = await store.users(tx, ids)
    return [by_id.get(i) for i in ids]


async def items_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[OrderItem]]:
    async with uow.orm(read=True) as tx:
        grouped = await store.items_of(tx, ids)
    return [grouped.get(i, []) for i in ids]


async def item_ids_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[int]]:
    """Each order's line ids in id order (the order lines were written in)."""
    async with uow.orm(read=True) as tx:
        grouped = await store.item_ids_of(tx, ids)
    return [grouped.get(i, []) for i in ids]


async def refunds_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[Refund]]:
    async with uow.orm(read=True) as tx:
        grouped = await store.refunds_of(tx, ids)
    return [grouped.get(i, []) for i in ids]


async def history_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[OrderStatusChange]]:
    async with uow.orm(read=True) as tx:
        grouped = await store.history_of(tx, ids)
    return [grouped.get(i, []) for i in ids]


# --- reading -------------------------------------------------------------------------------------


def _visible(actor: Actor, order: Order | None) -> Order:
    """The order if the caller may see it; NOT_FOUND exactly like a missing one otherwise."""
    if order is None or not can_see_order(actor, owner_id=order.user_id):
        raise NotFound("Order not found")
    return order


async def get_order(uow: UnitOfWork, actor: Actor, order_id: int) -> Order:
    require_user(actor)
    async with uow.orm(read=True) as tx:
        return _visible(actor, await store.order(tx, order_id))


async def list_orders(
    uow: UnitOfWork, actor: Actor, *, status: OrderStatus | None, win: Window
) -> tuple[Page[Order], int]:
    """Own orders; admins see all. Newest first, a page forward or backward."""
    owner_id = order_list_owner(actor)
    async with uow.orm(read=True) as tx:
        return await store.page(tx, owner_id=owner_id, status=status, win=win)


@dataclass(frozen=True, slots=True)
class DesignerSale:
    """A designer's view of an order: its own lines and figures, nothing of the customer."""

    order_id: int
    number: str
    status: OrderStatus
    created_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    items: list[OrderItem]
    commission: int
    commission_reversed: int
    currency: str

    @property
    def items_total(self) -> int:
        return sum(item.line_total for item in self.items)


async def designer_orders(
    uow: UnitOfWork, actor: Actor, designer_id: int | None, *, status: OrderStatus | None, win: Window
) -> tuple[Page[DesignerSale], int]:
    """The orders holding the designer's items, newest first: each with the designer's own lines,
    their total and its commission on them (reversed commissions left out)."""
    target = sales_designer(actor, designer_id)
    async with uow.orm(read=True) as tx:
        page, total = await store.designer_page(tx, designer_id=target, status=status, win=win)
        ids = [o.id for o in page.items]
        lines = await store.designer_lines(tx, ids, target) if ids else {}
        commissions = await store.designer_commissions(tx, ids, target) if ids else {}
    sales = [
        DesignerSale(
            order_id=o.id,
            number=o.number,
            status=OrderStatus(o.status),
            created_at=o.created_at,
            shipped_at=o.shipped_at,
            delivered_at=o.delivered_at,
            items=lines.get(o.id, []),
            commission=commissions.get(o.id, (0, 0))[0],
            commission_reversed=commissions.get(o.id, (0, 0))[1],
            currency=o.currency,
        )
        for o in page.items
    ]
    return Page(sales, page.cursors, page.has_next_page, page.has_previous_page), total


# --- lifecycle -----------------------------------------------------------------------------------


async def _request_refund(
    tx: OrmUnit, actor: Actor, order: Order, target: OrderStatus, changes: dict[str, Any]
) -> int | None:
    """A refund of what the payment still holds, recorded in this transaction (the outbox).

    After line cancels or returns, what is left is the capture less the refunds already asked for.
    """
    if PaymentStatus(order.payment_status) not in lifecycles.PAID:
        return None
    payment = await store.locked_payment(tx, order.id)
    if payment is None:
        return None
    amount = lifecycles.refundable(payment.amount, await payment_store.requested_total(tx, payment.id))
    if amount <= 0:
        return None
    changes["refund"] = {"amount": amount}
    # request_refund also moves the payment and the order to PAYMENT_WHILE_REFUNDING.
    return await refunds.request_refund(
        tx,
        actor,
        payment_id=payment.id,
        order_id=order.id,
        amount=amount,
        currency=payment.currency,
        reason=f"order_{target.value.lower()}",
    )


@dataclass(frozen=True, slots=True)
class TrackingInput:
    carrier: str
    number: str
    url: str | None = None


def _tracking_values(to: OrderStatus, tracking: TrackingInput | None) -> dict[str, Any]:
    """The order columns a move sets for the parcel's tracking: SHIPPED takes it, nothing else does."""
    if tracking is None:
        if to is OrderStatus.SHIPPED:
            raise BadUserInput("tracking", "is required to ship an order (carrier and number)")
        return {}
    if to is not OrderStatus.SHIPPED:
        raise BadUserInput("tracking", "goes only with SHIPPED")
    if problems := tracking_problems(tracking.carrier, tracking.number, tracking.url):
        raise BadUserInput(problems)
    url = (tracking.url or "").strip() or None
    return {
        "tracking_carrier": tracking.carrier.strip(),
        "tracking_number": tracking.number.strip(),
        "tracking_url": url,
    }


async def transition_order(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    order_id: int,
    to: OrderStatus,
    note: str | None,
    tracking: TrackingInput | None = None,
) -> Order:
    if not actor.system:
        require_user(actor)
    note = optional_note(note, "note")
    parcel = _tracking_values(to, tracking)

    async def work(tx: OrmUnit) -> list[int]:
        # The order row lock serializes racing transitions: the loser sees the winner's state.
        order = _visible(actor, await store.order(tx, order_id, lock=True))
        current = OrderStatus(order.status)
        check_transition(actor, owner_id=order.user_id, current=current, target=to)
        step = lifecycles.order_step(current, to)
        now = datetime.now(UTC)
        changes: dict[str, Any] = {"status": {"from": current.value, "to": to.value}}
        refund_ids: list[int] = []
        if step.restock:
            changes["restocked"] = {
                str(vid): q for vid, q in (await store.restock(tx, order_id, actor.user_id)).items()
            }
        if step.commission is not None:
            count = await store.move_commissions(
                tx, order_id, to=step.commission.to, from_=step.commission.from_, at=now
            )
            changes["commissions"] = {"to": step.commission.to.value, "count": count}
        if step.refund_if_paid:
            refund_id = await _request_refund(tx, actor, order, to, changes)
            if refund_id:
                refund_ids.append(refund_id)
            # The units still open close with the order: cancelled, or returned with a refund.
            closed = await store.close_open_units(
                tx,
                order_id,
                returned=to is OrderStatus.REFUNDED,
                refunded=PaymentStatus(order.payment_status) in lifecycles.PAID,
            )
            changes["closedUnits"] = closed
        if parcel:
            changes["tracking"] = {
                "carrier": parcel["tracking_carrier"],
                "number": parcel["tracking_number"],
                "url": parcel["tracking_url"],
            }
        stamped = {step.timestamp: now} if step.timestamp else {}
        await store.set_order(tx, order_id, {"status": to.value, "updated_at": now, **stamped, **parcel})
        await store.add_history(
            tx, order_id=order_id, from_status=current, to_status=to, actor_id=actor.user_id, note=note
        )
        if note:
            changes["note"] = note
        await audit.record(tx, actor, step.audit_action, "Order", order_id, changes)
        await tx.commit()
        return refund_ids

    for refund_id in await uow.run(work):
        # After commit, outside any transaction; if this process dies here the outbox worker retries.
        await refunds.process_refund(uow, gateway, refund_id)
    async with uow.orm() as tx:
        fresh = await store.order(tx, order_id)
    assert fresh is not None
    return fresh
