"""The quote a checkout session freezes, and what follows from it without a database: the lines,
their prices, the price changes worth an alert, and which lines the stock cannot cover."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kapda_gql.domain import pricing
from kapda_gql.domain.errors import CheckoutExpired, DomainError, InsufficientStock


@dataclass(frozen=True, slots=True)
class QuoteLine:
    variant_id: int
    product_id: int
    designer_id: int
    title: str
    sku: str
    size: str | None
    color: str | None
    quantity: int
    cart_price: int
    current_price: int

    @property
    def unit_price(self) -> int:
        return pricing.charged_price(self.cart_price, self.current_price)

    @property
    def line_total(self) -> int:
        return pricing.line_total(self.unit_price, self.quantity)

    def to_json(self) -> dict[str, Any]:
        # Spelled out rather than dataclasses.asdict, which deep-copies every value; a field left
        # out here fails the JSON round trip (from_json needs every field).
        unit_price = self.unit_price
        return {
            "variant_id": self.variant_id,
            "product_id": self.product_id,
            "designer_id": self.designer_id,
            "title": self.title,
            "sku": self.sku,
            "size": self.size,
            "color": self.color,
            "quantity": self.quantity,
            "cart_price": self.cart_price,
            "current_price": self.current_price,
            "unit_price": unit_price,
            "line_total": pricing.line_total(unit_price, self.quantity),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> QuoteLine:
        fields = QuoteLine.__dataclass_fields__
        return QuoteLine(**{k: v for k, v in data.items() if k in fields})


def adjustments(lines: Sequence[QuoteLine]) -> list[dict[str, int]]:
    """The lines whose price changed since they went into the cart (kept on the session and order)."""
    return [
        {
            "variant_id": line.variant_id,
            "cart_price": line.cart_price,
            "current_price": line.current_price,
            "charged_price": line.unit_price,
        }
        for line in lines
        if line.cart_price != line.current_price
    ]


def price_alerts(changes: Sequence[Mapping[str, int]]) -> list[Mapping[str, int]]:
    """The changes big enough to log and audit (``pricing.is_price_alert``)."""
    return [c for c in changes if pricing.is_price_alert(c["cart_price"], c["current_price"])]


def shortage(lines: Sequence[QuoteLine], stock: Mapping[int, int]) -> list[dict[str, Any]]:
    """Every line asking for more than is left, as INSUFFICIENT_STOCK's ``lines`` show it."""
    return [
        {
            "variantId": str(line.variant_id),
            "requested": line.quantity,
            "available": stock.get(line.variant_id, 0),
        }
        for line in lines
        if line.quantity > stock.get(line.variant_id, 0)
    ]


def insufficient(short: Sequence[Mapping[str, Any]]) -> InsufficientStock:
    """The error for a shortage: the first short line up front, every one in ``lines``."""
    if not short:
        return InsufficientStock(lines=[])
    first = short[0]
    return InsufficientStock(
        "Some items are no longer in stock in the quantity asked for",
        variantId=first["variantId"],
        requested=first["requested"],
        available=first["available"],
        lines=[dict(x) for x in short],
    )


# --- how a session failed, as its row keeps it ------------------------------------------------

GATEWAY_FAILURE = "PAYMENT_GATEWAY_ERROR"


def failure_detail(code: str, short: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """What a failed session stores in ``failure_detail``: its code, and the short lines if any."""
    return {"code": code, "lines": [dict(x) for x in short]} if short else {"code": code}


def failure_error(code: str | None, detail: Mapping[str, Any] | None) -> DomainError:
    """The error every later attempt on a failed session gets, rebuilt from its own row."""
    if code != InsufficientStock.code:
        return CheckoutExpired()
    return insufficient(list((detail or {}).get("lines") or []))
