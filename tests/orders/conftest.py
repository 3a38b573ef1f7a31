from __future__ import annotations

from typing import Any

import pytest

from tests.checkout.helpers import ADD, finish, pay, start


@pytest.fixture
def place_order(api: Any, sandbox: Any) -> Any:
    """Place a real order through the whole flow: cart → startCheckout → sandbox payment → checkout."""

    async def place(customer: Any, lines: list[tuple[int, int]]) -> dict[str, Any]:
        for variant_id, qty in lines:
            await api.ok(ADD, {"v": variant_id, "q": qty}, token=customer.token)
        session = await start(api, customer.token)
        payment = await pay(sandbox.base_url, session["razorpayOrderId"])
        body = await finish(api, customer.token, session, payment)
        assert "errors" not in body, body
        return {**body["data"]["checkout"], "payment_id": payment["razorpay_payment_id"]}

    return place


@pytest.fixture
async def shop(make_user: Any, make_product: Any) -> dict[str, Any]:
    """An admin, a designer with a product of two variants, another designer, two customers."""
    admin = await make_user("ADMIN")
    designer = await make_user("DESIGNER")
    other_designer = await make_user("DESIGNER")
    alice = await make_user()
    bob = await make_user()
    product = await make_product(
        designer.designer_id,
        price=100000,
        variants=[("KUR-S", "S", "Red", 10, None), ("KUR-M", "M", "Red", 10, 120000)],
    )
    other = await make_product(
        other_designer.designer_id, price=50000, variants=[("STO-1", None, "Blue", 10, None)]
    )
    return {
        "admin": admin,
        "designer": designer,
        "other_designer": other_designer,
        "alice": alice,
        "bob": bob,
        "product": product,
        "other": other,
    }


TRANSITION = """mutation($id: ID!, $to: OrderStatus!, $note: String) {
  transitionOrder(input: {orderId: $id, to: $to, note: $note}) {
    id status paymentStatus processingAt shippedAt deliveredAt canceledAt refundedAt
    statusHistory { from to note actor { id } } } }"""
