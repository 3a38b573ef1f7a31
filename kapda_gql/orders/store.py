"""All SQL of orders, as SQLAlchemy Core on the unit's ORM session (named binds, no SQL text)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, exists, func, insert, literal, select, update

from kapda_gql.core.pagination import Keyset, Page, Window, encode_cursor, page_of
from kapda_gql.db.models import (
    Commission,
    Designer,
    Order,
    OrderItem,
    OrderStatusChange,
    Payment,
    Product,
    Refund,
    StockMovement,
    User,
    Variant,
)
from kapda_gql.db.uow import OrmUnit
from kapda_gql.domain.enums import CommissionStatus, OrderStatus
from kapda_gql.domain.ledger import StockReason

# --- batch loads -----------------------------------------------------------------------------


async def users(tx: OrmUnit, ids: Sequence[int]) -> dict[int, User]:
    rows = (await tx.session.execute(select(User).where(User.id.in_(ids)))).scalars().all()
    return {u.id: u for u in rows}


async def items_of(tx: OrmUnit, order_ids: Sequence[int]) -> dict[int, list[OrderItem]]:
    stmt = (
        select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.order_id, OrderItem.id)
    )
    grouped: dict[int, list[OrderItem]] = defaultdict(list)
    for item in (await tx.session.execute(stmt)).scalars().all():
        grouped[item.order_id].append(item)
    return grouped


async def item_ids_of(tx: OrmUnit, order_ids: Sequence[int]) -> dict[int, list[int]]:
    stmt = (
        select(OrderItem.order_id, OrderItem.id)
        .where(OrderItem.order_id.in_(order_ids))
        .order_by(OrderItem.order_id, OrderItem.id)
    )
    grouped: dict[int, list[int]] = defaultdict(list)
    for order_id, item_id in (await tx.session.execute(stmt)).all():
        grouped[int(order_id)].append(int(item_id))
    return grouped


async def history_of(tx: OrmUnit, order_ids: Sequence[int]) -> dict[int, list[OrderStatusChange]]:
    stmt = (
        select(OrderStatusChange)
        .where(OrderStatusChange.order_id.in_(order_ids))
        .order_by(OrderStatusChange.order_id, OrderStatusChange.id)
    )
    grouped: dict[int, list[OrderStatusChange]] = defaultdict(list)
    for change in (await tx.session.execute(stmt)).scalars().all():
        grouped[change.order_id].append(change)
    return grouped


# --- one order -------------------------------------------------------------------------------


async def order(tx: OrmUnit, order_id: int, *, lock: bool = False) -> Order | None:
    """The order; with ``lock`` its row is locked, which serializes racing transitions."""
    stmt = select(Order).where(Order.id == order_id)
    return await tx.session.scalar(stmt.with_for_update() if lock else stmt)


async def page(
    tx: OrmUnit, *, owner_id: int | None, status: OrderStatus | None, win: Window
) -> tuple[Page[Order], int]:
    """A page of orders newest first (forward or backward from its cursor), and the total count."""
    conditions: list[Any] = []
    if owner_id is not None:
        conditions.append(Order.user_id == owner_id)
    return await _page(tx, conditions, status, win)


async def designer_page(
    tx: OrmUnit, *, designer_id: int, status: OrderStatus | None, win: Window
) -> tuple[Page[Order], int]:
    """A page of the orders holding a line of the designer's, newest first, and their count."""
    holds = exists().where(OrderItem.order_id == Order.id, OrderItem.designer_id == designer_id)
    return await _page(tx, [holds], status, win)


async def _page(
    tx: OrmUnit, conditions: list[Any], status: OrderStatus | None, win: Window
) -> tuple[Page[Order], int]:
    if status is not None:
        conditions = [*conditions, Order.status == status.value]
    keys = Keyset((Order.created_at, Order.id), descending=True)
    stmt = select(Order).where(*conditions)
    cursor = win.decode([datetime, int])
    beyond = False
    if cursor is not None:
        stmt = stmt.where(keys.ahead(win, cursor))
        beyond = bool(
            await tx.session.scalar(
                select(exists().where(*conditions, keys.behind(win, cursor)).select_from(Order))
            )
        )
    rows = (await tx.session.execute(stmt.order_by(*keys.order_by(win)).limit(win.size + 1))).scalars()
    found = list(rows.all())
    total = int(await tx.session.scalar(select(func.count(Order.id)).where(*conditions)) or 0)
    page = page_of(
        found, win, item=lambda o: o, cursor=lambda o: encode_cursor(o.created_at, o.id), beyond_cursor=beyond
    )
    return page, total


