"""A designer's figures: its sales that still count, and its commissions by status."""

from __future__ import annotations

from dataclasses import dataclass

from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import CommissionStatus
from kapda_gql.domain.lifecycles import NOT_LIVE
from kapda_gql.domain.policy import Actor, stats_designer
from kapda_gql.orders import store


@dataclass(frozen=True, slots=True)
class DesignerStats:
    orders_count: int
    units_sold: int
    gross_sales: int
    commission_pending: int
    commission_earned: int
    commission_reversed: int


async def designer_stats(uow: UnitOfWork, actor: Actor, designer_id: int | None = None) -> DesignerStats:
    """A designer's own figures; an admin may ask for any designer's."""
    target = stats_designer(actor, designer_id)
    async with uow.orm(read=True) as tx:
        orders_count, units, gross = await store.designer_sales(tx, target, leaving_out=NOT_LIVE)
        by_status, reversed_total = await store.commissions_by_status(tx, target)
    return DesignerStats(
        orders_count=orders_count,
        units_sold=units,
        gross_sales=gross,
        commission_pending=by_status.get(CommissionStatus.PENDING.value, 0),
        commission_earned=by_status.get(CommissionStatus.EARNED.value, 0),
        commission_reversed=reversed_total,
    )
