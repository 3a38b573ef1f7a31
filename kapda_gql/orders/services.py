"""Orders after checkout: reading them, the lifecycle with its side effects, reorder, designer stats.

The transition table is data, here and nowhere else. Who may make a transition
is decided by ``policy.check_transition``. Side effects happen in the same
transaction as the status change (stock back, commissions, refund intent);
the refund itself is carried out at Razorpay after commit, from the outbox.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, insert, select, text, update

from kapda_gql.cart import services as cart
from kapda_gql.core import audit
from kapda_gql.core.pagination import Keyset, Page, Window, encode_cursor, page_of
from kapda_gql.db.models import (
    Cart,
    CartLine,
    Commission,
    Order,
    OrderItem,
    OrderStatusChange,
    Payment,
    Product,
    User,
    Variant,
)
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import CommissionStatus, OrderStatus, PaymentStatus, ProductStatus
from kapda_gql.domain.errors import BadUserInput, Forbidden, InsufficientStock, InvalidTransition, NotFound
from kapda_gql.domain.policy import Actor, can_see_order, check_transition, require_user
from kapda_gql.payments import refunds
from kapda_gql.payments.gateway import PaymentGateway

__all__ = ["TRANSITIONS", "OrderItem", "OrderStatusChange"]

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PROCESSING, OrderStatus.CANCELED}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}
_ORDER = list(OrderStatus)
TIMESTAMP_OF = {
    OrderStatus.PROCESSING: "processing_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at",
    OrderStatus.CANCELED: "canceled_at",
    OrderStatus.REFUNDED: "refunded_at",
}
RESTOCK_FROM = frozenset({OrderStatus.PENDING, OrderStatus.PROCESSING})
COMMISSION_AFTER = {
    OrderStatus.DELIVERED: CommissionStatus.EARNED,
    OrderStatus.CANCELED: CommissionStatus.REVERSED,
    OrderStatus.REFUNDED: CommissionStatus.REVERSED,
}
# Earned on delivery from pending; a refund after delivery takes back what was earned too.
COMMISSION_FROM = {
    CommissionStatus.EARNED: (CommissionStatus.PENDING.value,),
    CommissionStatus.REVERSED: (CommissionStatus.PENDING.value, CommissionStatus.EARNED.value),
}
PAID = frozenset({PaymentStatus.CAPTURED.value, PaymentStatus.PARTIALLY_REFUNDED.value})


def allowed_next(current: OrderStatus) -> list[OrderStatus]:
    return sorted(TRANSITIONS[current], key=_ORDER.index)


# --- batch loads for DataLoaders ---------------------------------------------------------------


async def users_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[User | None]:
    async with uow.read():
        rows = (await uow.session.execute(select(User).where(User.id.in_(ids)))).scalars().all()
    by_id = {u.id: u for u in rows}
    return [by_id.get(i) for i in ids]


async def items_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[OrderItem]]:
    stmt = select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.order_id, OrderItem.id)
    async with uow.read():
        rows = (await uow.session.execute(stmt)).scalars().all()
    grouped: dict[int, list[OrderItem]] = defaultdict(list)
    for item in rows:
        grouped[item.order_id].append(item)
    return [grouped.get(i, []) for i in ids]


async def history_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[OrderStatusChange]]:
    stmt = (
        select(OrderStatusChange)
        .where(OrderStatusChange.order_id.in_(ids))
        .order_by(OrderStatusChange.order_id, OrderStatusChange.id)
    )
    async with uow.read():
        rows = (await uow.session.execute(stmt)).scalars().all()
    grouped: dict[int, list[OrderStatusChange]] = defaultdict(list)
    for change in rows:
        grouped[change.order_id].append(change)
    return [grouped.get(i, []) for i in ids]


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisibleOrder:
    order: Order
    # Set when the caller sees the order only as one of its designers: it sees its own lines only.
    only_designer: int | None = None


async def get_order(uow: UnitOfWork, actor: Actor, order_id: int) -> VisibleOrder:
    """Another customer's order reveals nothing: it is NOT_FOUND exactly like a missing one."""
    require_user(actor)
    async with uow.read():
        order = await uow.session.get(Order, order_id)
        designers: frozenset[int] = frozenset()
        if order is not None and actor.is_designer and order.user_id != actor.user_id:
            designers = frozenset(
                (
                    await uow.session.execute(
                        select(OrderItem.designer_id).where(OrderItem.order_id == order_id)
                    )
                )
                .scalars()
                .all()
            )
    if order is None or not can_see_order(actor, owner_id=order.user_id, designer_ids=designers):
        raise NotFound("Order not found")
    as_designer = not actor.is_admin and order.user_id != actor.user_id
    return VisibleOrder(order, actor.designer_id if as_designer else None)


