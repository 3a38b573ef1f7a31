"""Drive the real flow: cart → startCheckout → pay in the sandbox (like Razorpay Checkout) → checkout."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

ADDRESS = {
    "name": "Asha Rao",
    "line1": "12 MG Road",
    "city": "Bengaluru",
    "state": "Karnataka",
    "postalCode": "560001",
    "phone": "+91 98450 12345",
}

ADD = "mutation($v: ID!, $q: Int!) { addToCart(input: {variantId: $v, quantity: $q}) { itemCount subtotal { amount } } }"
START = """mutation($key: String) { startCheckout(input: {shippingAddress: {name: "Asha Rao", line1: "12 MG Road",
  city: "Bengaluru", state: "Karnataka", postalCode: "560001", phone: "+91 98450 12345"}, idempotencyKey: $key}) {
  id razorpayOrderId razorpayKeyId amount { amount currency } expiresAt
  lines { variantId quantity unitPrice { amount } lineTotal { amount } }
  priceAdjustments { variantId cartPrice { amount } currentPrice { amount } chargedPrice { amount } } } }"""
CHECKOUT = """mutation($c: ID!, $o: String!, $p: String!, $s: String!, $key: String) {
  checkout(input: {checkoutId: $c, razorpayOrderId: $o, razorpayPaymentId: $p, razorpaySignature: $s, idempotencyKey: $key}) {
    id number status paymentStatus total { amount } subtotal { amount }
    items { sku productTitle size color quantity unitPrice { amount } lineTotal { amount } }
    statusHistory { from to } shippingAddress { city postalCode } } }"""


async def pay(sandbox_url: str, razorpay_order_id: str, **options: Any) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{sandbox_url}/sandbox/orders/{razorpay_order_id}/pay", json=options)
        return dict(r.json())


async def start(api: Any, token: str, key: str | None = None) -> dict[str, Any]:
    data = await api.ok(START, {"key": key}, token=token)
    return dict(data["startCheckout"])


async def finish(
    api: Any, token: str, session: dict[str, Any], payment: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    return dict(
        await api(
            CHECKOUT,
            {
                "c": session["id"],
                "o": payment["razorpay_order_id"],
                "p": payment["razorpay_payment_id"],
                "s": payment["razorpay_signature"],
                "key": key or str(uuid.uuid4()),
            },
            token=token,
        )
    )
