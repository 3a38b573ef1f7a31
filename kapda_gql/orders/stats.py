"""A designer's figures: its sales that still count, and its commissions by status.

``figures`` is the statement behind them, for one designer or all: ``kapda-gql reconcile`` runs
the same one and compares it with the sum of each designer's lines (reconcile/checks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from kapda_gql.db.uow import UnitOfWork
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
        figures = await store.designer_figures_of(tx, target, leaving_out=NOT_LIVE)
    return DesignerStats(*figures)


def figures(designer_id: int | None = None) -> Select[*tuple[Any, ...]]:
    """The statement ``designer_stats`` runs, with its rules (which orders count): every designer's
    rows with ``None``, as ``(designer_id, *DesignerStats)``."""
    return store.designer_figures(designer_id, leaving_out=NOT_LIVE)