async def list_orders(
    uow: UnitOfWork, actor: Actor, *, status: OrderStatus | None, win: Window
) -> tuple[Page[Order], int]:
    """Own orders; admins see all. Newest first, a page forward or backward."""
    user_id = require_user(actor)
    conditions = [] if actor.is_admin else [Order.user_id == user_id]
    if status is not None:
        conditions.append(Order.status == status.value)
    keys = Keyset((Order.created_at, Order.id), descending=True)
    stmt = select(Order, Order.created_at, Order.id).where(*conditions)
    cursor = win.decode([datetime, int])
    beyond = False
    async with uow.orm(read=True) as tx:
        if cursor is not None:
            stmt = stmt.where(keys.ahead(win, cursor))
            beyond = bool(
                await tx.session.scalar(select(exists().where(*conditions, keys.behind(win, cursor))))
            )
        rows = (await tx.session.execute(stmt.order_by(*keys.order_by(win)).limit(win.size + 1))).all()
        total = int(await tx.session.scalar(select(func.count(Order.id)).where(*conditions)) or 0)
    page = page_of(
        rows, win, item=lambda r: r[0], cursor=lambda r: encode_cursor(r[1], r[2]), beyond_cursor=beyond
    )
    return page, total


# --- lifecycle -----------------------------------------------------------------------------------


_RESTOCK = text(
    """
    WITH wanted AS (
        SELECT variant_id AS id, sum(quantity) AS q FROM order_items
        WHERE order_id = :order_id AND variant_id IS NOT NULL GROUP BY variant_id
    ), locked AS (
        SELECT v.id FROM variants v JOIN wanted w ON w.id = v.id ORDER BY v.id FOR NO KEY UPDATE OF v
    )
    UPDATE variants v SET stock = v.stock + w.q FROM wanted w, locked l
    WHERE v.id = w.id AND l.id = w.id
    RETURNING v.id, w.q
    """
)


async def transition_order(
    uow: UnitOfWork, gateway: PaymentGateway, actor: Actor, order_id: int, to: OrderStatus, note: str | None
) -> Order:
    require_user(actor) if not actor.system else None
    note = (note or "").strip() or None
    if note is not None and len(note) > 1000:
        raise BadUserInput("note", "must be at most 1000 characters")

    async def work(uow: UnitOfWork) -> tuple[Order, list[int]]:
        s = uow.session
        # The order row lock serializes racing transitions: the loser sees the winner's state.
        order = await s.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise NotFound("Order not found")
        if not actor.is_admin and order.user_id != actor.user_id:
            designers = frozenset(
                (await s.execute(select(OrderItem.designer_id).where(OrderItem.order_id == order_id)))
                .scalars()
                .all()
            )
            if not can_see_order(actor, owner_id=order.user_id, designer_ids=designers):
                raise NotFound("Order not found")
        current = OrderStatus(order.status)
        if to not in TRANSITIONS[current]:
            raise InvalidTransition(
                f"An order that is {current.value} cannot become {to.value}",
                **{"from": current.value, "to": to.value},
                allowed=[s.value for s in allowed_next(current)],
            )
        check_transition(actor, owner_id=order.user_id, current=current, target=to)
        now = datetime.now(UTC)
        changes: dict[str, Any] = {"status": {"from": current.value, "to": to.value}}
        values: dict[str, Any] = {"status": to.value, "updated_at": now, TIMESTAMP_OF[to]: now}
        refund_ids: list[int] = []
        if to is OrderStatus.CANCELED and current in RESTOCK_FROM:
            restocked = (await s.execute(_RESTOCK, {"order_id": order_id})).all()
            changes["restocked"] = {str(vid): int(q) for vid, q in restocked}
        if to in COMMISSION_AFTER:
            target = COMMISSION_AFTER[to]
            result = await s.execute(
                update(Commission)
                .where(Commission.order_id == order_id, Commission.status.in_(COMMISSION_FROM[target]))
                .values(status=target.value, updated_at=now)
                .returning(Commission.id)
            )
            changes["commissions"] = {"to": target.value, "count": len(result.all())}
        if to in (OrderStatus.CANCELED, OrderStatus.REFUNDED) and order.payment_status in PAID:
            payment = await s.scalar(select(Payment).where(Payment.order_id == order_id).with_for_update())
            if payment is not None and payment.amount > payment.refunded_amount:
                amount = payment.amount - payment.refunded_amount
                refund_ids.append(
                    await refunds.request_refund(
                        uow,
                        actor,
                        payment_id=payment.id,
                        order_id=order_id,
                        amount=amount,
                        currency=payment.currency,
                        reason=f"order_{to.value.lower()}",
                    )
                )
                values["payment_status"] = PaymentStatus.REFUND_PENDING.value
                changes["refund"] = {"amount": amount}
        await s.execute(update(Order).where(Order.id == order_id).values(**values))
        await s.execute(
            insert(OrderStatusChange).values(
                order_id=order_id,
                from_status=current.value,
                to_status=to.value,
                actor_id=actor.user_id,
                note=note,
            )
        )
        if note:
            changes["note"] = note
        action = {OrderStatus.CANCELED: "order.cancelled", OrderStatus.REFUNDED: "order.refunded"}.get(
            to, "order.transitioned"
        )
        await audit.record(uow, actor, action, "Order", order_id, changes)
        await uow.commit()
        return order, refund_ids

    _, refund_ids = await uow.run(work)
    for refund_id in refund_ids:
        # After commit, outside any transaction; if this process dies here the outbox worker retries.
        await refunds.process_refund(uow, gateway, refund_id)
    async with uow:
        fresh = await uow.session.get(Order, order_id)
    assert fresh is not None
    return fresh


