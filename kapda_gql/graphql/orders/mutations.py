"""Orders mutations: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.domain import enums
from kapda_gql.graphql.cart.types import Cart
from kapda_gql.graphql.common import parse_id
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.orders.types import (
    Order,
    OrderItemQuantity,
    OrderItemsInput,
    ReorderLine,
    ReorderPayload,
    ReorderUnavailable,
    ReturnOrderItemsInput,
    TransitionOrderInput,
)
from kapda_gql.orders import lines as order_lines
from kapda_gql.orders import services as orders


def _lines(lines: list[OrderItemQuantity]) -> list[order_lines.LineQuantity]:
    return [
        order_lines.LineQuantity(parse_id(x.order_item_id, f"lines[{i}].orderItemId"), x.quantity)
        for i, x in enumerate(lines)
    ]


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
