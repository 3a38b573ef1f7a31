"""Orders queries: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.core.pagination import window
from kapda_gql.domain import enums
from kapda_gql.graphql.common import Long, Money, OrderStatus, PageInfo, parse_id, parse_optional_id
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.orders.types import (
    DesignerOrder,
    DesignerOrderConnection,
    DesignerOrderEdge,
    DesignerStats,
    Order,
    OrderConnection,
    OrderEdge,
)
from kapda_gql.orders import services as orders


@strawberry.type
class OrdersQuery:
    @strawberry.field(description="Your own orders, newest first; admins see every order.")
    async def orders(
        self,
        info: Info,
        status: OrderStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> OrderConnection:
        page, total = await orders.list_orders(
            info.context.uow(),
            info.context.actor,
            status=enums.OrderStatus(status) if status is not None else None,
            win=window(first=first, after=after, last=last, before=before),
        )
        return OrderConnection(
            edges=[
                OrderEdge(cursor=c, node=Order.of(o)) for o, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo.of(page),
            total_count=total,
        )

    @strawberry.field(description="Its customer or an admin; anyone else (a designer too): NOT_FOUND.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        return Order.of(await orders.get_order(info.context.uow(), info.context.actor, parse_id(id, "id")))

    @strawberry.field(
        description="Designers: the orders holding their items (own lines and figures only); "
        "admins: the named designer's. Newest first, pages both ways."
    )
    async def designer_orders(
        self,
        info: Info,
        designer_id: strawberry.ID | None = None,
        status: OrderStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DesignerOrderConnection:
        page, total = await orders.designer_orders(
            info.context.uow(),
            info.context.actor,
            parse_optional_id(designer_id, "designerId"),
            status=enums.OrderStatus(status) if status is not None else None,
            win=window(first=first, after=after, last=last, before=before),
        )
        return DesignerOrderConnection(
            edges=[
                DesignerOrderEdge(cursor=c, node=DesignerOrder.of(sale))
                for sale, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo.of(page),
            total_count=total,
        )

    @strawberry.field(description="Designers: their own sales and commissions; admins: any designer's.")
    async def designer_stats(self, info: Info, designer_id: strawberry.ID | None = None) -> DesignerStats:
        stats = await orders.designer_stats(
            info.context.uow(), info.context.actor, parse_optional_id(designer_id, "designerId")
        )
        return DesignerStats(
            orders_count=stats.orders_count,
            units_sold=Long(stats.units_sold),
            gross_sales=Money.of(stats.gross_sales),
            commission_pending=Money.of(stats.commission_pending),
            commission_earned=Money.of(stats.commission_earned),
            commission_reversed=Money.of(stats.commission_reversed),
        )