async def designer_lines(
    tx: OrmUnit, order_ids: Sequence[int], designer_id: int
) -> dict[int, list[OrderItem]]:
    """The designer's own lines of these orders, by order (nobody else's)."""
    stmt = (
        select(OrderItem)
        .where(OrderItem.order_id.in_(order_ids), OrderItem.designer_id == designer_id)
        .order_by(OrderItem.order_id, OrderItem.id)
    )
    grouped: dict[int, list[OrderItem]] = defaultdict(list)
    for item in (await tx.session.execute(stmt)).scalars().all():
        grouped[item.order_id].append(item)
    return grouped


async def designer_commissions(
    tx: OrmUnit, order_ids: Sequence[int], designer_id: int
) -> dict[int, tuple[int, int]]:
    """The designer's commission on each of these orders: (what stands, what was reversed), whole
    reversed rows and the reversed parts of rows whose units were cancelled or returned alike."""
    rows = await tx.session.execute(
        select(
            Commission.order_id,
            func.coalesce(func.sum(Commission.amount - Commission.reversed_amount), 0),
            func.coalesce(func.sum(Commission.reversed_amount), 0),
        )
        .where(Commission.order_id.in_(order_ids), Commission.designer_id == designer_id)
        .group_by(Commission.order_id)
    )
    return {int(order_id): (int(standing), int(taken)) for order_id, standing, taken in rows.all()}


# --- transitions -----------------------------------------------------------------------------


_OPEN_UNITS = OrderItem.quantity - OrderItem.canceled_quantity - OrderItem.returned_quantity


async def restock(tx: OrmUnit, order_id: int, actor_id: int | None) -> dict[int, int]:
    """Every open unit of the order back on its variant's shelf (variants locked by ascending id),
    each variant's units a CANCEL_RESTOCK movement written by the same statement (kapda_gql.stock);
    units already cancelled or returned on their own are not counted again."""
    wanted = (
        select(OrderItem.variant_id.label("id"), func.sum(_OPEN_UNITS).label("q"))
        .where(OrderItem.order_id == order_id, OrderItem.variant_id.is_not(None), _OPEN_UNITS > 0)
        .group_by(OrderItem.variant_id)
        .cte("wanted")
    )
    # NO KEY UPDATE: the lock order's last step, compatible with order_items' foreign-key KEY SHARE.
    locked = (
        select(Variant.id)
        .join(wanted, wanted.c.id == Variant.id)
        .order_by(Variant.id)
        .with_for_update(of=Variant, key_share=True)
        .cte("locked")
    )
    changed = (
        update(Variant)
        .values(stock=Variant.stock + wanted.c.q)
        .where(Variant.id == wanted.c.id, locked.c.id == wanted.c.id)
        .returning(Variant.id, wanted.c.q, Variant.stock)
        .cte("changed")
    )
    moved = (
        insert(StockMovement)
        .from_select(
            ["variant_id", "reason", "delta", "held_delta", "stock_after", "order_id", "actor_id"],
            select(
                changed.c.id,
                literal(StockReason.CANCEL_RESTOCK.value),
                changed.c.q,
                literal(0),
                changed.c.stock,
                literal(order_id, BigInteger),
                literal(actor_id, BigInteger),
            ),
        )
        .cte("moved")
    )
    stmt = select(changed.c.id, changed.c.q).add_cte(moved)
    rows = await tx.session.execute(stmt)
    return {int(vid): int(q) for vid, q in rows.all()}


