"""The Razorpay poll: a paid session with no checkout call and no webhook still becomes its order."""

from __future__ import annotations

from typing import Any

from kapda_gql.checkout import reconcile
from tests.support.flows import fill_cart, pay, start


async def test_the_poll_makes_the_order_of_a_tab_closed_after_paying_with_no_webhook(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any, runtime: Any
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id, price=49900, variants=[("POLL-1", "M", None, 3, None)])
    vid = product["variant_ids"][0]
    customer = await make_user()
    await fill_cart(db, customer.id, [(vid, 2)])
    session = await start(api, customer.token)
    sandbox.state.deliver_webhooks = False
    try:
        await pay(sandbox.base_url, session["razorpayOrderId"])  # ... and the tab closes
    finally:
        sandbox.state.deliver_webhooks = True
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0

    # Younger than a minute: still the customer's; the poll leaves it alone.
    first = await reconcile.reconcile_payments(runtime.db.uow, runtime.gateway, every_seconds=1)
    assert first.checked == 0
    await db.execute("UPDATE checkout_sessions SET created_at = now() - interval '2 minutes'")
    second = await reconcile.reconcile_payments(runtime.db.uow, runtime.gateway, every_seconds=0.001)
    assert (second.checked, second.placed) == (1, 1)
    order = await db.fetchrow(
        "SELECT id, payment_status FROM orders WHERE checkout_session_id = $1::uuid", session["id"]
    )
    assert order is not None and order["payment_status"] == "CAPTURED"
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 1
    assert await db.fetchval("SELECT count(*) FROM stock_holds") == 0

    # Asking again settles nothing twice: the session is closed, the payment made its one order.
    third = await reconcile.reconcile_payments(runtime.db.uow, runtime.gateway, every_seconds=0.001)
    assert third.placed == 0
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM refunds") == 0
