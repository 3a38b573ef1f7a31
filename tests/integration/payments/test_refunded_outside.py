"""A refund made outside the service (Razorpay's dashboard), then a cancel: Razorpay refuses our
refund for good, and the outbox settles it from what Razorpay says was refunded, never retrying it
for ever."""

from __future__ import annotations

from typing import Any

import httpx

from kapda_gql.payments import refunds
from kapda_gql.reconcile import checks, report
from tests.support.documents import TRANSITION


async def _dashboard_refund(sandbox: Any, payment_id: str, amount: int | None = None) -> dict[str, Any]:
    """What an operator does in Razorpay's dashboard: a refund through Razorpay's own API."""
    body = {} if amount is None else {"amount": amount}
    async with httpx.AsyncClient(
        base_url=sandbox.base_url, auth=(sandbox.state.key_id, sandbox.state.key_secret)
    ) as client:
        response = await client.post(f"/v1/payments/{payment_id}/refund", json=body)
    assert response.status_code == 200, response.text
    refund: dict[str, Any] = response.json()
    return refund


async def test_cancel_after_a_full_dashboard_refund_settles_as_that_refund(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any, database_url: str
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    outside = await _dashboard_refund(sandbox, order["payment_id"])

    body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["transitionOrder"]["status"] == "CANCELED"
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert result.retrying == 0

    assert await db.fetchval("SELECT payment_status FROM orders") == "REFUNDED"
    rows = await db.fetch("SELECT status, razorpay_refund_id, amount FROM refunds")
    assert [(r["status"], r["razorpay_refund_id"]) for r in rows] == [("PROCESSED", outside["id"])]
    assert await db.fetchval("SELECT status FROM payments") == "REFUNDED"
    assert [r["id"] for r in sandbox.state.refunds_for_payment(order["payment_id"])] == [outside["id"]]
    audit = await db.fetchval(
        "SELECT changes ->> 'outside' FROM audit_entries WHERE action = 'refund.processed'"
    )
    assert audit == "true"

    reconciled = await checks.run(database_url, runtime.gateway)
    assert reconciled.disagreements == 0, report.render(reconciled)
    assert [row[4] for row in reconciled.notes["money.outside"]] == [outside["id"]]
    printed = report.render(reconciled)
    assert "money.outside (note): " in printed
    assert "1 noted" in printed
    assert "everything agrees" in printed


async def test_cancel_after_a_partial_dashboard_refund_fails_with_the_refusal_once(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any, database_url: str
) -> None:
    """Razorpay refunded only part of it: what is left cannot be refunded as asked, and nothing we
    hold covers it — FAILED with Razorpay's reason, for staff; not retried, not refunded twice."""
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    await _dashboard_refund(sandbox, order["payment_id"], amount=1000)

    body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
    assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    row = await db.fetchrow("SELECT status, attempts, last_error, razorpay_refund_id FROM refunds")
    assert row["status"] == "FAILED"
    assert "greater than the refund payment amount" in row["last_error"]
    assert row["razorpay_refund_id"] is None
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert (result.processed, result.failed, result.retrying) == (0, 0, 0)
    assert await db.fetchval("SELECT attempts FROM refunds") == row["attempts"]
    assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1

    reconciled = await checks.run(database_url, runtime.gateway)
    assert [r[1] for r in reconciled.rows["money.razorpay"]] == ["refunded outside the service"]
    assert len(reconciled.notes["money.outside"]) == 1
