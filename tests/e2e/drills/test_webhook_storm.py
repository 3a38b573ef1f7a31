"""Drill: the same webhooks delivered 20 times at once, in every order of their event types —
exactly one order, one stored event per id, and a clean reconcile (Razorpay asked too)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from kapda_gql.reconcile import checks, report
from tests.support.documents import ADD
from tests.support.flows import pay, start
from tests.support.webhooks import WEBHOOK, sandbox_event

TYPES = ("payment.captured", "order.paid")
COPIES = 20


@pytest.mark.parametrize("order", list(itertools.permutations(TYPES)))
async def test_twenty_deliveries_of_each_event_at_once_make_one_order(
    api: Any,
    db: Any,
    sandbox: Any,
    runtime: Any,
    database_url: str,
    make_user: Any,
    make_product: Any,
    order: tuple[str, ...],
) -> None:
    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id, price=99900, variants=[("ST-1", "M", "Red", 5, None)])
    customer = await make_user()
    variant_id = product["variant_ids"][0]
    await api.ok(ADD, {"v": variant_id, "q": 1}, token=customer.token)
    session = await start(api, customer.token)
    # The customer closed the tab: only webhooks can make the order.
    payment = await pay(sandbox.base_url, session["razorpayOrderId"], outcome="captured")
    payment_id = payment["razorpay_payment_id"]
    events = [sandbox_event(sandbox, t, payment_id=payment_id) for t in order]

    async def deliver(event_id: str) -> httpx.Response:
        body, headers = sandbox.state.webhook_request(event_id)
        response: httpx.Response = await api.client.post(WEBHOOK, content=body, headers=headers)
        return response

    # Every copy of the first type is sent before any of the second, all in flight together.
    storm = [event for event in events for _ in range(COPIES)]
    answers = await asyncio.gather(*(deliver(e) for e in storm))
    assert {r.status_code for r in answers} == {200}
    for event_id in events:
        statuses = sorted(a.json()["status"] for e, a in zip(storm, answers, strict=True) if e == event_id)
        assert statuses.count("processed") == 1, (event_id, statuses)
        assert set(statuses) <= {"processed", "duplicate"}

    stored = await db.fetch("SELECT event_id, status, attempts FROM webhook_events ORDER BY event_id")
    assert [(r["event_id"], r["status"], r["attempts"]) for r in stored] == [
        (e, "PROCESSED", 1) for e in sorted(events)
    ]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM payments") == 1
    assert await db.fetchval("SELECT count(*) FROM refunds") == 0
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", variant_id) == 4

    reconciled = await checks.run(database_url, runtime.gateway)
    assert reconciled.disagreements == 0, report.render(reconciled)
