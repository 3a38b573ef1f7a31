"""Checkout types: the session a storefront pays for, and the inputs of startCheckout and checkout."""

from __future__ import annotations

from datetime import datetime

import strawberry

from kapda_gql.db import models
from kapda_gql.graphql.common import Money
from kapda_gql.graphql.orders.types import PriceAdjustment


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
