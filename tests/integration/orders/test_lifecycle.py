"""transitionOrder: the table, role rules, side effects (stock, commissions, refunds), races."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kapda_gql.domain.enums import OrderStatus
from kapda_gql.domain.lifecycles import ORDER
from kapda_gql.payments import refunds
from tests.support.documents import PARCEL, TRANSITION


async def _order_in(db: Any, order_id: str, status: OrderStatus) -> None:
    """Put the order in ``status`` behind the service's back (to try a move from there, backwards
    too), with its lines and commissions where that status leaves them, so reconcile agrees."""
    await db.execute("UPDATE orders SET status = $2 WHERE id = $1", int(order_id), status.value)
    if status in (OrderStatus.CANCELED, OrderStatus.REFUNDED):
        closed = "canceled_quantity" if status is OrderStatus.CANCELED else "returned_quantity"
        await db.execute(
            f"UPDATE order_items SET {closed} = {closed} + quantity - canceled_quantity - returned_quantity"
            " WHERE order_id = $1",
            int(order_id),
        )
    commission = {
        OrderStatus.DELIVERED: "EARNED",
        OrderStatus.CANCELED: "REVERSED",
        OrderStatus.REFUNDED: "REVERSED",
    }.get(status, "PENDING")
    await db.execute(
        "UPDATE commissions SET status = $2::text,"
        " reversed_amount = CASE WHEN $2::text = 'REVERSED' THEN amount ELSE 0 END WHERE order_id = $1",
        int(order_id),
        commission,
    )


# The whole table (every pair, with its timestamps and side effects) is a unit test of the domain
# rules: tests/unit/domain/test_lifecycles.py. Here, a few moves through the real service show that
# it carries the table out: the status, its timestamp, the history row, the audit entry, and a
# refused move changing nothing.
STAMP = {
    "PROCESSING": "processingAt",
    "SHIPPED": "shippedAt",
    "DELIVERED": "deliveredAt",
    "CANCELED": "canceledAt",
    "REFUNDED": "refundedAt",
}


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.PROCESSING),
        (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
        (OrderStatus.DELIVERED, OrderStatus.REFUNDED),
        (OrderStatus.DELIVERED, OrderStatus.CANCELED),
        (OrderStatus.CANCELED, OrderStatus.PENDING),
        (OrderStatus.PROCESSING, OrderStatus.DELIVERED),
    ],
)
async def test_moves_of_the_transition_table(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, current: OrderStatus, target: OrderStatus
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    await _order_in(db, order["id"], current)
    body = await api(
        TRANSITION, {"id": order["id"], "to": target.value, "note": "by the book"}, token=shop["admin"].token
    )
    if ORDER.can(current, target):
        assert "errors" not in body, body
        result = body["data"]["transitionOrder"]
        assert result["status"] == target.value
        last = result["statusHistory"][-1]
        assert last == {
            "from": current.value,
            "to": target.value,
            "note": "by the book",
            # Staff appear by role; an admin sees which staff member it was.
            "actor": {
                "role": "ADMIN",
                "name": await db.fetchval("SELECT name FROM users WHERE id = $1", shop["admin"].id),
            },
        }
        assert result[STAMP[target.value]] is not None
        audit = await db.fetchrow(
            "SELECT action, changes, actor_id FROM audit_entries WHERE target_type = 'Order' ORDER BY id DESC LIMIT 1"
        )
        assert audit["actor_id"] == shop["admin"].id
        assert '"to": "%s"' % target.value in audit["changes"]
    else:
        error = body["errors"][0]
        assert error["extensions"]["code"] == "INVALID_TRANSITION"
        assert error["extensions"]["from"] == current.value
        assert error["extensions"]["to"] == target.value
        assert set(error["extensions"]["allowed"]) == {s.value for s in ORDER.allowed(current)}
        assert await db.fetchval("SELECT status FROM orders WHERE id = $1", int(order["id"])) == current.value
        assert (
            await db.fetchval(
                "SELECT count(*) FROM order_status_history WHERE order_id = $1", int(order["id"])
            )
            == 1
        )


async def test_a_customers_invalid_transition_names_only_what_it_may_do(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    alice = shop["alice"]
    order = await place_order(alice, [(shop["product"]["variant_ids"][0], 1)])

    async def error(to: str) -> dict[str, Any]:
        body = await api(TRANSITION, {"id": order["id"], "to": to}, token=alice.token)
        return dict(body["errors"][0]["extensions"])

    # The table would allow PROCESSING from PENDING, but the customer may only cancel.
    ext = await error("DELIVERED")
    assert (ext["code"], ext["from"], ext["to"], ext["allowed"]) == (
        "INVALID_TRANSITION",
        "PENDING",
        "DELIVERED",
        ["CANCELED"],
    )
    await _order_in(db, order["id"], OrderStatus.DELIVERED)
    ext = await error("CANCELED")  # the table allows only REFUNDED, which is the shop's to do
    assert ext["code"] == "INVALID_TRANSITION" and ext["allowed"] == []
    # The designer of a line does not see the order at all (its view of a sale is designerOrders).
    body = await api(TRANSITION, {"id": order["id"], "to": "PROCESSING"}, token=shop["designer"].token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # An admin is offered the table.
    body = await api(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["errors"][0]["extensions"]["allowed"] == ["REFUNDED"]


async def test_role_rules(api: Any, db: Any, shop: dict[str, Any], place_order: Any) -> None:
    alice, bob, designer = shop["alice"], shop["bob"], shop["designer"]
    order = await place_order(alice, [(shop["product"]["variant_ids"][0], 1)])
    oid = order["id"]

    async def code(token: str, to: str) -> str | None:
        body = await api(TRANSITION, {"id": oid, "to": to}, token=token)
        return body["errors"][0]["extensions"]["code"] if body.get("errors") else None

    assert await code(alice.token, "PROCESSING") == "FORBIDDEN"  # customers only cancel
    assert await code(bob.token, "CANCELED") == "NOT_FOUND"  # another customer's order reveals nothing
    assert await code(designer.token, "PROCESSING") == "NOT_FOUND"  # a designer of a line does not see it
    assert await code(shop["other_designer"].token, "PROCESSING") == "NOT_FOUND"
    body = await api(TRANSITION, {"id": oid, "to": "CANCELED"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await _order_in(db, oid, OrderStatus.SHIPPED)
    assert await code(alice.token, "CANCELED") == "FORBIDDEN"  # too late for the customer
    await _order_in(db, oid, OrderStatus.PROCESSING)
    assert await code(alice.token, "CANCELED") is None  # while PROCESSING the customer may cancel


async def test_cancel_before_shipment_restores_stock_and_refunds(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    order = await place_order(shop["alice"], [(s_id, 2), (m_id, 3)])
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", s_id) == 8
    body = await api(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["alice"].token)
    assert body["data"]["transitionOrder"]["status"] == "CANCELED"
    assert body["data"]["transitionOrder"]["paymentStatus"] == "REFUNDED"
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", s_id) == 10
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", m_id) == 10
    assert {r["status"] for r in await db.fetch("SELECT status FROM commissions")} == {"REVERSED"}
    assert [r["amount"] for r in sandbox.state.refunds_for_payment(order["payment_id"])] == [
        2 * 100000 + 3 * 120000
    ]
    assert (
        await db.fetchval("SELECT status FROM payments WHERE razorpay_payment_id = $1", order["payment_id"])
        == "REFUNDED"
    )


async def test_cancel_after_shipment_keeps_stock_but_refunds(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id = shop["product"]["variant_ids"][0]
    order = await place_order(shop["alice"], [(s_id, 2)])
    await _order_in(db, order["id"], OrderStatus.SHIPPED)
    body = await api(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["data"]["transitionOrder"]["paymentStatus"] == "REFUNDED"
    assert (
        await db.fetchval("SELECT stock FROM variants WHERE id = $1", s_id) == 8
    )  # the goods are on the road
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1


async def test_commissions_follow_the_order(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(
        shop["alice"], [(shop["product"]["variant_ids"][0], 1), (shop["other"]["variant_ids"][0], 2)]
    )
    rows = await db.fetch(
        "SELECT designer_id, amount, rate_bps, status FROM commissions ORDER BY designer_id"
    )
    assert [r["status"] for r in rows] == ["PENDING", "PENDING"]
    assert sorted(r["amount"] for r in rows) == sorted(
        [100000 * rows[0]["rate_bps"] // 10000, 100000 * rows[1]["rate_bps"] // 10000]
    )
    admin = shop["admin"].token
    for to in ("PROCESSING", "SHIPPED", "DELIVERED"):
        parcel = PARCEL if to == "SHIPPED" else None
        await api.ok(TRANSITION, {"id": order["id"], "to": to, "tracking": parcel}, token=admin)
    assert {r["status"] for r in await db.fetch("SELECT status FROM commissions")} == {"EARNED"}
    body = await api.ok(TRANSITION, {"id": order["id"], "to": "REFUNDED"}, token=admin)
    assert body["transitionOrder"]["paymentStatus"] == "REFUNDED"
    # A refund after delivery takes back what the designers had earned.
    assert {r["status"] for r in await db.fetch("SELECT status FROM commissions")} == {"REVERSED"}


async def test_cancel_reverses_pending_commissions(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert {r["status"] for r in await db.fetch("SELECT status FROM commissions")} == {"REVERSED"}


async def test_two_admins_racing_on_one_order(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, make_user: Any
) -> None:
    second_admin = await make_user("ADMIN")
    for _ in range(5):
        order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
        a, b = await asyncio.gather(
            api(TRANSITION, {"id": order["id"], "to": "PROCESSING"}, token=shop["admin"].token),
            api(TRANSITION, {"id": order["id"], "to": "PROCESSING"}, token=second_admin.token),
        )
        outcomes = sorted("errors" in x for x in (a, b))
        assert outcomes == [False, True]
        loser = a if "errors" in a else b
        assert loser["errors"][0]["extensions"]["code"] == "INVALID_TRANSITION"
        assert loser["errors"][0]["extensions"]["from"] == "PROCESSING"
        assert (
            await db.fetchval(
                "SELECT count(*) FROM order_status_history WHERE order_id = $1", int(order["id"])
            )
            == 2
        )


async def test_refund_survives_gateway_failure_and_is_retried_once(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    sandbox.state.fail_next("refund", 1)
    body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["alice"].token)
    assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    row = await db.fetchrow("SELECT status, attempts, last_error FROM refunds")
    assert row["status"] == "PENDING"
    assert row["attempts"] == 1
    assert row["last_error"]
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert result.processed == 1
    assert await db.fetchval("SELECT payment_status FROM orders") == "REFUNDED"
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1


async def test_one_processor_call_tries_each_refund_once(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    """`include_not_due` takes refunds whose backoff has not run out, but a refund tried (and failed)
    a moment ago by the same call is not claimed again: no second attempt counted, no second call."""
    orders = [await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)]) for _ in range(2)]
    sandbox.state.fail_next("refund", 4)
    for order in orders:
        body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
        assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    assert [r["attempts"] for r in await db.fetch("SELECT attempts FROM refunds ORDER BY id")] == [1, 1]
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert (result.processed, result.retrying) == (0, 2)
    assert [r["attempts"] for r in await db.fetch("SELECT attempts FROM refunds ORDER BY id")] == [2, 2]
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert result.processed == 2
    assert [r["attempts"] for r in await db.fetch("SELECT attempts FROM refunds ORDER BY id")] == [3, 3]
    for order in orders:
        assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1


async def test_refunded_at_is_when_the_refund_was_confirmed(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    """The contract: `refundedAt` is when the last refund was confirmed, whatever the order's status;
    an order that became REFUNDED while Razorpay has not carried the refund out has none yet."""
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    admin = shop["admin"].token
    for to in ("PROCESSING", "SHIPPED", "DELIVERED"):
        parcel = PARCEL if to == "SHIPPED" else None
        await api.ok(TRANSITION, {"id": order["id"], "to": to, "tracking": parcel}, token=admin)
    sandbox.state.fail_next("refund", 1)
    body = await api.ok(TRANSITION, {"id": order["id"], "to": "REFUNDED"}, token=admin)
    moved = body["transitionOrder"]
    assert (moved["status"], moved["paymentStatus"], moved["refundedAt"]) == (
        "REFUNDED",
        "REFUND_PENDING",
        None,
    )
    assert await db.fetchval("SELECT refunded_at FROM orders") is None
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert result.processed == 1
    row = await db.fetchrow(
        "SELECT o.payment_status, o.refunded_at, r.processed_at FROM orders o JOIN refunds r ON r.order_id = o.id"
    )
    assert row["payment_status"] == "REFUNDED"
    assert row["refunded_at"] is not None and row["refunded_at"] == row["processed_at"]


async def test_crash_between_commit_and_refund_call(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    """The refund happened at Razorpay but its answer was lost (as if we died right then):
    the outbox retries with the same idempotency key and Razorpay refunds exactly once."""
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    sandbox.state.fail_next("refund", 1, after_processing=True)
    body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1  # it did happen at Razorpay
    await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1  # and never twice
    assert await db.fetchval("SELECT payment_status FROM orders") == "REFUNDED"


async def test_refund_intent_recorded_but_never_sent_is_carried_out_by_the_processor(
    db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    """A process that dies right after COMMIT never calls Razorpay: the processor does it later."""
    from kapda_gql.domain.policy import Actor

    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    payment = await db.fetchrow("SELECT id, amount FROM payments")
    async with runtime.db.uow().orm() as uow:
        await refunds.request_refund(
            uow,
            Actor.system_actor("test"),
            payment_id=payment["id"],
            order_id=int(order["id"]),
            amount=payment["amount"],
            currency="INR",
            reason="test",
        )
        await uow.commit()
    assert sandbox.state.refunds_for_payment(order["payment_id"]) == []
    result = await refunds.process_due(runtime.db.uow, runtime.gateway)
    assert result.processed == 1
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1
    assert await db.fetchval("SELECT status FROM refunds") == "PROCESSED"
