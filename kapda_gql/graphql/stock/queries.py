"""Stock queries: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.core.pagination import window
from kapda_gql.graphql.common import PageInfo, parse_id
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.stock.types import StockMovement, StockMovementConnection, StockMovementEdge
from kapda_gql.stock import service


@strawberry.type
class StockQuery:
    @strawberry.field(description="A variant's stock movements, newest first: its designer, or an admin.")
    async def stock_movements(
        self,
        info: Info,
        variant_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> StockMovementConnection:
        if last is not None or before is not None:
            first = None  # the default page size applies forward only
        page = await service.variant_movements(
            info.context.uow(),
            info.context.actor,
            parse_id(variant_id, "variantId"),
            window(first=first, after=after, last=last, before=before, default=50),
        )
        return StockMovementConnection(
            edges=[
                StockMovementEdge(cursor=c, node=StockMovement.of(m))
                for m, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo.of(page),
        )
