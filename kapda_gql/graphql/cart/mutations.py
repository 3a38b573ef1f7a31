"""Cart mutations: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.cart import services as cart
from kapda_gql.graphql.cart.types import AddToCartInput, Cart, UpdateCartItemInput, _ttl
from kapda_gql.graphql.common import parse_id
from kapda_gql.graphql.context import Info


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
