from __future__ import annotations

import strawberry

from kapda_gql.catalog.store import variant_row
from kapda_gql.core.pagination import window
from kapda_gql.domain import enums
from kapda_gql.graphql.cart.types import Cart
from kapda_gql.graphql.catalog.types import Variant
from kapda_gql.graphql.common import Long, Money, OrderStatus, PageInfo, parse_id, parse_optional_id
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.orders.types import (
    DesignerOrder,
    DesignerOrderConnection,
    DesignerOrderEdge,
    Order,
    OrderConnection,
    OrderEdge,
)
from kapda_gql.orders import lines as order_lines
from kapda_gql.orders import services as orders

strawberry.enum(orders.UnavailableReason, name="ReorderUnavailableReason")
ReorderReason = orders.UnavailableReason


@strawberry.input(description="The parcel of an order that ships.")
class TrackingInput:
    carrier: str
    number: str
    url: str | None = None


@strawberry.input
class TransitionOrderInput:
    order_id: strawberry.ID
    to: OrderStatus
    note: str | None = None
    tracking: TrackingInput | None = strawberry.field(
        default=None, description="With SHIPPED (and only then): the parcel's tracking."
    )


@strawberry.input
class OrderItemQuantity:
    order_item_id: strawberry.ID
    quantity: int


@strawberry.input
class OrderItemsInput:
    order_id: strawberry.ID
    lines: list[OrderItemQuantity]
    note: str | None = None


@strawberry.input
class ReturnOrderItemsInput:
    order_id: strawberry.ID
    lines: list[OrderItemQuantity]
    restock: bool
    note: str | None = None


def _lines(lines: list[OrderItemQuantity]) -> list[order_lines.LineQuantity]:
    return [
        order_lines.LineQuantity(parse_id(x.order_item_id, f"lines[{i}].orderItemId"), x.quantity)
        for i, x in enumerate(lines)
    ]


@strawberry.type
class ReorderLine:
    line: strawberry.Private[orders.ReorderLine]

    @strawberry.field
    def variant(self) -> Variant:
        return Variant.of(variant_row(self.line.variant), product_price=self.line.product.price)

    @strawberry.field
    def requested_quantity(self) -> int:
        return self.line.requested_quantity

    @strawberry.field(description="Cut to what is in stock now.")
    def quantity(self) -> int:
        return self.line.quantity


@strawberry.type
class ReorderUnavailable:
    product_title: str
    sku: str
    requested_quantity: int
    reason: ReorderReason


@strawberry.type
class ReorderPayload:
    available: list[ReorderLine]
    unavailable: list[ReorderUnavailable]
    cart: Cart


@strawberry.type
class DesignerStats:
    orders_count: int
    units_sold: Long
    gross_sales: Money
    commission_pending: Money
    commission_earned: Money
    commission_reversed: Money


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


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(
        description="Move an order through its lifecycle (see the transition table in API.md)."
    )
    async def transition_order(self, info: Info, input: TransitionOrderInput) -> Order:
        row = await orders.transition_order(
            info.context.uow(),
            info.context.runtime.gateway,
            info.context.actor,
            parse_id(input.order_id, "orderId"),
            enums.OrderStatus(input.to),
            input.note,
            orders.TrackingInput(input.tracking.carrier, input.tracking.number, input.tracking.url)
            if input.tracking is not None
            else None,
        )
        return Order.of(row)

    @strawberry.mutation(
        description="Cancel units of an order's lines while it is PENDING or PROCESSING: back to stock, "
        "their commission reversed, their amount refunded. Its customer or an admin."
    )
    async def cancel_order_items(self, info: Info, input: OrderItemsInput) -> Order:
        row = await order_lines.cancel_items(
            info.context.uow(),
            info.context.runtime.gateway,
            info.context.actor,
            parse_id(input.order_id, "orderId"),
            _lines(input.lines),
            input.note,
        )
        return Order.of(row)

    @strawberry.mutation(
        description="Record units of a DELIVERED order as returned: refunded, their commission reversed, "
        "back to stock with restock: true. Admins, once the goods are back."
    )
    async def return_order_items(self, info: Info, input: ReturnOrderItemsInput) -> Order:
        row = await order_lines.return_items(
            info.context.uow(),
            info.context.runtime.gateway,
            info.context.actor,
            parse_id(input.order_id, "orderId"),
            _lines(input.lines),
            input.note,
            restock=input.restock,
        )
        return Order.of(row)

    @strawberry.mutation(description="What of a past order can be bought again; addToCart adds those lines.")
    async def reorder(
        self, info: Info, order_id: strawberry.ID, add_to_cart: bool | None = False
    ) -> ReorderPayload:
        result = await orders.reorder(
            info.context.uow(),
            info.context.actor,
            parse_id(order_id, "orderId"),
            add_to_cart=bool(add_to_cart),
            price_ttl_seconds=info.context.runtime.settings.cart_price_ttl_seconds,
        )
        return ReorderPayload(
            available=[ReorderLine(line=x) for x in result.available],
            unavailable=[
                ReorderUnavailable(
                    product_title=x.product_title,
                    sku=x.sku,
                    requested_quantity=x.requested_quantity,
                    reason=x.reason,
                )
                for x in result.unavailable
            ],
            cart=Cart(view=result.cart),
        )
