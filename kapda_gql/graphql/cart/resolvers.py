from __future__ import annotations

import strawberry

from kapda_gql.cart import services as cart
from kapda_gql.graphql.common import parse_id
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.orders.types import Cart


def _ttl(info: Info) -> int:
    return info.context.runtime.settings.cart_price_ttl_seconds


@strawberry.input
class AddToCartInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.input
class UpdateCartItemInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.type
class CartQuery:
    @strawberry.field(description="The signed-in user's cart; UNAUTHENTICATED when anonymous.")
    async def cart(self, info: Info) -> Cart:
        return Cart(
            view=await cart.get_cart(info.context.uow(), info.context.actor, price_ttl_seconds=_ttl(info))
        )


@strawberry.type
class CartMutation:
    @strawberry.mutation(description="Adds to the quantity already in the cart.")
    async def add_to_cart(self, info: Info, input: AddToCartInput) -> Cart:
        view = await cart.add_to_cart(
            info.context.uow(),
            info.context.actor,
            parse_id(input.variant_id, "variantId"),
            input.quantity,
            price_ttl_seconds=_ttl(info),
        )
        return Cart(view=view)

    @strawberry.mutation(description="Sets the quantity; 0 removes the item.")
    async def update_cart_item(self, info: Info, input: UpdateCartItemInput) -> Cart:
        view = await cart.update_cart_item(
            info.context.uow(),
            info.context.actor,
            parse_id(input.variant_id, "variantId"),
            input.quantity,
            price_ttl_seconds=_ttl(info),
        )
        return Cart(view=view)

    @strawberry.mutation
    async def remove_from_cart(self, info: Info, variant_id: strawberry.ID) -> Cart:
        view = await cart.remove_from_cart(
            info.context.uow(),
            info.context.actor,
            parse_id(variant_id, "variantId"),
            price_ttl_seconds=_ttl(info),
        )
        return Cart(view=view)
