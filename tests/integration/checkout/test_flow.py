from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.support.documents import ADD
from tests.support.flows import fill_cart, finish, gather_limited, make_customers, pay, set_on_hand, start


async def test_whole_checkout_flow(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=129900, variants=[("KUR-M", "M", "Indigo", 5, None)]
    )
    vid = product["variant_ids"][0]
    cart = await api.ok(ADD, {"v": vid, "q": 2}, token=customer.token)
    assert cart["addToCart"] == {"itemCount": 2, "subtotal": {"amount": 259800}}

    session = await start(api, customer.token)
    assert session["amount"] == {"amount": 259800, "currency": "INR"}
    assert session["razorpayOrderId"].startswith("order_")
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    body = await finish(api, customer.token, session, payment)
    assert "errors" not in body, body
    order = body["data"]["checkout"]
    assert order["status"] == "PENDING"
    assert order["paymentStatus"] == "CAPTURED"
    assert order["total"] == {"amount": 259800}
    assert order["items"] == [
        {
            "sku": "KUR-M",
            "productTitle": product["title"],
            "size": "M",
            "color": "Indigo",
            "quantity": 2,
            "unitPrice": {"amount": 129900},
            "lineTotal": {"amount": 259800},
        }
    ]
    assert order["statusHistory"] == [{"from": None, "to": "PENDING"}]
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 3
    assert await db.fetchval("SELECT count(*) FROM cart_lines") == 0
    commission = await db.fetchrow("SELECT amount, status, rate_bps FROM commissions")
    assert commission["status"] == "PENDING"
    assert commission["amount"] == 259800 * commission["rate_bps"] // 10000
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "captured"
    audit = await db.fetch(
        "SELECT action, actor_id, target_id, changes, request_id, host(ip) AS ip FROM audit_entries"
        " WHERE target_type = 'Order'"
    )
    assert [a["action"] for a in audit] == ["order.created"]
    entry = audit[0]
    # Written by the order's own statement: who, which order, from which request, and what.
    assert (entry["actor_id"], entry["target_id"]) == (customer.id, order["id"])
    assert entry["request_id"] and entry["ip"] is not None
    assert json.loads(entry["changes"]) == {
        "number": order["number"],
        "total": 259800,
        "razorpayPaymentId": payment["razorpay_payment_id"],
        "items": 1,
    }

    # The same payment again (a retried request with a new key) names the same order.
    again = await finish(api, customer.token, session, payment)
    assert again["data"]["checkout"]["id"] == order["id"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_hundred_late_payments_for_twenty_in_stock(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any, settings: Any
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id, price=99900, variants=[("HOT-1", "M", "Red", 100, None)]
    )
    vid = product["variant_ids"][0]
    # Setup runs concurrently and writes carts directly; only the checkouts below are under test.
    customers = await make_customers(db, settings, 100)
    for c in customers:
        await fill_cart(db, c.id, [(vid, 1)])
    started = await gather_limited(10, [start(api, c.token) for c in customers])
    paid = await gather_limited(10, [pay(sandbox.base_url, s["razorpayOrderId"]) for s in started])
    sessions = list(zip(customers, started, paid, strict=True))
    await set_on_hand(db, vid, 20)
    # The holds lapsed (the payments are heard of late): each takes the stock again only if it is there.
    await db.execute("UPDATE stock_holds SET expires_at = now() - interval '1 second'")

    results = await asyncio.gather(*(finish(api, c.token, s, p) for c, s, p in sessions))
    ok = [r for r in results if not r.get("errors")]
    codes = [r["errors"][0]["extensions"]["code"] for r in results if r.get("errors")]
    assert len(ok) == 20
    assert codes == ["INSUFFICIENT_STOCK"] * 80
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 0
    assert await db.fetchval("SELECT count(*) FROM orders") == 20
    refunded = await db.fetchval("SELECT count(*) FROM refunds WHERE status = 'PROCESSED'")
    assert refunded == 80
    failed_payments = [
        p for c, s, p in sessions if sandbox.state.payments[p["razorpay_payment_id"]]["amount_refunded"] > 0
    ]
    assert len(failed_payments) == 80