async def move_commissions(
    tx: OrmUnit, order_id: int, *, to: CommissionStatus, from_: Collection[CommissionStatus], at: datetime
) -> int:
    """The order's commissions in ``from_`` moved to ``to``; how many moved. Reversed, a
    commission is reversed whole (what was left of it after line changes)."""
    values: dict[str, Any] = {"status": to.value, "updated_at": at}
    if to is CommissionStatus.REVERSED:
        values["reversed_amount"] = Commission.amount
    result = await tx.session.execute(
        update(Commission)
        .where(Commission.order_id == order_id, Commission.status.in_([s.value for s in from_]))
        .values(**values)
        .returning(Commission.id)
    )
    return len(result.all())


async def close_open_units(tx: OrmUnit, order_id: int, *, returned: bool, refunded: bool) -> int:
    """A whole-order cancel or refund closes every unit still open on its lines (as cancelled, or
    as returned), refunded at its charged price when the payment is refunded; how many units."""
    opened = _OPEN_UNITS
    values: dict[str, Any] = (
        {"returned_quantity": OrderItem.returned_quantity + opened}
        if returned
        else {"canceled_quantity": OrderItem.canceled_quantity + opened}
    )
    if refunded:
        values["refunded_amount"] = OrderItem.refunded_amount + OrderItem.unit_price * opened
    rows = await tx.session.execute(
        update(OrderItem)
        .where(OrderItem.order_id == order_id, opened > 0)
        .values(**values)
        .returning(OrderItem.id),
        execution_options={"synchronize_session": False},
    )
    return len(rows.all())


# --- line changes ----------------------------------------------------------------------------


async def lines_with_commissions(tx: OrmUnit, order_id: int) -> list[tuple[OrderItem, Commission | None]]:
    """The order's lines (in id order) with their commissions (read under the order's lock)."""
    rows = await tx.session.execute(
        select(OrderItem, Commission)
        .outerjoin(Commission, Commission.order_item_id == OrderItem.id)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.id)
    )
    return [(item, commission) for item, commission in rows.all()]


async def close_units(
    tx: OrmUnit, item_id: int, *, canceled: int = 0, returned: int = 0, refunded: int = 0
) -> None:
    """Units of one line cancelled or returned, and what of it was refunded."""
    await tx.session.execute(
        update(OrderItem)
        .where(OrderItem.id == item_id)
        .values(
            canceled_quantity=OrderItem.canceled_quantity + canceled,
            returned_quantity=OrderItem.returned_quantity + returned,
            refunded_amount=OrderItem.refunded_amount + refunded,
        ),
        execution_options={"synchronize_session": False},
    )


async def reverse_commission(
    tx: OrmUnit, commission_id: int, *, reversed_amount: int, status: CommissionStatus, at: datetime
) -> None:
    await tx.session.execute(
        update(Commission)
        .where(Commission.id == commission_id)
        .values(reversed_amount=reversed_amount, status=status.value, updated_at=at),
        execution_options={"synchronize_session": False},
    )


async def add_stock(tx: OrmUnit, units: Mapping[int, int]) -> dict[int, int]:
    """Units back on their variants' shelves (the caller locked the variants in id order first);
    each variant's stock after."""
    after: dict[int, int] = {}
    for variant_id in sorted(units):
        after[variant_id] = int(
            await tx.session.scalar(
                update(Variant)
                .where(Variant.id == variant_id)
                .values(stock=Variant.stock + units[variant_id])
                .returning(Variant.stock),
                execution_options={"synchronize_session": False},
            )
            or 0
        )
    return after


async def refunds_of(tx: OrmUnit, order_ids: Sequence[int]) -> dict[int, list[Refund]]:
    stmt = select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.order_id, Refund.id)
    grouped: dict[int, list[Refund]] = defaultdict(list)
    for refund in (await tx.session.execute(stmt)).scalars().all():
        if refund.order_id is not None:
            grouped[refund.order_id].append(refund)
    return grouped


async def locked_payment(tx: OrmUnit, order_id: int) -> Payment | None:
    return await tx.session.scalar(select(Payment).where(Payment.order_id == order_id).with_for_update())


async def set_order(tx: OrmUnit, order_id: int, values: dict[str, Any]) -> None:
    await tx.session.execute(update(Order).where(Order.id == order_id).values(**values))


