"""Idempotency keys (Stripe's semantics) and the rule that one Razorpay payment makes at most one order."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from kapda_gql.checkout import services as checkout_service
from kapda_gql.domain.enums import Role
from kapda_gql.domain.errors import CheckoutExpired, PaymentVerificationFailed
from kapda_gql.domain.policy import Actor
from tests.support.assertions import code
from tests.support.documents import ADD, START_WITH
from tests.support.flows import ADDRESS, finish, pay, sign, start


async def _customer_with_cart(
    api: Any, make_user: Any, make_product: Any, stock: int = 10
) -> tuple[Any, int]:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=99900, variants=[("I-1", "M", None, stock, None)]
    )
    vid = product["variant_ids"][0]
    await api.ok(ADD, {"v": vid, "q": 1}, token=customer.token)
    return customer, vid


async def _paid_session(
    api: Any, make_user: Any, make_product: Any, sandbox: Any
) -> tuple[Any, int, dict[str, Any], dict[str, Any]]:
    """A customer with a cart, a started checkout and a payment for it in the sandbox."""
    customer, vid = await _customer_with_cart(api, make_user, make_product)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    return customer, vid, session, payment


async def test_start_checkout_same_key_same_request_is_the_same_session(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    orders_before = len(sandbox.state.orders)
    first = (await api.ok(START_WITH, {"a": ADDRESS, "key": "k-start"}, token=customer.token))[
        "startCheckout"
    ]
    again = (await api.ok(START_WITH, {"a": ADDRESS, "key": "k-start"}, token=customer.token))[
        "startCheckout"
    ]
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 1
    assert len(sandbox.state.orders) == orders_before + 1

    # Without a key (or with another) every call is a new checkout.
    fresh = (await api.ok(START_WITH, {"a": ADDRESS, "key": "k-other"}, token=customer.token))[
        "startCheckout"
    ]
    assert fresh["id"] != first["id"]


async def test_start_checkout_same_key_different_request_is_refused(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    await api.ok(START_WITH, {"a": ADDRESS, "key": "k-1"}, token=customer.token)
    error = await api.error(
        START_WITH, {"a": {**ADDRESS, "city": "Mysuru"}, "key": "k-1"}, token=customer.token
    )
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 1


async def test_keys_are_per_user(api: Any, make_user: Any, make_product: Any, db: Any) -> None:
    alice, vid = await _customer_with_cart(api, make_user, make_product)
    bob = await make_user()
    await api.ok(ADD, {"v": vid, "q": 2}, token=bob.token)
    a = (await api.ok(START_WITH, {"a": ADDRESS, "key": "shared"}, token=alice.token))["startCheckout"]
    b = (await api.ok(START_WITH, {"a": ADDRESS, "key": "shared"}, token=bob.token))["startCheckout"]
    assert a["id"] != b["id"]
    assert (a["amount"]["amount"], b["amount"]["amount"]) == (99900, 2 * 99900)


async def test_checkout_same_key_same_request_is_the_same_order(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, vid, session, payment = await _paid_session(api, make_user, make_product, sandbox)
    first = await finish(api, customer.token, session, payment, key="k-pay")
    again = await finish(api, customer.token, session, payment, key="k-pay")
    assert code(first) is None
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 9


async def test_the_answer_is_written_with_the_order_and_older_answers_still_replay(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _, session, payment = await _paid_session(api, make_user, make_product, sandbox)
    first = await finish(api, customer.token, session, payment, key="k-answer")
    order = first["data"]["checkout"]
    stored = await db.fetchval("SELECT response FROM idempotency_keys WHERE key = 'k-answer'")
    assert json.loads(stored) == {"result": {"orderNumber": order["number"]}}
    # An answer stored by the previous release named the order by id (keys live 24 hours).
    await db.execute(
        "UPDATE idempotency_keys SET response = $1::jsonb WHERE key = 'k-answer'",
        json.dumps({"result": {"orderId": int(order["id"])}}),
    )
    again = await finish(api, customer.token, session, payment, key="k-answer")
    assert again == first


async def test_checkout_same_key_different_request_is_refused(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    assert code(await finish(api, customer.token, session, payment, key="k-pay")) is None
    body = await finish(api, customer.token, {**session, "id": str(uuid.uuid4())}, payment, key="k-pay")
    assert code(body) == "IDEMPOTENCY_KEY_REUSED"
    tampered = {**payment, "razorpay_signature": "0" * 64}
    assert code(await finish(api, customer.token, session, tampered, key="k-pay")) == "IDEMPOTENCY_KEY_REUSED"
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_a_failed_request_answers_the_same_failure_again(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _, session, payment = await _paid_session(api, make_user, make_product, sandbox)
    forged = {**payment, "razorpay_signature": "f" * 64}
    first = await finish(api, customer.token, session, forged, key="k-forged")
    again = await finish(api, customer.token, session, forged, key="k-forged")
    assert code(first) == code(again) == "PAYMENT_VERIFICATION_FAILED"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_two_concurrent_checkouts_with_one_key_make_one_order(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, vid, session, payment = await _paid_session(api, make_user, make_product, sandbox)
    results = await asyncio.gather(
        *(finish(api, customer.token, session, payment, key="k-race") for _ in range(4))
    )
    assert [code(r) for r in results] == [None] * 4
    assert len({r["data"]["checkout"]["id"] for r in results}) == 1
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM payments") == 1
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 9
    assert sandbox.state.refunds_for_payment(payment["razorpay_payment_id"]) == []


async def test_two_concurrent_start_checkouts_with_one_key_make_one_session(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    orders_before = len(sandbox.state.orders)
    sandbox.state.delay_seconds = 0.2  # keep the first request in flight while the others arrive
    results = await asyncio.gather(
        *(api(START_WITH, {"a": ADDRESS, "key": "k-race"}, token=customer.token) for _ in range(4))
    )
    assert [code(r) for r in results] == [None] * 4
    assert len({r["data"]["startCheckout"]["id"] for r in results}) == 1
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 1
    assert len(sandbox.state.orders) == orders_before + 1


async def test_an_expired_key_is_a_new_request(api: Any, make_user: Any, make_product: Any, db: Any) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    first = (await api.ok(START_WITH, {"a": ADDRESS, "key": "k-old"}, token=customer.token))["startCheckout"]
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    again = (await api.ok(START_WITH, {"a": ADDRESS, "key": "k-old"}, token=customer.token))["startCheckout"]
    assert again["id"] != first["id"]
    # Kept 24 hours: even a different request may use the key now.
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    other = {**ADDRESS, "city": "Mysuru"}
    assert code(await api(START_WITH, {"a": other, "key": "k-old"}, token=customer.token)) is None


async def test_a_key_abandoned_in_flight_is_taken_over_after_its_lease(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    """A process that died mid-request leaves a key without a response; it must not block the key forever."""
    from kapda_gql.core import idempotency

    customer, _ = await _customer_with_cart(api, make_user, make_product)
    address = checkout_service.Address(
        name=ADDRESS["name"],
        line1=ADDRESS["line1"],
        city=ADDRESS["city"],
        state=ADDRESS["state"],
        postal_code=ADDRESS["postalCode"],
        phone=ADDRESS["phone"],
    ).validated()
    await db.execute(
        "INSERT INTO idempotency_keys (user_id, key, operation, request_hash, response, created_at) "
        "VALUES ($1, 'k-dead', 'startCheckout', $2, NULL, now() - $3::interval)",
        customer.id,
        idempotency.request_hash(address.to_json()),
        idempotency.LEASE + timedelta(seconds=5),
    )
    body = await api(START_WITH, {"a": ADDRESS, "key": "k-dead"}, token=customer.token)
    assert code(body) is None
    stored = await db.fetchval("SELECT response FROM idempotency_keys WHERE key = 'k-dead'")
    assert stored is not None and body["data"]["startCheckout"]["id"] in stored


def _address_hash() -> str:
    from kapda_gql.core import idempotency

    address = checkout_service.Address(
        name=ADDRESS["name"],
        line1=ADDRESS["line1"],
        city=ADDRESS["city"],
        state=ADDRESS["state"],
        postal_code=ADDRESS["postalCode"],
        phone=ADDRESS["phone"],
    ).validated()
    return idempotency.request_hash(address.to_json())


async def test_a_live_holder_is_waited_for_and_a_terminated_one_is_taken_over_at_once(
    api: Any, make_user: Any, make_product: Any, db: Any, database_url: str
) -> None:
    """The claim of another process, tied to its backend: the retry waits while that backend lives,
    and takes the key over as soon as it is gone, not after the 120 s lease."""
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    other = await asyncpg.connect(database_url)  # the other process's holder backend
    pid, started = await other.fetchrow(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )
    await db.execute(
        "INSERT INTO idempotency_keys (user_id, key, operation, request_hash, response, created_at, "
        "holder_pid, holder_started) VALUES ($1, 'k-held', 'startCheckout', $2, NULL, now(), $3, $4)",
        customer.id,
        _address_hash(),
        pid,
        started,
    )
    retry = asyncio.create_task(api(START_WITH, {"a": ADDRESS, "key": "k-held"}, token=customer.token))
    await asyncio.sleep(1.0)
    assert not retry.done(), "a claim whose holder lives must be waited for"
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0

    assert await db.fetchval("SELECT pg_terminate_backend($1)", pid)
    body = await asyncio.wait_for(retry, timeout=3)
    assert code(body) is None
    row = await db.fetchrow("SELECT response, holder_pid FROM idempotency_keys WHERE key = 'k-held'")
    assert row["response"] is not None and body["data"]["startCheckout"]["id"] in row["response"]
    assert row["holder_pid"] != pid
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 1


async def test_a_claim_names_the_process_holder_which_comes_back_after_it_was_lost(
    api: Any, make_user: Any, make_product: Any, db: Any, runtime: Any
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    await api.ok(START_WITH, {"a": ADDRESS, "key": "k-one"}, token=customer.token)
    first = await db.fetchrow("SELECT holder_pid, holder_started FROM idempotency_keys WHERE key = 'k-one'")
    holder = await runtime.db.holder.identity()
    assert (first["holder_pid"], first["holder_started"]) == (holder.pid, holder.started)
    assert (
        await db.fetchval("SELECT application_name FROM pg_stat_activity WHERE pid = $1", holder.pid)
        == "kapda-gql holder"
    )
    # The database drops the holder (a restart, an operator): the next claim opens a new one.
    assert await db.fetchval("SELECT pg_terminate_backend($1)", holder.pid)
    await asyncio.sleep(0.2)
    await api.ok(START_WITH, {"a": ADDRESS, "key": "k-two"}, token=customer.token)
    second = await db.fetchval("SELECT holder_pid FROM idempotency_keys WHERE key = 'k-two'")
    assert second not in (None, holder.pid)
    assert await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", second) == 1


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "bad\nkey"])
async def test_malformed_keys_are_bad_user_input(
    api: Any, make_user: Any, make_product: Any, db: Any, key: str
) -> None:
    customer, _ = await _customer_with_cart(api, make_user, make_product)
    error = await api.error(START_WITH, {"a": ADDRESS, "key": key}, token=customer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["idempotencyKey"]
    assert await db.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_one_payment_never_pays_for_a_second_checkout(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any, runtime: Any
) -> None:
    customer, vid = await _customer_with_cart(api, make_user, make_product)
    first = await start(api, customer.token)
    payment = await pay(sandbox.base_url, first["razorpayOrderId"])
    assert code(await finish(api, customer.token, first, payment)) is None
    await api.ok(ADD, {"v": vid, "q": 1}, token=customer.token)
    second = await start(api, customer.token)

    # Through the API, even with a signature that verifies for the second order.
    forged = {
        "razorpay_order_id": second["razorpayOrderId"],
        "razorpay_payment_id": payment["razorpay_payment_id"],
        "razorpay_signature": sign(second["razorpayOrderId"], payment["razorpay_payment_id"]),
    }
    assert code(await finish(api, customer.token, second, forged)) == "PAYMENT_VERIFICATION_FAILED"

    # Below the checks, the way the webhook path completes a session: the unique constraint holds.
    gateway_payment = await runtime.gateway.fetch_payment(payment["razorpay_payment_id"])
    actor = Actor(user_id=customer.id, role=Role.CUSTOMER)
    with pytest.raises(PaymentVerificationFailed):
        await checkout_service.complete_paid_checkout(
            runtime.db.uow(), runtime.gateway, actor, uuid.UUID(second["id"]), gateway_payment
        )
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 9
    assert (
        await db.fetchval("SELECT status FROM checkout_sessions WHERE id = $1", uuid.UUID(second["id"]))
        == "OPEN"
    )
    assert await db.fetchval("SELECT count(*) FROM cart_lines") == 1

    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(
            "INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, amount, currency, status) "
            "VALUES ($1, $2, $3, 99900, 'INR', 'CAPTURED')",
            payment["razorpay_payment_id"],
            second["razorpayOrderId"],
            uuid.UUID(second["id"]),
        )


async def test_completing_one_session_twice_makes_one_order(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any, runtime: Any
) -> None:
    """The mutation and the webhook racing for one session: whoever comes first makes the order."""
    customer, vid = await _customer_with_cart(api, make_user, make_product)
    session = await start(api, customer.token)
    payment = await pay(sandbox.base_url, session["razorpayOrderId"], outcome="captured")
    gateway_payment = await runtime.gateway.fetch_payment(payment["razorpay_payment_id"])
    actor = Actor(user_id=customer.id, role=Role.CUSTOMER)
    system = Actor.system_actor("webhook")
    orders = await asyncio.gather(
        checkout_service.complete_paid_checkout(
            runtime.db.uow(), runtime.gateway, actor, uuid.UUID(session["id"]), gateway_payment
        ),
        checkout_service.complete_paid_checkout(
            runtime.db.uow(), runtime.gateway, system, uuid.UUID(session["id"]), gateway_payment
        ),
        finish(api, customer.token, session, payment),
    )
    assert orders[0].id == orders[1].id == int(orders[2]["data"]["checkout"]["id"])
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 9
    assert sandbox.state.refunds_for_payment(payment["razorpay_payment_id"]) == []


async def test_a_second_payment_for_a_completed_checkout_is_refunded(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any, runtime: Any
) -> None:
    """Razorpay lets a customer pay one order twice (two tabs); only one payment becomes the order, the
    others are refunded and answered CHECKOUT_EXPIRED."""
    customer, vid = await _customer_with_cart(api, make_user, make_product)
    session = await start(api, customer.token)
    order_id = session["razorpayOrderId"]
    first, second, third = [await pay(sandbox.base_url, order_id, outcome="authorized") for _ in range(3)]
    body = await finish(api, customer.token, session, first)
    made = body["data"]["checkout"]["id"]
    amount = session["amount"]["amount"]

    # The second, captured elsewhere (the dashboard), is presented to the mutation.
    await runtime.gateway.capture_payment(second["razorpay_payment_id"], amount=amount, currency="INR")
    again = await finish(api, customer.token, session, second)
    assert code(again) == "CHECKOUT_EXPIRED"
    # The third reaches the shared completion path, as the webhook would deliver it.
    await runtime.gateway.capture_payment(third["razorpay_payment_id"], amount=amount, currency="INR")
    payment = await runtime.gateway.fetch_payment(third["razorpay_payment_id"])
    with pytest.raises(CheckoutExpired):
        await checkout_service.complete_paid_checkout(
            runtime.db.uow(),
            runtime.gateway,
            Actor.system_actor("webhook"),
            uuid.UUID(session["id"]),
            payment,
        )
    assert await db.fetchval("SELECT count(*) FROM orders WHERE id = $1", int(made)) == 1

    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 9
    assert sandbox.state.payments[first["razorpay_payment_id"]]["amount_refunded"] == 0
    for p in (second, third):
        assert sandbox.state.payments[p["razorpay_payment_id"]]["amount_refunded"] == amount
    reasons = await db.fetch("SELECT reason, status FROM refunds ORDER BY id")
    assert [tuple(r) for r in reasons] == [("duplicate_payment", "PROCESSED")] * 2
