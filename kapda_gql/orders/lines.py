"""Part of an order: cancelling lines before shipment, returning them after delivery.

A change names lines and how many of their open units it closes. In one transaction, the order
row locked first (``core.locks``: order → payment → variants), it closes those units on their
lines, takes back their share of the designer's commission, puts them back on the shelf (always
for a cancel, on ``restock`` for a return), records the refund of their charged amount in the
outbox, and audits the change; closing the last open unit moves the order to CANCELED (a cancel)
or REFUNDED (a return). The refund is carried out at Razorpay after the commit, like every refund
(``payments.refunds``).

Where a change may happen and what it does is ``domain.lifecycles.LINE_CHANGES``; who may make
it is ``domain.policy.check_line_change``; the commission arithmetic is ``domain.pricing``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kapda_gql.core import audit, locks
from kapda_gql.db.models import Order
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain import lifecycles, pricing
from kapda_gql.domain.enums import CommissionStatus, OrderStatus, PaymentStatus
from kapda_gql.domain.errors import BadUserInput, NotFound
from kapda_gql.domain.lifecycles import LineChange
from kapda_gql.domain.policy import Actor, check_line_change, require_user
from kapda_gql.domain.validation import line_change_problems, optional_note
from kapda_gql.orders import store
from kapda_gql.payments import refunds
from kapda_gql.payments import store as payment_store
from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.stock import movements
from kapda_gql.stock.movements import Movement


@dataclass(frozen=True, slots=True)
class LineQuantity:
    order_item_id: int
    quantity: int


async def cancel_items(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    order_id: int,
    lines: Sequence[LineQuantity],
    note: str | None,
) -> Order:
    """Cancel units of an order's lines while it is PENDING or PROCESSING (its customer, an admin)."""
    return await _change(uow, gateway, actor, order_id, lines, note, LineChange.CANCEL, restock=True)


async def return_items(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    order_id: int,
    lines: Sequence[LineQuantity],
    note: str | None,
    *,
    restock: bool,
) -> Order:
    """Take back units of a DELIVERED order (admins, once the goods are back)."""
    return await _change(uow, gateway, actor, order_id, lines, note, LineChange.RETURN, restock=restock)


async def _change(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    actor: Actor,
    order_id: int,
    lines: Sequence[LineQuantity],
    note: str | None,
    change: LineChange,
    *,
    restock: bool,
) -> Order:
    require_user(actor)
    note = optional_note(note, "note")
    rule = lifecycles.LINE_CHANGES[change]

    async def work(tx: OrmUnit) -> int | None:
        order = await locks.order_model(tx, order_id)
        if order is None:
            raise NotFound("Order not found")
        current = OrderStatus(order.status)
        check_line_change(actor, owner_id=order.user_id, change=change)
        lifecycles.check_line_change(change, current)
        rows = await store.lines_with_commissions(tx, order_id)
        by_id = {item.id: (item, commission) for item, commission in rows}
        open_by_line = {
            item.id: lifecycles.open_units(item.quantity, item.canceled_quantity, item.returned_quantity)
            for item, _ in rows
        }
        if problems := line_change_problems(lines, open_by_line):
            raise BadUserInput(problems)

        now = datetime.now(UTC)
        amount = 0
        units: dict[int, int] = defaultdict(int)
        changed: list[dict[str, Any]] = []
        for line in lines:
            item, commission = by_id[line.order_item_id]
            refund = pricing.line_total(item.unit_price, line.quantity)
            amount += refund
            await store.close_units(
                tx,
                item.id,
                canceled=line.quantity if change is LineChange.CANCEL else 0,
                returned=line.quantity if change is LineChange.RETURN else 0,
                refunded=refund,
            )
            left = open_by_line[item.id] - line.quantity
            open_by_line[item.id] = left
            entry: dict[str, Any] = {"orderItemId": item.id, "quantity": line.quantity, "amount": refund}
            if commission is not None and commission.status != CommissionStatus.REVERSED:
                reversed_amount = pricing.commission_reversal(
                    amount=commission.amount,
                    unit_price=item.unit_price,
                    open_units=left,
                    rate_bps=commission.rate_bps,
                )
                status = CommissionStatus.REVERSED if left == 0 else CommissionStatus(commission.status)
                await store.reverse_commission(
                    tx, commission.id, reversed_amount=reversed_amount, status=status, at=now
                )
                entry["commissionReversed"] = reversed_amount - commission.reversed_amount
            if restock and item.variant_id is not None:
                units[item.variant_id] += line.quantity
            changed.append(entry)

        changes: dict[str, Any] = {"lines": changed}
        if units:
            await locks.variants(tx, sorted(units))
            stock_after = await store.add_stock(tx, units)
            await movements.record(
                tx,
                [
                    Movement(
                        variant_id=v,
                        reason=rule.restock_reason,
                        delta=q,
                        stock_after=stock_after[v],
                        order_id=order_id,
                        actor_id=actor.user_id,
                        note=note,
                    )
                    for v, q in sorted(units.items())
                ],
            )
            changes["restocked"] = {
                "reason": rule.restock_reason.value,
                "variants": {str(v): q for v, q in units.items()},
            }
            changes["stockAfter"] = {str(v): s for v, s in stock_after.items()}
        refund_id = await _request_refund(tx, actor, order, amount, rule.refund_reason, changes)

        closed = all(left == 0 for left in open_by_line.values())
        values: dict[str, Any] = {"updated_at": now}
        if closed:
            values["status"] = rule.closes_to.value
            stamp = lifecycles.ORDER_TIMESTAMP.get(rule.closes_to)
            if stamp is not None:
                values[stamp] = now
            await store.add_history(
                tx,
                order_id=order_id,
                from_status=current,
                to_status=rule.closes_to,
                actor_id=actor.user_id,
                note=note,
            )
            changes["status"] = {"from": current.value, "to": rule.closes_to.value}
        await store.set_order(tx, order_id, values)
        if note:
            changes["note"] = note
        await audit.record(tx, actor, rule.audit_action, "Order", order_id, changes)
        await tx.commit()
        return refund_id

    refund_id = await uow.run(work)
    if refund_id is not None:
        # After commit, outside any transaction; if this process dies here the outbox worker retries.
        await refunds.process_refund(uow, gateway, refund_id)
    async with uow.orm(read=True) as tx:
        fresh = await store.order(tx, order_id)
    assert fresh is not None
    return fresh


async def _request_refund(
    tx: OrmUnit, actor: Actor, order: Order, amount: int, reason: str, changes: dict[str, Any]
) -> int | None:
    """The refund of the closed units' charged amount, at most what the payment still holds."""
    if amount <= 0 or PaymentStatus(order.payment_status) not in lifecycles.PAID:
        return None
    payment = await locks.payment_model_of_order(tx, order.id)
    if payment is None:
        return None
    amount = min(
        amount, lifecycles.refundable(payment.amount, await payment_store.requested_total(tx, payment.id))
    )
    if amount <= 0:
        return None
    refund_id = await refunds.request_refund(
        tx,
        actor,
        payment_id=payment.id,
        order_id=order.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
    )
    changes["refund"] = {"amount": amount, "refundId": refund_id}
    return refund_id
