"""Order types (the cart's are in graphql/cart/types.py, checkout's in graphql/checkout/types.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from kapda_gql.db import models
from kapda_gql.domain import enums, policy
from kapda_gql.graphql.catalog.types import Variant
from kapda_gql.graphql.common import Money, OrderStatus, PageInfo, PaymentStatus, Role
from kapda_gql.graphql.context import Info
from kapda_gql.orders import services as orders_service


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
class OrderItem:
    product_title: str
    sku: str
    size: str | None
    color: str | None
    unit_price: Money
    quantity: int
    line_total: Money
    variant_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.OrderItem) -> OrderItem:
        return cls(
            product_title=row.product_title,
            sku=row.sku,
            size=row.size,
            color=row.color,
            unit_price=Money.of(row.unit_price),
            quantity=row.quantity,
            line_total=Money.of(row.line_total),
            variant_id=row.variant_id,
        )

    @strawberry.field(description="The variant as it is now; null once it is gone from the catalog.")
    async def variant(self, info: Info) -> Variant | None:
        if self.variant_id is None:
            return None
        v = await info.context.loaders.variant.load(self.variant_id)
        return await Variant.load(info, v) if v is not None else None


@strawberry.type(
    description="Who made a change: a customer by its own name, staff by role with the shop's name."
)
class Actor:
    role: Role
    name: str


@strawberry.type
class OrderStatusChange:
    from_: OrderStatus | None = strawberry.field(name="from")
    to: OrderStatus
    at: datetime
    note: str | None
    actor_id: strawberry.Private[int | None]
    owner_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.OrderStatusChange, owner_id: int) -> OrderStatusChange:
        return cls(
            from_=enums.OrderStatus(row.from_status) if row.from_status else None,
            to=enums.OrderStatus(row.to_status),
            at=row.at,
            note=row.note,
            actor_id=row.actor_id,
            owner_id=owner_id,
        )

    @strawberry.field(description="Never an account: staff appear by role to anyone but an admin.")
    async def actor(self, info: Info) -> Actor | None:
        user = await info.context.loaders.user.load(self.actor_id) if self.actor_id is not None else None
        seen = policy.order_change_actor(
            info.context.actor,
            owner_id=self.owner_id,
            actor_id=self.actor_id,
            actor_role=enums.Role(user.role) if user is not None else None,
            actor_name=user.name if user is not None else None,
        )
        return Actor(role=seen.role, name=seen.name) if seen is not None else None


@strawberry.type
class Order:
    id: strawberry.ID
    number: str
    status: OrderStatus
    payment_status: PaymentStatus
    subtotal: Money
    total: Money
    shipping_address: Address
    price_adjustments: list[PriceAdjustment]
    created_at: datetime
    processing_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    canceled_at: datetime | None
    refunded_at: datetime | None
    order_id: strawberry.Private[int]
    owner_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Order) -> Order:
        return cls(
            id=strawberry.ID(str(row.id)),
            number=row.number,
            status=enums.OrderStatus(row.status),
            payment_status=enums.PaymentStatus(row.payment_status),
            subtotal=Money.of(row.subtotal, row.currency),
            total=Money.of(row.total, row.currency),
            shipping_address=Address.of(row.shipping_address),
            price_adjustments=[PriceAdjustment.of(a) for a in row.price_adjustments or []],
            created_at=row.created_at,
            processing_at=row.processing_at,
            shipped_at=row.shipped_at,
            delivered_at=row.delivered_at,
            canceled_at=row.canceled_at,
            refunded_at=row.refunded_at,
            order_id=row.id,
            owner_id=row.user_id,
        )

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItem]:
        rows = await info.context.loaders.order_items.load(self.order_id)
        return [OrderItem.of(r) for r in rows]

    @strawberry.field
    async def status_history(self, info: Info) -> list[OrderStatusChange]:
        rows = await info.context.loaders.status_history.load(self.order_id)
        return [OrderStatusChange.of(r, self.owner_id) for r in rows]


@strawberry.type(
    description="A designer's view of an order: its own lines and figures, nothing of the customer."
)
class DesignerOrder:
    id: strawberry.ID
    number: str
    status: OrderStatus
    created_at: datetime
    items: list[OrderItem] = strawberry.field(description="This designer's lines only.")
    items_total: Money = strawberry.field(description="The total of this designer's lines.")
    commission: Money = strawberry.field(
        description="This designer's commission on its lines (reversed left out)."
    )
    shipped_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, sale: orders_service.DesignerSale) -> DesignerOrder:
        return cls(
            id=strawberry.ID(str(sale.order_id)),
            number=sale.number,
            status=sale.status,
            created_at=sale.created_at,
            items=[OrderItem.of(i) for i in sale.items],
            items_total=Money.of(sale.items_total, sale.currency),
            commission=Money.of(sale.commission, sale.currency),
            shipped_at=sale.shipped_at,
            delivered_at=sale.delivered_at,
        )


@strawberry.type
class DesignerOrderEdge:
    cursor: str
    node: DesignerOrder


@strawberry.type
class DesignerOrderConnection:
    edges: list[DesignerOrderEdge]
    page_info: PageInfo
    total_count: int


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
    from kapda_gql.domain.errors import BadUserInput

    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(field, "is not a valid id") from None
