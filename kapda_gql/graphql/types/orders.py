"""Cart, checkout and order types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from kapda_gql.db import models
from kapda_gql.graphql.context import Info
from kapda_gql.graphql.types.catalog import Product, Variant
from kapda_gql.graphql.types.common import Money, OrderStatus, PageInfo, PaymentStatus
from kapda_gql.graphql.types.users import User
from kapda_gql.services import cart as cart_service


@strawberry.type
class CartItem:
    view: strawberry.Private[cart_service.CartItemView]

    @strawberry.field
    def variant(self) -> Variant:
        return Variant(row=self.view.variant, product_price=self.view.product.price)

    @strawberry.field
    def product(self) -> Product:
        return Product(row=self.view.product)

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


@strawberry.type
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    state: str
    postal_code: str
    country: str
    phone: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Address:
        return cls(
            name=data["name"],
            line1=data["line1"],
            line2=data.get("line2"),
            city=data["city"],
            state=data["state"],
            postal_code=data["postalCode"],
            country=data["country"],
            phone=data["phone"],
        )


@strawberry.input
class AddressInput:
    name: str
    line1: str
    line2: str | None = None
    city: str
    state: str
    postal_code: str
    country: str = "IN"
    phone: str


@strawberry.type
class PriceAdjustment:
    variant_id: strawberry.ID
    cart_price: Money
    current_price: Money
    charged_price: Money

    @classmethod
    def of(cls, data: dict[str, Any]) -> PriceAdjustment:
        return cls(
            variant_id=strawberry.ID(str(data["variant_id"])),
            cart_price=Money.of(data["cart_price"]),
            current_price=Money.of(data["current_price"]),
            charged_price=Money.of(data["charged_price"]),
        )


@strawberry.type
class CheckoutLine:
    variant_id: strawberry.ID
    product_title: str
    sku: str
    size: str | None
    color: str | None
    quantity: int
    unit_price: Money
    line_total: Money


@strawberry.type
class CheckoutSession:
    id: strawberry.ID
    razorpay_order_id: str
    razorpay_key_id: str
    amount: Money
    lines: list[CheckoutLine]
    price_adjustments: list[PriceAdjustment]
    expires_at: datetime

    @classmethod
    def of(cls, row: models.CheckoutSession, key_id: str) -> CheckoutSession:
        return cls(
            id=strawberry.ID(str(row.id)),
            razorpay_order_id=row.razorpay_order_id or "",
            razorpay_key_id=key_id,
            amount=Money.of(row.amount, row.currency),
            lines=[
                CheckoutLine(
                    variant_id=strawberry.ID(str(x["variant_id"])),
                    product_title=x["title"],
                    sku=x["sku"],
                    size=x.get("size"),
                    color=x.get("color"),
                    quantity=x["quantity"],
                    unit_price=Money.of(x["unit_price"]),
                    line_total=Money.of(x["line_total"]),
                )
                for x in row.lines
            ],
            price_adjustments=[PriceAdjustment.of(a) for a in row.price_adjustments or []],
            expires_at=row.expires_at,
        )


@strawberry.input
class StartCheckoutInput:
    shipping_address: AddressInput
    idempotency_key: str | None = None


@strawberry.input
class CheckoutInput:
    checkout_id: strawberry.ID
    razorpay_order_id: str
    razorpay_payment_id: str
    razorpay_signature: str
    idempotency_key: str | None = None


@strawberry.type
class OrderItem:
    row: strawberry.Private[models.OrderItem]

    @strawberry.field
    async def variant(self, info: Info) -> Variant | None:
        if self.row.variant_id is None:
            return None
        v = await info.context.loaders.variant.load(self.row.variant_id)
        return Variant(row=v) if v is not None else None

    @strawberry.field
    def product_title(self) -> str:
        return self.row.product_title

    @strawberry.field
    def sku(self) -> str:
        return self.row.sku

    @strawberry.field
    def size(self) -> str | None:
        return self.row.size

    @strawberry.field
    def color(self) -> str | None:
        return self.row.color

    @strawberry.field
    def unit_price(self) -> Money:
        return Money.of(self.row.unit_price)

    @strawberry.field
    def quantity(self) -> int:
        return self.row.quantity

    @strawberry.field
    def line_total(self) -> Money:
        return Money.of(self.row.line_total)


@strawberry.type
class OrderStatusChange:
    row: strawberry.Private[models.OrderStatusChange]

    @strawberry.field(name="from")
    def from_(self) -> OrderStatus | None:
        return models.OrderStatus(self.row.from_status) if self.row.from_status else None

    @strawberry.field
    def to(self) -> OrderStatus:
        return models.OrderStatus(self.row.to_status)

    @strawberry.field
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        if self.row.actor_id is None:
            return None
        user = await info.context.loaders.user.load(self.row.actor_id)
        return User.of(user) if user else None

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note


@strawberry.type
class Order:
    row: strawberry.Private[models.Order]
    # Designers see only their own lines of an order that also holds other designers' items.
    only_designer: strawberry.Private[int | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def number(self) -> str:
        return self.row.number

    @strawberry.field
    def status(self) -> OrderStatus:
        return models.OrderStatus(self.row.status)

    @strawberry.field
    def payment_status(self) -> PaymentStatus:
        return models.PaymentStatus(self.row.payment_status)

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItem]:
        rows = await info.context.loaders.order_items.load(self.row.id)
        if self.only_designer is not None:
            rows = [r for r in rows if r.designer_id == self.only_designer]
        return [OrderItem(row=r) for r in rows]

    @strawberry.field
    def subtotal(self) -> Money:
        return Money.of(self.row.subtotal, self.row.currency)

    @strawberry.field
    def total(self) -> Money:
        return Money.of(self.row.total, self.row.currency)

    @strawberry.field
    def shipping_address(self) -> Address:
        return Address.of(self.row.shipping_address)

    @strawberry.field
    async def status_history(self, info: Info) -> list[OrderStatusChange]:
        rows = await info.context.loaders.status_history.load(self.row.id)
        return [OrderStatusChange(row=r) for r in rows]

    @strawberry.field
    def price_adjustments(self) -> list[PriceAdjustment]:
        return [PriceAdjustment.of(a) for a in self.row.price_adjustments or []]

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def processing_at(self) -> datetime | None:
        return self.row.processing_at

    @strawberry.field
    def shipped_at(self) -> datetime | None:
        return self.row.shipped_at

    @strawberry.field
    def delivered_at(self) -> datetime | None:
        return self.row.delivered_at

    @strawberry.field
    def canceled_at(self) -> datetime | None:
        return self.row.canceled_at

    @strawberry.field
    def refunded_at(self) -> datetime | None:
        return self.row.refunded_at


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo
    total_count: int


def parse_uuid(value: str, field: str) -> uuid.UUID:
    from kapda_gql.errors import BadUserInput

    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(field, "is not a valid id") from None
