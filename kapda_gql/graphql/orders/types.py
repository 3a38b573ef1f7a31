"""Order types (the cart's are in graphql/cart/types.py, checkout's in graphql/checkout/types.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from kapda_gql.catalog.store import variant_row
from kapda_gql.db import models
from kapda_gql.domain import enums, policy
from kapda_gql.graphql.cart.types import Cart
from kapda_gql.graphql.catalog.types import Variant
from kapda_gql.graphql.common import (
    Long,
    Money,
    OrderStatus,
    PageInfo,
    PaymentStatus,
    Role,
)
from kapda_gql.graphql.context import Info
from kapda_gql.orders import services as orders

strawberry.enum(orders.UnavailableReason, name="ReorderUnavailableReason")
ReorderReason = orders.UnavailableReason


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
    canceled_quantity: int = strawberry.field(description="Units cancelled before shipment.")
    returned_quantity: int = strawberry.field(description="Units returned after delivery.")
    refunded_amount: Money = strawberry.field(description="What of this line was refunded.")
    variant_id: strawberry.Private[int | None]
    item_id: strawberry.Private[int | None]
    order_id: strawberry.Private[int]
    position: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.OrderItem, position: int = 0) -> OrderItem:
        # A just-placed order's lines are built from the checkout's statement, which returns the
        # order alone: their ids are looked up only if a client asks for them (see ``id``).
        return cls(
            product_title=row.product_title,
            sku=row.sku,
            size=row.size,
            color=row.color,
            unit_price=Money.of(row.unit_price),
            quantity=row.quantity,
            line_total=Money.of(row.line_total),
            canceled_quantity=row.canceled_quantity or 0,
            returned_quantity=row.returned_quantity or 0,
            refunded_amount=Money.of(row.refunded_amount or 0),
            variant_id=row.variant_id,
            item_id=row.id,
            order_id=row.order_id,
            position=position,
        )

    @strawberry.field(description="The line's id, as cancelOrderItems and returnOrderItems name it.")
    async def id(self, info: Info) -> strawberry.ID:
        if self.item_id is not None:
            return strawberry.ID(str(self.item_id))
        ids = await info.context.loaders.order_item_ids.load(self.order_id)
        return strawberry.ID(str(ids[self.position]))

    @strawberry.field(description="The variant as it is now; null once it is gone from the catalog.")
    async def variant(self, info: Info) -> Variant | None:
        if self.variant_id is None:
            return None
        v = await info.context.loaders.variant.load(self.variant_id)
        return await Variant.load(info, v) if v is not None else None


strawberry.enum(enums.RefundStatus, name="RefundStatus")


@strawberry.type(
    description="Money sent back to the customer, carried out at Razorpay from the refund outbox."
)
class Refund:
    id: strawberry.ID
    amount: Money
    status: enums.RefundStatus
    reason: str
    razorpay_refund_id: str | None
    created_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, row: models.Refund) -> Refund:
        return cls(
            id=strawberry.ID(str(row.id)),
            amount=Money.of(row.amount, row.currency),
            status=enums.RefundStatus(row.status),
            reason=row.reason,
            razorpay_refund_id=row.razorpay_refund_id,
            created_at=row.created_at,
            processed_at=row.processed_at,
        )


@strawberry.type(description="The parcel of a shipped order.")
class Tracking:
    carrier: str
    number: str
    url: str | None


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
    tracking: Tracking | None
    order_id: strawberry.Private[int]
    currency: strawberry.Private[str]
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
            tracking=Tracking(carrier=row.tracking_carrier, number=row.tracking_number, url=row.tracking_url)
            if row.tracking_carrier is not None and row.tracking_number is not None
            else None,
            order_id=row.id,
            currency=row.currency,
            owner_id=row.user_id,
        )

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItem]:
        rows = await info.context.loaders.order_items.load(self.order_id)
        return [OrderItem.of(r, i) for i, r in enumerate(rows)]

    @strawberry.field(description="Its refunds, oldest first (whole-order and line refunds alike).")
    async def refunds(self, info: Info) -> list[Refund]:
        return [Refund.of(r) for r in await info.context.loaders.refunds.load(self.order_id)]

    @strawberry.field(
        description="What Razorpay has confirmed as back with the customer (PROCESSED refunds)."
    )
    async def refunded_total(self, info: Info) -> Money:
        rows = await info.context.loaders.refunds.load(self.order_id)
        confirmed = sum(r.amount for r in rows if r.status == enums.RefundStatus.PROCESSED)
        return Money.of(confirmed, self.currency)

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
    commission_reversed: Money = strawberry.field(
        description="What of its commission was taken back (cancelled or returned units, a cancelled order)."
    )
    shipped_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, sale: orders.DesignerSale) -> DesignerOrder:
        return cls(
            id=strawberry.ID(str(sale.order_id)),
            number=sale.number,
            status=sale.status,
            created_at=sale.created_at,
            items=[OrderItem.of(i) for i in sale.items],
            items_total=Money.of(sale.items_total, sale.currency),
            commission=Money.of(sale.commission, sale.currency),
            commission_reversed=Money.of(sale.commission_reversed, sale.currency),
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
