"""Orders: reading them (with who-sees-what from the policy), batch loads for DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select

from kapda_gql.db.models import OrderItem, OrderStatusChange, User
from kapda_gql.db.uow import UnitOfWork

__all__ = ["OrderItem", "OrderStatusChange", "history_by_order_ids", "items_by_order_ids", "users_by_ids"]


async def users_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[User | None]:
    async with uow:
        rows = (await uow.session.execute(select(User).where(User.id.in_(ids)))).scalars().all()
    by_id = {u.id: u for u in rows}
    return [by_id.get(i) for i in ids]


async def items_by_order_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[OrderItem]]:
    stmt = select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.order_id, OrderItem.id)
    async with uow:
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
    async with uow:
        rows = (await uow.session.execute(stmt)).scalars().all()
    grouped: dict[int, list[OrderStatusChange]] = defaultdict(list)
    for change in rows:
        grouped[change.order_id].append(change)
    return [grouped.get(i, []) for i in ids]
