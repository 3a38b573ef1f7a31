"""12.5: money never breaks a response (Money.amount is a 64-bit Long), and a cart past
₹2,00,00,000 is BAD_USER_INPUT before anything is asked of Razorpay."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from kapda_gql.devtools.sandbox.server import SandboxServer
from kapda_gql.domain.money import MAX_CART_TOTAL
from tests.support.documents import ADD, START, UPDATE
from tests.support.flows import fill_cart, record_payment

CRORE = 10**9  # ₹1,00,00,000 in paise
INT32_MAX = 2**31 - 1


def bad_input(body: dict[str, Any], field: str) -> None:
    errors = body.get("errors") or []
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], body
    assert errors[0]["extensions"]["fields"][0]["field"] == field, body
    assert "₹2,00,00,000.00" in errors[0]["message"], body


async def _crore_variant(make_user: Any, make_product: Any) -> int:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id, price=CRORE, variants=[("CRORE-1", "M", "Gold", 10, None)]
    )
    return int(product["variant_ids"][0])


async def test_three_of_a_crore_product_is_bad_user_input_and_leaves_the_cart(
    api: Any, make_user: Any, make_product: Any, db: asyncpg.Connection
) -> None:
    assert MAX_CART_TOTAL == 2 * CRORE
    variant = await _crore_variant(make_user, make_product)
    customer = await make_user()
    bad_input(await api(ADD, {"v": str(variant), "q": 3}, token=customer.token), "quantity")
    assert await db.fetchval("SELECT count(*) FROM cart_lines") == 0
    # Up to the limit itself is fine; one unit more, by adding or by raising the line, is not.
    two = await api.ok(ADD, {"v": str(variant), "q": 2}, token=customer.token)
    assert two["addToCart"]["subtotal"]["amount"] == 2 * CRORE
    bad_input(await api(ADD, {"v": str(variant), "q": 1}, token=customer.token), "quantity")
    bad_input(await api(UPDATE, {"v": str(variant), "q": 3}, token=customer.token), "quantity")
    assert await db.fetchval("SELECT quantity FROM cart_lines") == 2
    lowered = await api.ok(UPDATE, {"v": str(variant), "q": 1}, token=customer.token)
    assert lowered["updateCartItem"]["itemCount"] == 1


async def test_start_checkout_of_a_cart_past_the_limit_asks_nothing_of_razorpay(
    api: Any, make_user: Any, make_product: Any, db: asyncpg.Connection, sandbox: SandboxServer
) -> None:
    variant = await _crore_variant(make_user, make_product)
    customer = await make_user()
    await fill_cart(db, customer.id, [(variant, 3)])  # a cart from before the limit
    before = set(sandbox.state.orders)
    bad_input(await api(START, {"key": None}, token=customer.token), "cart")
    assert set(sandbox.state.orders) == before  # no Razorpay order was created
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def _large_order(db: asyncpg.Connection, customer_id: int, designer_id: int, amount: int) -> None:
    """An order past 32 bits, as one made before the cart limit (or by several designers) could be."""
    session = await db.fetchval(
        "INSERT INTO checkout_sessions (user_id, amount, lines, shipping_address, status, expires_at)"
        " VALUES ($1, $2, '[]', '{}', 'COMPLETED', now()) RETURNING id",
        customer_id,
        amount,
    )
    address = json.dumps(
        {
            "name": "A",
            "line1": "1",
            "city": "C",
            "state": "S",
            "postalCode": "560001",
            "country": "IN",
            "phone": "+91 98450 12345",
        }
    )
    order = await db.fetchval(
        "INSERT INTO orders (number, user_id, checkout_session_id, subtotal, total, shipping_address)"
        " VALUES ($1, $2, $3, $4, $4, $5::jsonb) RETURNING id",
        f"KG-BIG-{session.hex[:6]}",
        customer_id,
        session,
        amount,
        address,
    )
    await db.execute(
        "INSERT INTO order_items (order_id, designer_id, product_title, sku, unit_price, quantity, line_total)"
        " VALUES ($1, $2, 'Heirloom', 'BIG-1', $3, 3, $4)",
        order,
        designer_id,
        amount // 3,
        amount,
    )
    await record_payment(db, order)


async def test_an_admins_orders_page_with_a_large_order_is_exact(
    api: Any, make_user: Any, db: asyncpg.Connection
) -> None:
    customer, designer, admin = await make_user(), await make_user("DESIGNER"), await make_user("ADMIN")
    await _large_order(db, customer.id, designer.designer_id, 3 * CRORE)
    body = await api(
        "{ orders(first: 10) { edges { node { total { amount formatted } items { lineTotal { amount } } } } } }",
        token=admin.token,
    )
    assert not body.get("errors"), body
    node = body["data"]["orders"]["edges"][0]["node"]
    assert node["total"] == {"amount": 3 * CRORE, "formatted": "₹3,00,00,000.00"}
    assert node["items"][0]["lineTotal"]["amount"] == 3 * CRORE > INT32_MAX


async def test_a_designers_gross_sales_past_32_bits_are_exact(
    api: Any, make_user: Any, db: asyncpg.Connection
) -> None:
    customer, designer = await make_user(), await make_user("DESIGNER")
    await _large_order(db, customer.id, designer.designer_id, 3 * CRORE)
    await _large_order(db, customer.id, designer.designer_id, 3 * CRORE)
    body = await api(
        "{ designerStats { ordersCount unitsSold grossSales { amount } } }", token=designer.token
    )
    assert body == {
        "data": {"designerStats": {"ordersCount": 2, "unitsSold": 6, "grossSales": {"amount": 6 * CRORE}}}
    }
