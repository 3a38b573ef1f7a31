"""The tab closed after paying, with no webhook and no `checkout` call: a real `kapda-gql serve`
finds the payment on its own poll of Razorpay and makes the order within two poll intervals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from kapda_gql.devtools.sandbox.server import SandboxServer
from tests.e2e.devtools.processes import Serving, cli_env, free_port
from tests.e2e.support import api_on, eventually
from tests.support.flows import fill_cart, pay, start

POLL_SECONDS = 4


async def test_a_paid_session_nobody_reports_becomes_its_order_within_two_poll_intervals(
    tmp_path: Path,
    database_url: str,
    settings: Any,
    make_user: Any,
    make_product: Any,
    drill_sandbox: SandboxServer,
    client: httpx.AsyncClient,
    serving: list[Serving],
) -> None:
    assert drill_sandbox.webhook_url is None  # no webhook will ever tell the service
    port = free_port()
    env = cli_env(
        tmp_path / "data",
        database_url,
        KAPDA_RAZORPAY_BASE_URL=drill_sandbox.base_url,
        KAPDA_JWT_SECRET=settings.jwt_secret,
        KAPDA_RECONCILE_SECONDS=str(POLL_SECONDS),
    )
    server = Serving("--port", str(port), env=env, log=tmp_path / "serve.log")
    serving.append(server)
    server.wait_healthy(port)

    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id, price=129900, variants=[("P-1", "M", None, 5, None)])
    vid = product["variant_ids"][0]
    customer = await make_user()
    db = await asyncpg.connect(database_url)
    api = api_on(client, port)
    try:
        await fill_cart(db, customer.id, [(vid, 2)])
        session = await start(api, customer.token)
        payment = await pay(drill_sandbox.base_url, session["razorpayOrderId"])
        payment_id = payment["razorpay_payment_id"]

        # A poll round leaves sessions younger than a minute to the customer, who may still be
        # coming back with `checkout`; make this one a minute and a half old, as a closed tab's is.
        await db.execute(
            "UPDATE checkout_sessions SET created_at = created_at - interval '90 seconds' WHERE user_id = $1",
            customer.id,
        )
        assert await db.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", customer.id) == 0
        aged_at = time.monotonic()

        async def placed() -> Any:
            return await db.fetchrow(
                "SELECT o.number, o.total, p.status FROM payments p JOIN orders o ON o.id = p.order_id "
                "WHERE p.razorpay_payment_id = $1",
                payment_id,
            )

        order = await eventually(placed, 6 * POLL_SECONDS, "the poll placing the order")
        took = time.monotonic() - aged_at
        assert took <= 2 * POLL_SECONDS + 1, f"the order took {took:.1f} s, poll interval {POLL_SECONDS} s"
        assert order["total"] == 2 * 129900
        assert order["status"] == "CAPTURED"
        with drill_sandbox.state.lock:
            assert drill_sandbox.state.payments[payment_id]["status"] == "captured"
        assert not drill_sandbox.state.refunds_for_payment(payment_id)

        # The customer sees it as theirs, and the held units became sold ones.
        mine = await api.ok("{ orders(first: 5) { edges { node { number status } } } }", token=customer.token)
        assert [e["node"]["number"] for e in mine["orders"]["edges"]] == [order["number"]]
        stock = await db.fetchrow(
            "SELECT v.stock, (SELECT coalesce(sum(quantity), 0) FROM stock_holds h WHERE h.variant_id = v.id) AS held "
            "FROM variants v WHERE v.id = $1",
            vid,
        )
        assert (stock["stock"], stock["held"]) == (3, 0)
    finally:
        await api.client.aclose()
        await db.close()
