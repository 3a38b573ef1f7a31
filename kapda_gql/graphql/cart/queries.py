"""Cart queries: thin, arguments in, a service call, a type out."""

from __future__ import annotations

import strawberry

from kapda_gql.cart import services as cart
from kapda_gql.graphql.cart.types import Cart, _ttl
from kapda_gql.graphql.context import Info


@strawberry.type
class CartQuery:
    @strawberry.field(description="The signed-in user's cart; UNAUTHENTICATED when anonymous.")
    async def cart(self, info: Info) -> Cart:
        return Cart(
            view=await cart.get_cart(info.context.uow(), info.context.actor, price_ttl_seconds=_ttl(info))
        )
