"""Every way a checkout can be refused, and that each refusal leaves stock, orders and the cart alone
(and gives back money that was taken)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.assertions import code
from tests.support.documents import ADD, CHECKOUT, START_WITH
from tests.support.flows import ADDRESS, finish, pay, set_on_hand, sign, snapshot, start

PRICE = 129900


@dataclass
class Ready:
    customer: Any
    variant_id: int
    session: dict[str, Any]


async def _ready(api: Any, make_user: Any, make_product: Any, *, quantity: int = 2, stock: int = 5) -> Ready:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=PRICE, variants=[("E-1", "M", "Blue", stock, None)]
    )
    vid = product["variant_ids"][0]
    await api.ok(ADD, {"v": vid, "q": quantity}, token=customer.token)
    return Ready(customer, vid, await start(api, customer.token))


async def _checkout(api: Any, token: str, **values: str) -> dict[str, Any]:
    variables = {"key": str(uuid.uuid4()), **values}
    return dict(await api(CHECKOUT, variables, token=token))


async def _refunds(db: Any) -> list[tuple[str, int, str, str]]:
    rows = await db.fetch(
        "SELECT p.razorpay_payment_id, r.amount, r.status, r.reason FROM refunds r "
        "JOIN payments p ON p.id = r.payment_id ORDER BY r.id"
    )
    return [tuple(r) for r in rows]


async def _session_status(db: Any, session_id: str) -> str:
    return str(await db.fetchval("SELECT status FROM checkout_sessions WHERE id = $1", uuid.UUID(session_id)))


async def test_empty_cart_is_cart_empty(api: Any, make_user: Any, db: Any) -> None:
    customer = await make_user()
    error = await api.error(START_WITH, {"a": ADDRESS}, token=customer.token)
    assert error["extensions"]["code"] == "CART_EMPTY"
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_start_checkout_rechecks_availability_and_stock(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, variants=[("V-1", "M", None, 5, None), ("V-2", "L", None, 5, None)]
    )
    a, b = product["variant_ids"]
    await api.ok(ADD, {"v": a, "q": 3}, token=customer.token)
    await api.ok(ADD, {"v": b, "q": 4}, token=customer.token)
    orders_before = len(sandbox.state.orders)

    await set_on_hand(db, a, 1)
    await set_on_hand(db, b, 1)
    error = await api.error(START_WITH, {"a": ADDRESS}, token=customer.token)
    assert error["extensions"]["code"] == "INSUFFICIENT_STOCK"
    assert error["extensions"]["lines"] == [
        {"variantId": str(a), "requested": 3, "available": 1},
        {"variantId": str(b), "requested": 4, "available": 1},
    ]

    await set_on_hand(db, b, 5)
    await db.execute("UPDATE variants SET deleted_at = now() WHERE id = $1", b)
    await set_on_hand(db, a, 5)
    error = await api.error(START_WITH, {"a": ADDRESS}, token=customer.token)
    assert (error["extensions"]["code"], error["extensions"]["variantId"]) == ("PRODUCT_UNAVAILABLE", str(b))

    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0
    assert len(sandbox.state.orders) == orders_before


async def test_bad_address_is_bad_user_input(api: Any, make_user: Any, make_product: Any, db: Any) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id)
    await api.ok(ADD, {"v": product["variant_ids"][0], "q": 1}, token=customer.token)
    address = {**ADDRESS, "postalCode": "12", "phone": "call me", "name": "  "}
    error = await api.error(START_WITH, {"a": address}, token=customer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert {f["field"] for f in error["extensions"]["fields"]} == {
        "shippingAddress.name",
        "shippingAddress.postalCode",
        "shippingAddress.phone",
    }
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_anonymous_checkout_is_unauthenticated(api: Any) -> None:
    assert (await api.error(START_WITH, {"a": ADDRESS}))["extensions"]["code"] == "UNAUTHENTICATED"
    body = await api(CHECKOUT, {"c": str(uuid.uuid4()), "o": "order_x", "p": "pay_x", "s": "x"})
    assert code(body) == "UNAUTHENTICATED"


async def test_forged_signature_changes_nothing_and_the_real_one_still_works(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    before = await snapshot(db)
    for forged in (
        "0" * 64,
        sign(ready.session["razorpayOrderId"], "pay_Other123"),
        payment["razorpay_signature"][:-1],
    ):
        body = await finish(
            api, ready.customer.token, ready.session, {**payment, "razorpay_signature": forged}
        )
        assert code(body) == "PAYMENT_VERIFICATION_FAILED"
    assert await snapshot(db) == before
    assert await db.fetchval("SELECT count(*) FROM payments") == 0
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "authorized"

    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) is None
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", ready.variant_id) == 3


async def test_razorpay_order_id_must_be_the_one_we_stored(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    earlier = ready.session
    session = await start(api, ready.customer.token)  # replaces the earlier one
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    before = await snapshot(db)
    # A real payment and signature, but the client names another order of its own.
    body = await finish(
        api, ready.customer.token, session, {**payment, "razorpay_order_id": earlier["razorpayOrderId"]}
    )
    assert code(body) == "PAYMENT_VERIFICATION_FAILED"
    assert await snapshot(db) == before
    assert await _session_status(db, session["id"]) == "OPEN"


async def test_someone_elses_checkout_is_not_found(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    intruder = await make_user()
    before = await snapshot(db)
    body = await finish(api, intruder.token, ready.session, payment)
    assert code(body) == "NOT_FOUND"
    body = await finish(api, ready.customer.token, {"id": str(uuid.uuid4())}, payment)
    assert code(body) == "NOT_FOUND"
    body = await finish(api, ready.customer.token, {"id": "not-a-uuid"}, payment)
    assert code(body) == "BAD_USER_INPUT"
    assert await snapshot(db) == before
    assert await _session_status(db, ready.session["id"]) == "OPEN"


async def test_a_payment_of_another_order_is_refused(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    # Another checkout of the same amount (the one this customer had open before), paid: its
    # payment must not pay for ours.
    other = ready.session
    current = await start(api, ready.customer.token)
    other_payment = await pay(sandbox.base_url, other["razorpayOrderId"])
    before = await snapshot(db)

    body = await finish(
        api,
        ready.customer.token,
        current,
        {**other_payment, "razorpay_order_id": current["razorpayOrderId"]},
    )
    assert code(body) == "PAYMENT_VERIFICATION_FAILED"
    # Even with a signature that verifies for our order, the fetched payment names the other order.
    forged = {
        "razorpay_order_id": current["razorpayOrderId"],
        "razorpay_payment_id": other_payment["razorpay_payment_id"],
        "razorpay_signature": sign(current["razorpayOrderId"], other_payment["razorpay_payment_id"]),
    }
    body = await finish(api, ready.customer.token, current, forged)
    assert code(body) == "PAYMENT_VERIFICATION_FAILED"
    assert await snapshot(db) == before
    assert await _session_status(db, current["id"]) == "OPEN"

    # The other payment pays for the session it was made for, which was replaced: refunded.
    assert code(await finish(api, ready.customer.token, other, other_payment)) == "CHECKOUT_EXPIRED"
    assert sandbox.state.payments[other_payment["razorpay_payment_id"]]["amount_refunded"] > 0


async def test_captured_wrong_amount_is_refused_and_refunded(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    expected = ready.session["amount"]["amount"]
    assert expected == 2 * PRICE
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"], amount=100, outcome="captured")
    before = await snapshot(db)

    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "PAYMENT_AMOUNT_MISMATCH"
    ext = body["errors"][0]["extensions"]
    assert ext["expected"] == {"amount": expected, "currency": "INR"}
    assert ext["paid"] == {"amount": 100, "currency": "INR"}
    assert await snapshot(db) == before
    assert await _refunds(db) == [(payment["razorpay_payment_id"], 100, "PROCESSED", "amount_mismatch")]
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["amount_refunded"] == 100

    # Asked again, the payment is refunded already, and not refunded a second time.
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "PAYMENT_NOT_CAPTURED"
    assert body["errors"][0]["extensions"]["paymentStatus"] == "REFUNDED"
    assert len(await _refunds(db)) == 1
    assert len(sandbox.state.refunds_for_payment(payment["razorpay_payment_id"])) == 1


async def test_authorized_wrong_amount_is_neither_captured_nor_ordered(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(
        sandbox.base_url, ready.session["razorpayOrderId"], amount=ready.session["amount"]["amount"] + 1
    )
    before = await snapshot(db)
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "PAYMENT_AMOUNT_MISMATCH"
    assert await snapshot(db) == before
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "authorized"


async def test_failed_payment_is_not_captured(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    failed = await pay(sandbox.base_url, ready.session["razorpayOrderId"], outcome="failed")
    payment_id = failed["razorpay_payment_id"]
    order_id = ready.session["razorpayOrderId"]
    before = await snapshot(db)
    body = await finish(
        api,
        ready.customer.token,
        ready.session,
        {
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": sign(order_id, payment_id),
        },
    )
    assert code(body) == "PAYMENT_NOT_CAPTURED"
    assert body["errors"][0]["extensions"]["paymentStatus"] == "FAILED"
    assert await snapshot(db) == before
    assert await _session_status(db, ready.session["id"]) == "OPEN"

    # The customer retries the same checkout and pays successfully.
    payment = await pay(sandbox.base_url, order_id)
    assert code(await finish(api, ready.customer.token, ready.session, payment)) is None


async def test_expired_checkout_refunds_the_captured_payment(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"], outcome="captured")
    await db.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(ready.session["id"]),
    )
    before = await snapshot(db)
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "CHECKOUT_EXPIRED"
    assert await snapshot(db) == before
    amount = ready.session["amount"]["amount"]
    assert await _refunds(db) == [(payment["razorpay_payment_id"], amount, "PROCESSED", "checkout_expired")]
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["amount_refunded"] == amount


async def test_expired_checkout_with_authorized_payment_takes_no_money(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    await db.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(ready.session["id"]),
    )
    before = await snapshot(db)
    assert code(await finish(api, ready.customer.token, ready.session, payment)) == "CHECKOUT_EXPIRED"
    assert await snapshot(db) == before
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "authorized"


async def test_authorized_payment_is_captured(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"], outcome="authorized")
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "authorized"
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) is None
    assert body["data"]["checkout"]["paymentStatus"] == "CAPTURED"
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["status"] == "captured"
    row = await db.fetchrow("SELECT status, amount FROM payments")
    assert (row["status"], row["amount"]) == ("CAPTURED", 2 * PRICE)


async def test_payment_already_captured_is_accepted_without_capturing_again(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"], outcome="captured")
    sandbox.state.fail_next("capture", 1, status=400)  # a capture call would now be refused
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) is None
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_razorpay_down_at_start_checkout_leaves_no_half_state(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("D-1", "M", None, 5, None)])
    await api.ok(ADD, {"v": product["variant_ids"][0], "q": 1}, token=customer.token)
    before = await snapshot(db)
    orders_at_razorpay = len(sandbox.state.orders)

    sandbox.state.fail_next("create_order", 1)
    error = await api.error(START_WITH, {"a": ADDRESS, "key": "start-1"}, token=customer.token)
    assert error["extensions"]["code"] == "PAYMENT_GATEWAY_UNAVAILABLE"
    assert "requestId" in error["extensions"]
    assert await snapshot(db) == before
    assert len(sandbox.state.orders) == orders_at_razorpay
    # Nothing that could be paid or completed was left behind.
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE status = 'OPEN'") == 0
    assert (
        await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE razorpay_order_id IS NOT NULL") == 0
    )

    sandbox.state.fail_next("create_order", 1, status=400)
    error = await api.error(START_WITH, {"a": ADDRESS}, token=customer.token)
    assert error["extensions"]["code"] == "PAYMENT_GATEWAY_ERROR"
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE status = 'OPEN'") == 0

    # Razorpay is back: a retry with the same key goes through at once (the key was given back,
    # not left looking like a request still in flight).
    data = await asyncio.wait_for(
        api.ok(START_WITH, {"a": ADDRESS, "key": "start-1"}, token=customer.token), 5
    )
    assert data["startCheckout"]["razorpayOrderId"] in sandbox.state.orders
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions WHERE status = 'OPEN'") == 1


@pytest.mark.parametrize("answer_lost", [False, True], ids=["capture-failed", "captured-but-answer-lost"])
async def test_razorpay_down_at_checkout_changes_nothing_and_a_retry_completes(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any, answer_lost: bool
) -> None:
    ready = await _ready(api, make_user, make_product)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    before = await snapshot(db)
    # The first call to Razorpay of a checkout is the capture.
    sandbox.state.fail_next("capture", 1, after_processing=answer_lost)
    body = await finish(api, ready.customer.token, ready.session, payment, key="pay-1")
    assert code(body) == "PAYMENT_GATEWAY_UNAVAILABLE"
    assert await snapshot(db) == before

    body = await asyncio.wait_for(finish(api, ready.customer.token, ready.session, payment, key="pay-1"), 5)
    assert code(body) is None
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_stock_gone_after_start_refunds_and_keeps_the_cart(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    ready = await _ready(api, make_user, make_product, quantity=2, stock=5)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    await set_on_hand(db, ready.variant_id, 1)
    before = await snapshot(db)
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "INSUFFICIENT_STOCK"
    assert body["errors"][0]["extensions"]["lines"] == [
        {"variantId": str(ready.variant_id), "requested": 2, "available": 1}
    ]
    assert await snapshot(db) == before
    amount = ready.session["amount"]["amount"]
    assert await _refunds(db) == [(payment["razorpay_payment_id"], amount, "PROCESSED", "out_of_stock")]
    assert sandbox.state.payments[payment["razorpay_payment_id"]]["amount_refunded"] == amount
    assert await _session_status(db, ready.session["id"]) == "FAILED"

    # The same payment again: the same answer, still no order and no second refund.
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "INSUFFICIENT_STOCK"
    assert body["errors"][0]["extensions"]["lines"] == [
        {"variantId": str(ready.variant_id), "requested": 2, "available": 1}
    ]
    assert len(await _refunds(db)) == 1
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_a_failed_session_keeps_its_failure_on_its_own_row(
    api: Any, make_user: Any, make_product: Any, sandbox: Any, db: Any
) -> None:
    """The answer to a later attempt comes from the session row, not from reading the audit log back."""
    ready = await _ready(api, make_user, make_product, quantity=3, stock=5)
    payment = await pay(sandbox.base_url, ready.session["razorpayOrderId"])
    await set_on_hand(db, ready.variant_id, 2)
    assert code(await finish(api, ready.customer.token, ready.session, payment)) == "INSUFFICIENT_STOCK"
    short = [{"variantId": str(ready.variant_id), "requested": 3, "available": 2}]
    row = await db.fetchrow(
        "SELECT status, failure_code, failure_detail FROM checkout_sessions WHERE id = $1",
        uuid.UUID(ready.session["id"]),
    )
    assert (row["status"], row["failure_code"]) == ("FAILED", "INSUFFICIENT_STOCK")
    assert json.loads(row["failure_detail"]) == {"code": "INSUFFICIENT_STOCK", "lines": short}

    await db.execute("DELETE FROM audit_entries")
    body = await finish(api, ready.customer.token, ready.session, payment)
    assert code(body) == "INSUFFICIENT_STOCK"
    assert body["errors"][0]["extensions"]["lines"] == short


async def test_malformed_payment_proof_is_bad_user_input(api: Any, make_user: Any, make_product: Any) -> None:
    ready = await _ready(api, make_user, make_product)
    body = await _checkout(
        api,
        ready.customer.token,
        c=ready.session["id"],
        o=ready.session["razorpayOrderId"],
        p="",
        s="x" * 200,
    )
    assert code(body) == "BAD_USER_INPUT"
    assert {f["field"] for f in body["errors"][0]["extensions"]["fields"]} == {
        "razorpayPaymentId",
        "razorpaySignature",
    }
