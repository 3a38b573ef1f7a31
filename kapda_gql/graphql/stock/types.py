"""Stock types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from kapda_gql.domain.ledger import StockReason
from kapda_gql.graphql.common import PageInfo
from kapda_gql.stock.store import MovementRow

# The domain enum is the GraphQL enum (as graphql/common.py does for the others).
strawberry.enum(StockReason, name="StockReason")


@strawberry.type(description="One change of a variant's stock: delta and stockAfter count units on hand.")
class StockMovement:
    id: strawberry.ID
    delta: int = strawberry.field(
        description="Change of units on hand (stock + held); 0 for HOLD and RELEASE."
    )
    held_delta: int = strawberry.field(description="Change of units held by open checkouts.")
    reason: StockReason
    stock_after: int = strawberry.field(description="Units on hand after this movement.")
    at: datetime
    order_number: str | None
    note: str | None

    @classmethod
    def of(cls, row: MovementRow) -> StockMovement:
        return cls(
            id=strawberry.ID(str(row.id)),
            delta=row.delta,
            held_delta=row.held_delta,
            reason=StockReason(row.reason),
            stock_after=row.stock_after,
            at=row.at,
            order_number=row.order_number,
            note=row.note,
        )


@strawberry.type
class StockMovementEdge:
    cursor: str
    node: StockMovement


@strawberry.type
class StockMovementConnection:
    edges: list[StockMovementEdge]
    page_info: PageInfo
