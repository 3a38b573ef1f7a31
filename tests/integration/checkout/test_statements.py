"""The checkout mutation stays a handful of round trips, however many lines the cart has."""

from __future__ import annotations

from typing import Any

from tests.support.assertions import code
from tests.support.flows import fill_cart, finish, pay, start
from tests.support.statements import counting

MAX_CHECKOUT_STATEMENTS = 15


async def test_checkout_runs_at_most_fifteen_statements(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, runtime: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    other = await make_user("DESIGNER")
    customer = await make_user()
    mine = await make_product(
        designer.designer_id, variants=[(f"ST-{i}", str(i), None, 50, None) for i in range(6)]
    )
    theirs = await make_product(
        other.designer_id, variants=[(f"SO-{i}", str(i), None, 50, None) for i in range(6)]
    )
    lines = [(v, 2) for v in mine["variant_ids"] + theirs["variant_ids"]]
    await fill_cart(db, customer.id, lines)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])

    with counting(runtime) as seen:
        body = await finish(api, customer.token, session, payment, key="count-me")
    assert code(body) is None
    assert len(body["data"]["checkout"]["items"]) == 12
    assert await db.fetchval("SELECT count(*) FROM commissions") == 12
    assert len(seen) <= MAX_CHECKOUT_STATEMENTS, "\n".join(s.split("\n")[0][:120] for s in seen)

    # A repeated request is answered from the idempotency key, with even fewer statements.
    with counting(runtime) as again:
        body = await finish(api, customer.token, session, payment, key="count-me")
    assert code(body) is None
    assert len(again) < len(seen)