async def add_history(
    tx: OrmUnit,
    *,
    order_id: int,
    from_status: OrderStatus,
    to_status: OrderStatus,
    actor_id: int | None,
    note: str | None,
) -> None:
    await tx.session.execute(
        insert(OrderStatusChange).values(
            order_id=order_id,
            from_status=from_status.value,
            to_status=to_status.value,
            actor_id=actor_id,
            note=note,
        )
    )


# --- reorder ---------------------------------------------------------------------------------


async def lines_with_variants(
    tx: OrmUnit, order_id: int
) -> list[tuple[OrderItem, Variant | None, Product | None]]:
    """The order's lines with what is left of their variants and products (None when gone)."""
    rows = await tx.session.execute(
        select(OrderItem, Variant, Product)
        .outerjoin(Variant, Variant.id == OrderItem.variant_id)
        .outerjoin(Product, Product.id == Variant.product_id)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.id)
    )
    return [(item, v, p) for item, v, p in rows.all()]


# --- designer figures ------------------------------------------------------------------------


def designer_figures(
    designer_id: int | None, *, leaving_out: Collection[OrderStatus]
) -> Select[*tuple[Any, ...]]:
    """Per designer (one, or every designer with ``None``): ``(designer_id, orders, units, gross,
    pending, earned, reversed)``, one statement that the API runs for ``designerStats`` and
    ``kapda-gql reconcile`` runs for every designer against the sum of their lines.

    Sales leave out orders in ``leaving_out`` and units cancelled or returned on their own; an order
    counts for a designer while at least one of its lines of theirs has an open unit (an order whose
    lines of theirs were all cancelled or returned is no sale of theirs, whatever its other lines).
    Commissions: what stands of each row by its status, and all that was taken back (whole rows, and
    the parts of rows whose units were cancelled or returned)."""
    sales = (
        select(
            OrderItem.designer_id.label("designer_id"),
            func.count(func.distinct(OrderItem.order_id)).filter(_OPEN_UNITS > 0).label("orders"),
            func.sum(_OPEN_UNITS).label("units"),
            func.sum(OrderItem.unit_price * _OPEN_UNITS).label("gross"),
        )
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.status.not_in([s.value for s in leaving_out]))
        .group_by(OrderItem.designer_id)
    )
    standing = Commission.amount - Commission.reversed_amount
    commissions = select(
        Commission.designer_id.label("designer_id"),
        func.sum(standing).filter(Commission.status == CommissionStatus.PENDING.value).label("pending"),
        func.sum(standing).filter(Commission.status == CommissionStatus.EARNED.value).label("earned"),
        func.sum(Commission.reversed_amount).label("reversed"),
    ).group_by(Commission.designer_id)
    if designer_id is not None:
        sales = sales.where(OrderItem.designer_id == designer_id)
        commissions = commissions.where(Commission.designer_id == designer_id)
    s, c = sales.subquery("sales"), commissions.subquery("commissions")
    figures = (
        select(
            Designer.id.label("designer_id"),
            func.coalesce(s.c.orders, 0).label("orders_count"),
            func.coalesce(s.c.units, 0).label("units_sold"),
            func.coalesce(s.c.gross, 0).label("gross_sales"),
            func.coalesce(c.c.pending, 0).label("commission_pending"),
            func.coalesce(c.c.earned, 0).label("commission_earned"),
            func.coalesce(c.c.reversed, 0).label("commission_reversed"),
        )
        .select_from(Designer)
        .outerjoin(s, s.c.designer_id == Designer.id)
        .outerjoin(c, c.c.designer_id == Designer.id)
        .order_by(Designer.id)
    )
    return figures if designer_id is None else figures.where(Designer.id == designer_id)


async def designer_figures_of(
    tx: OrmUnit, designer_id: int, *, leaving_out: Collection[OrderStatus]
) -> tuple[int, int, int, int, int, int]:
    """``designer_figures`` of one designer (zeros for a designer with no sales or no row)."""
    row = (await tx.session.execute(designer_figures(designer_id, leaving_out=leaving_out))).first()
    if row is None:
        return (0, 0, 0, 0, 0, 0)
    _, orders, units, gross, pending, earned, reversed_total = (int(v) for v in row)
    return orders, units, gross, pending, earned, reversed_total
