"""Part of an order: cancelOrderItems and returnOrderItems through the real service, their refunds
in the sandbox, the stock, the commissions, the audit log; races of real concurrent transactions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from kapda_gql.domain.enums import OrderStatus
from kapda_gql.payments import refunds
from tests.support.documents import PARCEL, TRANSITION

ORDER_FIELDS = """
  id status paymentStatus canceledAt refundedAt
  refundedTotal { amount } tracking { carrier number url }
  items { id sku quantity unitPrice { amount } lineTotal { amount }
          canceledQuantity returnedQuantity refundedAmount { amount } }
  refunds { id amount { amount } status reason razorpayRefundId createdAt processedAt }
  statusHistory { from to note }
"""
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
CANCEL = f"""mutation($id: ID!, $lines: [OrderItemQuantity!]!, $note: String) {{
  cancelOrderItems(input: {{orderId: $id, lines: $lines, note: $note}}) {{ {ORDER_FIELDS} }} }}"""
RETURN = f"""mutation($id: ID!, $lines: [OrderItemQuantity!]!, $restock: Boolean!, $note: String) {{
  returnOrderItems(input: {{orderId: $id, lines: $lines, restock: $restock, note: $note}}) {{ {ORDER_FIELDS} }} }}"""
STATS = """query($d: ID) { designerStats(designerId: $d) { ordersCount unitsSold grossSales { amount }
  commissionPending { amount } commissionEarned { amount } commissionReversed { amount } } }"""

S_PRICE, M_PRICE, OTHER_PRICE = 100000, 120000, 50000  # the shop fixture's prices
RATE = 2000  # the designers' default commission rate (basis points)


async def _order(api: Any, shop: dict[str, Any], order_id: str) -> dict[str, Any]:
    return dict((await api.ok(ORDER, {"id": order_id}, token=shop["admin"].token))["order"])


async def _placed(api: Any, shop: dict[str, Any], place_order: Any, lines: list[tuple[int, int]]) -> Any:
    placed = await place_order(shop["alice"], lines)
    order = await _order(api, shop, placed["id"])
    return placed, order, [item["id"] for item in order["items"]]


async def _stock(db: Any, variant_id: int) -> int:
    return int(await db.fetchval("SELECT stock FROM variants WHERE id = $1", variant_id))


async def _deliver(api: Any, shop: dict[str, Any], order_id: str) -> None:
    for to in ("PROCESSING", "SHIPPED", "DELIVERED"):
        parcel = PARCEL if to == "SHIPPED" else None
        await api.ok(TRANSITION, {"id": order_id, "to": to, "tracking": parcel}, token=shop["admin"].token)


def _line(order: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(i for i in order["items"] if i["id"] == item_id)


async def test_cancelling_one_unit_restocks_refunds_and_reverses_its_commission(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (s_line, m_line) = await _placed(api, shop, place_order, [(s_id, 2), (m_id, 1)])
    assert await _stock(db, s_id) == 8

    body = await api.ok(
        CANCEL,
        {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}], "note": "one too many"},
        token=shop["alice"].token,
    )
    order = body["cancelOrderItems"]
    assert order["status"] == "PENDING"  # one unit of each line is still open
    assert order["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert order["refundedAt"] is not None
    assert order["refundedTotal"] == {"amount": S_PRICE}
    line = _line(order, s_line)
    assert (line["canceledQuantity"], line["returnedQuantity"], line["refundedAmount"]) == (
        1,
        0,
        {"amount": S_PRICE},
    )
    assert _line(order, m_line)["canceledQuantity"] == 0
    [refund] = order["refunds"]
    assert (refund["amount"], refund["status"], refund["reason"]) == (
        {"amount": S_PRICE},
        "PROCESSED",
        "items_canceled",
    )
    assert refund["processedAt"] is not None
    # Razorpay holds exactly that partial refund, under the id the order shows.
    [at_razorpay] = sandbox.state.refunds_for_payment(placed["payment_id"])
    assert (at_razorpay["id"], at_razorpay["amount"]) == (refund["razorpayRefundId"], S_PRICE)
    assert await _stock(db, s_id) == 9 and await _stock(db, m_id) == 9
    commission = await db.fetchrow(
        "SELECT amount, reversed_amount, status FROM commissions WHERE order_item_id = $1", int(s_line)
    )
    assert dict(commission) == {
        "amount": 2 * S_PRICE * RATE // 10000,
        "reversed_amount": S_PRICE * RATE // 10000,
        "status": "PENDING",
    }
    audit = await db.fetchrow(
        "SELECT actor_id, changes FROM audit_entries WHERE action = 'order.items_canceled' AND target_id = $1",
        placed["id"],
    )
    changes = json.loads(audit["changes"])
    assert audit["actor_id"] == shop["alice"].id
    assert changes["lines"] == [
        {
            "orderItemId": int(s_line),
            "quantity": 1,
            "amount": S_PRICE,
            "commissionReversed": S_PRICE * RATE // 10000,
        }
    ]
    assert changes["restocked"] == {"reason": "CANCEL_RESTOCK", "variants": {str(s_id): 1}}
    assert changes["refund"]["amount"] == S_PRICE and changes["note"] == "one too many"
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_entries ORDER BY id")]
    assert actions[-3:] == ["refund.requested", "order.items_canceled", "refund.processed"]


async def test_cancelling_every_open_unit_cancels_the_order(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (s_line, m_line) = await _placed(api, shop, place_order, [(s_id, 2), (m_id, 1)])
    admin = shop["admin"].token
    await api.ok(CANCEL, {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]}, token=admin)
    body = await api.ok(
        CANCEL,
        {
            "id": placed["id"],
            "lines": [{"orderItemId": s_line, "quantity": 1}, {"orderItemId": m_line, "quantity": 1}],
        },
        token=admin,
    )
    order = body["cancelOrderItems"]
    assert order["status"] == "CANCELED" and order["canceledAt"] is not None
    assert order["paymentStatus"] == "REFUNDED"
    assert order["refundedTotal"] == {"amount": 2 * S_PRICE + M_PRICE}
    assert order["statusHistory"][-1] == {"from": "PENDING", "to": "CANCELED", "note": None}
    assert [r["amount"] for r in sandbox.state.refunds_for_payment(placed["payment_id"])] == [
        S_PRICE,
        S_PRICE + M_PRICE,
    ]
    assert await _stock(db, s_id) == 10 and await _stock(db, m_id) == 10
    rows = await db.fetch("SELECT amount, reversed_amount, status FROM commissions")
    assert {r["status"] for r in rows} == {"REVERSED"}
    assert all(r["amount"] == r["reversed_amount"] for r in rows)
    # A cancelled order has nothing left to cancel.
    error = await api.error(
        CANCEL, {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]}, token=admin
    )
    assert error["extensions"]["code"] == "INVALID_TRANSITION"


async def test_a_whole_order_cancel_after_a_line_cancel_refunds_and_restocks_only_what_is_left(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (_s_line, m_line) = await _placed(api, shop, place_order, [(s_id, 3), (m_id, 2)])
    await api.ok(
        CANCEL,
        {"id": placed["id"], "lines": [{"orderItemId": m_line, "quantity": 1}]},
        token=shop["alice"].token,
    )
    body = await api.ok(TRANSITION, {"id": placed["id"], "to": "CANCELED"}, token=shop["alice"].token)
    assert body["transitionOrder"]["paymentStatus"] == "REFUNDED"
    assert [r["amount"] for r in sandbox.state.refunds_for_payment(placed["payment_id"])] == [
        M_PRICE,
        3 * S_PRICE + M_PRICE,
    ]
    assert await _stock(db, s_id) == 10 and await _stock(db, m_id) == 10  # the cancelled unit once
    order = await _order(api, shop, placed["id"])
    assert [(i["canceledQuantity"], i["refundedAmount"]["amount"]) for i in order["items"]] == [
        (3, 3 * S_PRICE),
        (2, 2 * M_PRICE),
    ]
    assert order["refundedTotal"] == {"amount": 3 * S_PRICE + 2 * M_PRICE}
    payment = await db.fetchrow("SELECT amount, refunded_amount FROM payments")
    refunded = await db.fetchval("SELECT sum(amount) FROM refunds WHERE status = 'PROCESSED'")
    assert payment["amount"] == payment["refunded_amount"] == refunded


async def test_quantities_beyond_what_is_open_name_the_line_and_change_nothing(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (s_line, m_line) = await _placed(api, shop, place_order, [(s_id, 2), (m_id, 1)])
    await api.ok(
        CANCEL,
        {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]},
        token=shop["alice"].token,
    )
    before = (
        await _stock(db, s_id),
        await _stock(db, m_id),
        await db.fetchval("SELECT count(*) FROM refunds"),
    )

    async def fields(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
        error = await api.error(CANCEL, {"id": placed["id"], "lines": lines}, token=shop["alice"].token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        return list(error["extensions"]["fields"])

    # Two units were bought and one is already cancelled: two more is one too many.
    got = await fields([{"orderItemId": m_line, "quantity": 1}, {"orderItemId": s_line, "quantity": 2}])
    assert got == [{"field": "lines[1].quantity", "message": "only 1 of this line's units are open"}]
    got = await fields([{"orderItemId": s_line, "quantity": 0}])
    assert got == [{"field": "lines[0].quantity", "message": "must be at least 1"}]
    other = await place_order(shop["bob"], [(s_id, 1)])
    other_line = (await _order(api, shop, other["id"]))["items"][0]["id"]
    got = await fields([{"orderItemId": other_line, "quantity": 1}])
    assert got == [{"field": "lines[0].orderItemId", "message": "is not a line of this order"}]
    got = await fields([{"orderItemId": m_line, "quantity": 1}, {"orderItemId": m_line, "quantity": 1}])
    assert got == [{"field": "lines[1].orderItemId", "message": "is named twice"}]
    assert await fields([]) == [{"field": "lines", "message": "must name at least one line"}]
    # Nothing moved but bob's purchase of one unit.
    assert (await _stock(db, s_id), await _stock(db, m_id)) == (before[0] - 1, before[1])
    assert await db.fetchval("SELECT count(*) FROM refunds") == before[2]
    assert await db.fetchval("SELECT canceled_quantity FROM order_items WHERE id = $1", int(s_line)) == 1


async def test_a_line_change_in_the_wrong_state_is_an_invalid_transition(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    s_id = shop["product"]["variant_ids"][0]
    placed, _, (s_line,) = await _placed(api, shop, place_order, [(s_id, 2)])
    lines = [{"orderItemId": s_line, "quantity": 1}]
    for status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        await db.execute("UPDATE orders SET status = $2 WHERE id = $1", int(placed["id"]), status.value)
        error = await api.error(CANCEL, {"id": placed["id"], "lines": lines}, token=shop["admin"].token)
        assert error["extensions"]["code"] == "INVALID_TRANSITION"
        assert (error["extensions"]["from"], error["extensions"]["allowed"]) == (
            status.value,
            ["PENDING", "PROCESSING"],
        )
    for status in (OrderStatus.PENDING, OrderStatus.SHIPPED):
        await db.execute("UPDATE orders SET status = $2 WHERE id = $1", int(placed["id"]), status.value)
        error = await api.error(
            RETURN, {"id": placed["id"], "lines": lines, "restock": True}, token=shop["admin"].token
        )
        assert error["extensions"]["code"] == "INVALID_TRANSITION"
        assert error["extensions"]["allowed"] == ["DELIVERED"]
    assert await db.fetchval("SELECT canceled_quantity + returned_quantity FROM order_items") == 0


async def test_who_may_change_lines(api: Any, db: Any, shop: dict[str, Any], place_order: Any) -> None:
    s_id = shop["product"]["variant_ids"][0]
    placed, _, (s_line,) = await _placed(api, shop, place_order, [(s_id, 3)])
    lines = [{"orderItemId": s_line, "quantity": 1}]

    async def code(document: str, token: str | None, **extra: Any) -> str | None:
        body = await api(document, {"id": placed["id"], "lines": lines, **extra}, token=token)
        return body["errors"][0]["extensions"]["code"] if body.get("errors") else None

    assert await code(CANCEL, None) == "UNAUTHENTICATED"
    assert await code(CANCEL, shop["bob"].token) == "NOT_FOUND"  # another customer's order is not there
    assert await code(CANCEL, shop["designer"].token) == "NOT_FOUND"
    assert await code(CANCEL, shop["alice"].token) is None
    assert await code(CANCEL, shop["admin"].token) is None
    await db.execute("UPDATE orders SET status = 'DELIVERED' WHERE id = $1", int(placed["id"]))
    assert (
        await code(RETURN, shop["alice"].token, restock=True) == "FORBIDDEN"
    )  # its own, but staff record returns
    assert await code(RETURN, shop["bob"].token, restock=True) == "NOT_FOUND"
    assert await code(RETURN, shop["admin"].token, restock=True) is None
    row = await db.fetchrow("SELECT canceled_quantity, returned_quantity FROM order_items")
    assert (row["canceled_quantity"], row["returned_quantity"]) == (2, 1)


async def test_returns_refund_reverse_earned_commission_and_restock_only_when_asked(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (s_line, m_line) = await _placed(api, shop, place_order, [(s_id, 2), (m_id, 1)])
    await _deliver(api, shop, placed["id"])
    admin = shop["admin"].token
    body = await api.ok(
        RETURN,
        {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}], "restock": False},
        token=admin,
    )
    order = body["returnOrderItems"]
    assert (order["status"], order["paymentStatus"]) == ("DELIVERED", "PARTIALLY_REFUNDED")
    assert _line(order, s_line)["returnedQuantity"] == 1
    assert order["refunds"][-1]["reason"] == "items_returned"
    assert await _stock(db, s_id) == 8  # a damaged return stays off the shelf
    row = await db.fetchrow(
        "SELECT status, reversed_amount FROM commissions WHERE order_item_id = $1", int(s_line)
    )
    assert (row["status"], row["reversed_amount"]) == ("EARNED", S_PRICE * RATE // 10000)

    body = await api.ok(
        RETURN,
        {
            "id": placed["id"],
            "lines": [{"orderItemId": s_line, "quantity": 1}, {"orderItemId": m_line, "quantity": 1}],
            "restock": True,
        },
        token=admin,
    )
    order = body["returnOrderItems"]
    assert (order["status"], order["paymentStatus"]) == ("REFUNDED", "REFUNDED")
    assert order["refundedTotal"] == {"amount": 2 * S_PRICE + M_PRICE}
    assert await _stock(db, s_id) == 9 and await _stock(db, m_id) == 10
    assert {r["status"] for r in await db.fetch("SELECT status FROM commissions")} == {"REVERSED"}
    assert [r["amount"] for r in sandbox.state.refunds_for_payment(placed["payment_id"])] == [
        S_PRICE,
        S_PRICE + M_PRICE,
    ]
    changes = json.loads(
        await db.fetchval(
            "SELECT changes FROM audit_entries WHERE action = 'order.items_returned' ORDER BY id DESC LIMIT 1"
        )
    )
    assert changes["restocked"]["reason"] == "RETURN_RESTOCK"
    restocks = await db.fetch(
        "SELECT variant_id, reason, delta, stock_after, note FROM stock_movements WHERE reason LIKE '%RESTOCK' ORDER BY id"
    )
    # The first return was left off the shelf: only the second one's units are movements.
    assert [tuple(r) for r in restocks] == [
        (s_id, "RETURN_RESTOCK", 1, 9, None),
        (m_id, "RETURN_RESTOCK", 1, 10, None),
    ]
    assert changes["status"] == {"from": "DELIVERED", "to": "REFUNDED"}


async def test_ten_concurrent_cancels_of_one_unit_refund_it_once(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    placed, _, (s_line, _m) = await _placed(api, shop, place_order, [(s_id, 1), (m_id, 1)])
    lines = [{"orderItemId": s_line, "quantity": 1}]
    bodies = await asyncio.gather(
        *(api(CANCEL, {"id": placed["id"], "lines": lines}, token=shop["alice"].token) for _ in range(10))
    )
    winners = [b for b in bodies if not b.get("errors")]
    assert len(winners) == 1
    assert {b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")} == {"BAD_USER_INPUT"}
    assert [r["amount"] for r in sandbox.state.refunds_for_payment(placed["payment_id"])] == [S_PRICE]
    assert await db.fetchval("SELECT count(*) FROM refunds") == 1
    assert await _stock(db, s_id) == 10
    assert await db.fetchval("SELECT canceled_quantity FROM order_items WHERE id = $1", int(s_line)) == 1


async def test_the_database_keeps_an_orders_refunds_within_its_capture(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    s_id = shop["product"]["variant_ids"][0]
    placed, _, (s_line,) = await _placed(api, shop, place_order, [(s_id, 2)])
    await api.ok(
        CANCEL,
        {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]},
        token=shop["alice"].token,
    )
    payment = await db.fetchrow("SELECT id, order_id, amount FROM payments")
    # One unit is refunded; a refund of the other unit and a paisa more is refused at COMMIT.
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        async with db.transaction():
            await db.execute(
                "INSERT INTO refunds (payment_id, order_id, amount, currency, reason, idempotency_key)"
                " VALUES ($1, $2, $3, 'INR', 'test', 'kapda-refund-too-much')",
                payment["id"],
                payment["order_id"],
                payment["amount"] - S_PRICE + 1,
            )
    assert raised.value.constraint_name == "ck_refunds_within_capture"
    assert await db.fetchval("SELECT count(*) FROM refunds") == 1
    # Exactly what is left goes through: the whole-order cancel asks for that, and Razorpay agrees.
    await api.ok(TRANSITION, {"id": placed["id"], "to": "CANCELED"}, token=shop["alice"].token)
    assert (
        sum(r["amount"] for r in sandbox.state.refunds_for_payment(placed["payment_id"])) == payment["amount"]
    )


async def test_payment_status_waits_for_every_pending_refund(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    s_id = shop["product"]["variant_ids"][0]
    placed, _, (s_line,) = await _placed(api, shop, place_order, [(s_id, 3)])
    sandbox.state.refund_status = "pending"  # the bank takes its time
    lines = [{"orderItemId": s_line, "quantity": 1}]
    for _ in range(2):
        body = await api.ok(CANCEL, {"id": placed["id"], "lines": lines}, token=shop["alice"].token)
    order = body["cancelOrderItems"]
    assert order["paymentStatus"] == "REFUND_PENDING" and order["refundedAt"] is None
    assert [r["status"] for r in order["refunds"]] == ["PENDING", "PENDING"]
    assert order["refundedTotal"] == {"amount": 0}
    first, second = (r["razorpayRefundId"] for r in order["refunds"])
    sandbox.state.settle_refund(first, "processed")
    await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    order = await _order(api, shop, placed["id"])
    assert order["paymentStatus"] == "REFUND_PENDING"  # the second is still on its way
    assert order["refundedTotal"] == {"amount": S_PRICE} and order["refundedAt"] is not None
    sandbox.state.settle_refund(second, "processed")
    await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    order = await _order(api, shop, placed["id"])
    assert order["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert order["refundedAt"] == max(r["processedAt"] for r in order["refunds"])


async def test_a_failed_refund_no_longer_counts_against_the_capture(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any
) -> None:
    s_id = shop["product"]["variant_ids"][0]
    placed, _, (s_line,) = await _placed(api, shop, place_order, [(s_id, 2)])
    sandbox.state.refund_status = "pending"
    order = (
        await api.ok(
            CANCEL,
            {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]},
            token=shop["alice"].token,
        )
    )["cancelOrderItems"]
    sandbox.state.settle_refund(order["refunds"][0]["razorpayRefundId"], "failed")
    await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert await db.fetchval("SELECT status FROM refunds") == "FAILED"
    sandbox.state.refund_status = "processed"
    # The whole-order cancel gives back everything, the unit whose refund failed included.
    await api.ok(TRANSITION, {"id": placed["id"], "to": "CANCELED"}, token=shop["alice"].token)
    assert [(r["amount"], r["status"]) for r in sandbox.state.refunds_for_payment(placed["payment_id"])] == [
        (S_PRICE, "failed"),
        (2 * S_PRICE, "processed"),
    ]
    assert await db.fetchval("SELECT payment_status FROM orders") == "REFUNDED"


async def test_an_order_of_three_lines_through_a_cancel_shipping_delivery_and_a_return(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any
) -> None:
    """The issue's walk: the order, Razorpay's refunds, the stock ledger and both designers agree."""
    s_id, m_id = shop["product"]["variant_ids"]
    o_id = shop["other"]["variant_ids"][0]
    placed, _, (s_line, _m_line, o_line) = await _placed(
        api, shop, place_order, [(s_id, 2), (m_id, 1), (o_id, 1)]
    )
    admin = shop["admin"].token
    await api.ok(CANCEL, {"id": placed["id"], "lines": [{"orderItemId": s_line, "quantity": 1}]}, token=admin)
    await api.ok(TRANSITION, {"id": placed["id"], "to": "PROCESSING"}, token=admin)
    shipped = await api.ok(TRANSITION, {"id": placed["id"], "to": "SHIPPED", "tracking": PARCEL}, token=admin)
    assert shipped["transitionOrder"]["shippedAt"] is not None
    await api.ok(TRANSITION, {"id": placed["id"], "to": "DELIVERED"}, token=admin)
    await api.ok(
        RETURN,
        {
            "id": placed["id"],
            "lines": [{"orderItemId": o_line, "quantity": 1}],
            "restock": False,
            "note": "torn",
        },
        token=admin,
    )

    # The customer's own view of its order.
    order = (await api.ok(ORDER, {"id": placed["id"]}, token=shop["alice"].token))["order"]
    assert (order["status"], order["paymentStatus"]) == ("DELIVERED", "PARTIALLY_REFUNDED")
    assert order["tracking"] == PARCEL
    assert order["refundedTotal"] == {"amount": S_PRICE + OTHER_PRICE}
    assert [
        (i["canceledQuantity"], i["returnedQuantity"], i["refundedAmount"]["amount"]) for i in order["items"]
    ] == [
        (1, 0, S_PRICE),
        (0, 0, 0),
        (0, 1, OTHER_PRICE),
    ]
    assert [(r["amount"]["amount"], r["status"], r["reason"]) for r in order["refunds"]] == [
        (S_PRICE, "PROCESSED", "items_canceled"),
        (OTHER_PRICE, "PROCESSED", "items_returned"),
    ]
    # Razorpay holds the same two refunds.
    at_razorpay = sandbox.state.refunds_for_payment(placed["payment_id"])
    assert [(r["id"], r["amount"], r["status"]) for r in at_razorpay] == [
        (r["razorpayRefundId"], r["amount"]["amount"], "processed") for r in order["refunds"]
    ]

    # The ledger: two units sold and one back for S, the M sale, the torn return left off the shelf.
    async def ledger(variant_id: int) -> list[tuple[str, int]]:
        rows = await db.fetch(
            "SELECT reason, delta FROM stock_movements WHERE variant_id = $1 AND order_id IS NOT NULL"
            " OR variant_id = $1 AND reason = 'SALE' ORDER BY id",
            variant_id,
        )
        return [(r["reason"], r["delta"]) for r in rows]

    assert await ledger(s_id) == [("SALE", -2), ("CANCEL_RESTOCK", 1)]
    assert await ledger(m_id) == [("SALE", -1)]
    assert await ledger(o_id) == [("SALE", -1)]
    for variant_id, expected in ((s_id, 9), (m_id, 9), (o_id, 9)):
        stock = await _stock(db, variant_id)
        assert stock == expected
        assert (
            await db.fetchval("SELECT sum(delta) FROM stock_movements WHERE variant_id = $1", variant_id)
            == stock
        )
    # The designers: what still counts, what was earned, what was taken back.
    mine = (await api.ok(STATS, {"d": None}, token=shop["designer"].token))["designerStats"]
    assert mine == {
        "ordersCount": 1,
        "unitsSold": 2,
        "grossSales": {"amount": S_PRICE + M_PRICE},
        "commissionPending": {"amount": 0},
        "commissionEarned": {"amount": (S_PRICE + M_PRICE) * RATE // 10000},
        "commissionReversed": {"amount": S_PRICE * RATE // 10000},
    }
    theirs = (await api.ok(STATS, {"d": None}, token=shop["other_designer"].token))["designerStats"]
    # Its only line was returned in full: the order is no longer a sale of theirs.
    assert (
        theirs["ordersCount"],
        theirs["unitsSold"],
        theirs["grossSales"],
        theirs["commissionEarned"],
        theirs["commissionReversed"],
    ) == (
        0,
        0,
        {"amount": 0},
        {"amount": 0},
        {"amount": OTHER_PRICE * RATE // 10000},
    )
    sales = """{ designerOrders { edges { node { number items { id canceledQuantity returnedQuantity }
      itemsTotal { amount } commission { amount } commissionReversed { amount } } } } }"""
    (mine_order,) = [
        e["node"] for e in (await api.ok(sales, token=shop["designer"].token))["designerOrders"]["edges"]
    ]
    assert mine_order["commission"] == {"amount": (S_PRICE + M_PRICE) * RATE // 10000}
    assert mine_order["commissionReversed"] == {"amount": S_PRICE * RATE // 10000}
    assert [(i["canceledQuantity"], i["returnedQuantity"]) for i in mine_order["items"]] == [(1, 0), (0, 0)]
    (their_order,) = [
        e["node"]
        for e in (await api.ok(sales, token=shop["other_designer"].token))["designerOrders"]["edges"]
    ]
    assert (their_order["commission"], their_order["commissionReversed"]) == (
        {"amount": 0},
        {"amount": OTHER_PRICE * RATE // 10000},
    )
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_entries WHERE target_type = 'Order' AND target_id = $1 ORDER BY id",
            placed["id"],
        )
    ]
    assert actions == [
        "order.created",
        "order.items_canceled",
        "order.transitioned",
        "order.transitioned",
        "order.transitioned",
        "order.items_returned",
    ]


async def test_shipping_takes_the_parcels_tracking(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    placed = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    admin = shop["admin"].token
    error = await api.error(
        TRANSITION, {"id": placed["id"], "to": "PROCESSING", "tracking": PARCEL}, token=admin
    )
    assert error["extensions"]["fields"] == [{"field": "tracking", "message": "goes only with SHIPPED"}]
    await api.ok(TRANSITION, {"id": placed["id"], "to": "PROCESSING"}, token=admin)
    error = await api.error(TRANSITION, {"id": placed["id"], "to": "SHIPPED"}, token=admin)
    assert (error["extensions"]["code"], error["extensions"]["fields"][0]["field"]) == (
        "BAD_USER_INPUT",
        "tracking",
    )
    bad = {"carrier": " ", "number": "AB\n12", "url": "javascript:alert(1)"}
    error = await api.error(TRANSITION, {"id": placed["id"], "to": "SHIPPED", "tracking": bad}, token=admin)
    assert [f["field"] for f in error["extensions"]["fields"]] == [
        "tracking.carrier",
        "tracking.number",
        "tracking.url",
    ]
    assert await db.fetchval("SELECT status FROM orders") == "PROCESSING"
    parcel = {"carrier": " Blue Dart ", "number": "BD-998877", "url": None}
    await api.ok(TRANSITION, {"id": placed["id"], "to": "SHIPPED", "tracking": parcel}, token=admin)
    order = (await api.ok(ORDER, {"id": placed["id"]}, token=shop["alice"].token))["order"]
    assert order["tracking"] == {"carrier": "Blue Dart", "number": "BD-998877", "url": None}
    changes = json.loads(
        await db.fetchval("SELECT changes FROM audit_entries WHERE changes->'status'->>'to' = 'SHIPPED'")
    )
    assert changes["tracking"] == {"carrier": "Blue Dart", "number": "BD-998877", "url": None}
