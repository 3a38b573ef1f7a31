"""Drill: Razorpay answering 5xx and timing out during refunds. The cancel answers at once with the
order REFUND_PENDING, the processor retries with backoff, and once Razorpay answers again each refund
is carried out exactly once (the same X-Refund-Idempotency key on every attempt); reconcile clean."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from kapda_gql.payments import refunds
from kapda_gql.payments.gateway import PaymentGateway
from kapda_gql.reconcile import checks, report
from tests.support.documents import TRANSITION

ORDERS = 2


async def test_refunds_through_5xx_and_timeouts_are_carried_out_once(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, sandbox: Any, runtime: Any, database_url: str
) -> None:
    orders = [
        await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)]) for _ in range(ORDERS)
    ]
    sandbox.state.fail_next("refund", ORDERS, 503)
    for order in orders:
        body = await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["admin"].token)
        assert body["transitionOrder"]["paymentStatus"] == "REFUND_PENDING"
    assert all(sandbox.state.refunds_for_payment(o["payment_id"]) == [] for o in orders)

    # Razorpay now answers too late: a gateway with a short deadline gives up, while the sandbox
    # still carries the refund out after its delay (the answer is lost, not the refund).
    impatient = PaymentGateway(
        key_id=sandbox.state.key_id,
        key_secret=sandbox.state.key_secret,
        webhook_secret=sandbox.state.webhook_secret,
        base_url=sandbox.base_url,
        timeout=0.5,
    )
    try:
        sandbox.state.delay_seconds = 1.0
        result = await refunds.process_due(runtime.db.uow, impatient, include_not_due=True)
        assert (result.processed, result.retrying) == (0, ORDERS)
    finally:
        impatient.close()
    rows = await db.fetch("SELECT status, attempts, last_error, next_attempt_at FROM refunds ORDER BY id")
    assert [r["status"] for r in rows] == ["PENDING"] * ORDERS
    assert [r["attempts"] for r in rows] == [2] * ORDERS  # the cancel's 5xx, then the timeout, once each
    # Backoff: nothing is due yet, so the processor leaves them alone.
    assert all(r["next_attempt_at"] > datetime.now(UTC) for r in rows)
    assert await refunds.process_due(runtime.db.uow, runtime.gateway) == refunds.ProcessResult(0, 0, 0)

    await asyncio.sleep(1.5)  # the delayed requests finish at the sandbox
    sandbox.state.delay_seconds = 0.0
    result = await refunds.process_due(runtime.db.uow, runtime.gateway, include_not_due=True)
    assert result.processed == ORDERS
    for order in orders:
        assert len(sandbox.state.refunds_for_payment(order["payment_id"])) == 1
    assert [r["payment_status"] for r in await db.fetch("SELECT payment_status FROM orders")] == [
        "REFUNDED"
    ] * ORDERS
    assert [r["status"] for r in await db.fetch("SELECT status FROM refunds")] == ["PROCESSED"] * ORDERS

    reconciled = await checks.run(database_url, runtime.gateway)
    assert reconciled.disagreements == 0, report.render(reconciled)