# --- reorder -------------------------------------------------------------------------------------


class UnavailableReason(StrEnum):
    PRODUCT_REMOVED = "PRODUCT_REMOVED"
    NOT_APPROVED = "NOT_APPROVED"
    OUT_OF_STOCK = "OUT_OF_STOCK"


@dataclass(frozen=True, slots=True)
class ReorderLine:
    variant: Variant
    product: Product
    requested_quantity: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ReorderUnavailable:
    product_title: str
    sku: str
    requested_quantity: int
    reason: UnavailableReason


@dataclass(frozen=True, slots=True)
class ReorderResult:
    available: list[ReorderLine]
    unavailable: list[ReorderUnavailable]
    cart: cart.CartView


async def reorder(uow: UnitOfWork, actor: Actor, order_id: int, *, add_to_cart: bool) -> ReorderResult:
    user_id = require_user(actor)
    async with uow.read():
        order = await uow.session.get(Order, order_id)
        if order is None or order.user_id != user_id:
            raise NotFound("Order not found")
        rows = (
            await uow.session.execute(
                select(OrderItem, Variant, Product)
                .outerjoin(Variant, Variant.id == OrderItem.variant_id)
                .outerjoin(Product, Product.id == Variant.product_id)
                .where(OrderItem.order_id == order_id)
                .order_by(OrderItem.id)
            )
        ).all()
        in_cart = dict(
            (
                await uow.session.execute(
                    select(CartLine.variant_id, CartLine.quantity)
                    .join(Cart, Cart.id == CartLine.cart_id)
                    .where(Cart.user_id == user_id)
                )
            ).all()
        )
    available: list[ReorderLine] = []
    unavailable: list[ReorderUnavailable] = []
    for item, variant, product in rows:
        reason: UnavailableReason | None = None
        if (
            variant is None
            or product is None
            or variant.deleted_at is not None
            or product.deleted_at is not None
        ):
            reason = UnavailableReason.PRODUCT_REMOVED
        elif product.status != ProductStatus.APPROVED.value:
            reason = UnavailableReason.NOT_APPROVED
        elif variant.stock <= 0:
            reason = UnavailableReason.OUT_OF_STOCK
        if reason is not None:
            unavailable.append(ReorderUnavailable(item.product_title, item.sku, item.quantity, reason))
            continue
        assert variant is not None and product is not None
        qty = min(item.quantity, variant.stock, cart.MAX_LINE_QUANTITY)
        available.append(ReorderLine(variant, product, item.quantity, qty))
    view: cart.CartView | None = None
    if add_to_cart:
        for line in available:
            room = min(line.variant.stock, cart.MAX_LINE_QUANTITY) - in_cart.get(line.variant.id, 0)
            if room <= 0:
                continue
            try:
                view = await cart.add_to_cart(uow, actor, line.variant.id, min(line.quantity, room))
            except InsufficientStock:
                continue  # stock moved since we looked: the line stays out of the cart, nothing half-done
    if view is None:
        view = await cart.get_cart(uow, actor)
    return ReorderResult(available, unavailable, view)


# --- designer stats ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesignerStats:
    orders_count: int
    units_sold: int
    gross_sales: int
    commission_pending: int
    commission_earned: int
    commission_reversed: int


_LIVE = (OrderStatus.CANCELED.value, OrderStatus.REFUNDED.value)


async def designer_stats(uow: UnitOfWork, actor: Actor, designer_id: int | None = None) -> DesignerStats:
    """A designer's own figures; an admin may ask for any designer's."""
    require_user(actor)
    target = designer_id if actor.is_admin and designer_id is not None else actor.designer_id
    if target is None:
        raise (
            Forbidden("Only designers have stats")
            if not actor.is_admin
            else BadUserInput("designerId", "admins must name a designer")
        )
    async with uow.read():
        sales = (
            await uow.session.execute(
                select(
                    func.count(func.distinct(OrderItem.order_id)),
                    func.coalesce(func.sum(OrderItem.quantity), 0),
                    func.coalesce(func.sum(OrderItem.line_total), 0),
                )
                .join(Order, Order.id == OrderItem.order_id)
                .where(OrderItem.designer_id == target, Order.status.not_in(_LIVE))
            )
        ).one()
        by_status = dict(
            (
                await uow.session.execute(
                    select(Commission.status, func.coalesce(func.sum(Commission.amount), 0))
                    .where(Commission.designer_id == target)
                    .group_by(Commission.status)
                )
            ).all()
        )
    return DesignerStats(
        orders_count=int(sales[0]),
        units_sold=int(sales[1]),
        gross_sales=int(sales[2]),
        commission_pending=int(by_status.get(CommissionStatus.PENDING.value, 0)),
        commission_earned=int(by_status.get(CommissionStatus.EARNED.value, 0)),
        commission_reversed=int(by_status.get(CommissionStatus.REVERSED.value, 0)),
    )
