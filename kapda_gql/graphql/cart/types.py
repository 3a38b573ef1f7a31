"""Cart types."""

from __future__ import annotations

import strawberry

from kapda_gql.cart import services as cart_service
from kapda_gql.catalog.store import product_row, variant_row
from kapda_gql.graphql.catalog.types import Product, Variant, load_product
from kapda_gql.graphql.common import Money
from kapda_gql.graphql.context import Info


@strawberry.type
class CartItem:
    view: strawberry.Private[cart_service.CartItemView]

    @strawberry.field
    def variant(self) -> Variant:
        return Variant.of(variant_row(self.view.variant), product_price=self.view.product.price)

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await load_product(info, product_row(self.view.product))

    @strawberry.field
    def quantity(self) -> int:
        return self.view.quantity

    @strawberry.field(
        description="What will be charged: the lower of the price when added and the current price."
    )
    def unit_price(self) -> Money:
        return Money.of(self.view.unit_price)

    @strawberry.field(description="The price when the item was first added to the cart.")
    def added_price(self) -> Money:
        return Money.of(self.view.added_price)

    @strawberry.field
    def current_price(self) -> Money:
        return Money.of(self.view.current_price)

    @strawberry.field
    def line_total(self) -> Money:
        return Money.of(self.view.line_total)

    @strawberry.field(description="False when the product was delisted or deleted since it was added.")
    def available(self) -> bool:
        return self.view.available


@strawberry.type
class Cart:
    view: strawberry.Private[cart_service.CartView]

    @strawberry.field
    def items(self) -> list[CartItem]:
        return [CartItem(view=i) for i in self.view.items]

    @strawberry.field
    def item_count(self) -> int:
        return self.view.item_count

    @strawberry.field
    def subtotal(self) -> Money:
        return Money.of(self.view.subtotal)


@strawberry.input
class AddToCartInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.input
class UpdateCartItemInput:
    variant_id: strawberry.ID
    quantity: int


def _ttl(info: Info) -> int:
    return info.context.runtime.settings.cart_price_ttl_seconds
