"""The crash drill: `kapda-gql serve` killed with SIGKILL after Razorpay captured a payment and
before the order was written, then started again. Every captured payment ends as exactly one order
or exactly one refund, and the client's same-key retry answers with its order at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from kapda_gql.devtools.sandbox.server import SandboxServer
from tests.e2e.devtools.processes import Serving, cli_env, free_port
from tests.e2e.support import PAUSE_SECONDS, api_on, eventually
from tests.support.flows import fill_cart, finish, pay, start


async def test_sigkill_between_capture_and_commit_ends_in_one_order_per_payment(
    tmp_path: Path,
    database_url: str,
    settings: Any,
    make_user: Any,
    make_product: Any,
    drill_sandbox: SandboxServer,
    client: httpx.AsyncClient,
    serving: list[Serving],
) -> None:
    first_port, second_port = free_port(), free_port()
    # Webhooks go where the restarted service will listen: while the first one runs they fail
    # (so nothing settles behind the drill's back) and are retried until the second one answers.
    drill_sandbox.webhook_url = f"http://127.0.0.1:{second_port}/webhooks/razorpay"
    env = cli_env(
        tmp_path / "data",
        database_url,
        KAPDA_RAZORPAY_BASE_URL=drill_sandbox.base_url,
        KAPDA_JWT_SECRET=settings.jwt_secret,
        KAPDA_RECONCILE_SECONDS="2",
    )
    first = Serving(
        "--port",
        str(first_port),
        env={**env, "KAPDA_TEST_PAUSE_AFTER_CAPTURE": str(PAUSE_SECONDS)},
        log=tmp_path / "first.log",
    )
    serving.append(first)
    first.wait_healthy(first_port)

    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id, price=99900, variants=[("D-1", "M", None, 10, None)])
    vid = product["variant_ids"][0]
    retried, unattended = await make_user(), await make_user()
    db = await asyncpg.connect(database_url)
    try:
        api = api_on(client, first_port)
        checkouts: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for customer in (retried, unattended):
            await fill_cart(db, customer.id, [(vid, 1)])
            session = await start(api, customer.token)
            checkouts[customer.id] = (session, await pay(drill_sandbox.base_url, session["razorpayOrderId"]))
        in_flight = [
            asyncio.create_task(finish(api, c.token, *checkouts[c.id], key=f"drill-{c.id}"))
            for c in (retried, unattended)
        ]
        payment_ids = [checkouts[c.id][1]["razorpay_payment_id"] for c in (retried, unattended)]

        async def all_captured() -> bool:
            with drill_sandbox.state.lock:
                return all(drill_sandbox.state.payments[p]["status"] == "captured" for p in payment_ids)

        await eventually(all_captured, 60, "both captures")
        first.process.kill()  # SIGKILL: no shutdown, no rollback, no release of the keys
        first.process.wait(10)
        for task in in_flight:
            with pytest.raises(httpx.HTTPError):
                await task
        await api.client.aclose()
        # Killed between capture and commit: Razorpay has the money, we have nothing yet.
        assert await db.fetchval("SELECT count(*) FROM orders") == 0
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE response IS NULL") == 2

        second = Serving("--port", str(second_port), env=env, log=tmp_path / "second.log")
        serving.append(second)
        second.wait_healthy(second_port)
        api = api_on(client, second_port)

        # The client retries with the same key: its claim's holder died with the first process,
        # so the retry takes the key over at once instead of waiting out a 120 s lease.
        started_at = time.monotonic()
        body = await finish(api, retried.token, *checkouts[retried.id], key=f"drill-{retried.id}")
        took = time.monotonic() - started_at
        assert not body.get("errors"), body
        assert took < 10, f"the same-key retry took {took:.1f} s"
        retried_number = body["data"]["checkout"]["number"]

        # The other customer never comes back: the webhook retries (or the poll) settle its payment.
        async def settled(payment_id: str) -> bool:
            placed = await db.fetchval(
                "SELECT count(*) FROM payments WHERE razorpay_payment_id = $1 AND order_id IS NOT NULL",
                payment_id,
            )
            return bool(placed) or bool(drill_sandbox.state.refunds_for_payment(payment_id))

        await eventually(lambda: settled(payment_ids[1]), 90, "settling the unattended payment")
        await asyncio.sleep(3)  # late webhooks and poll rounds must not add a second outcome

        for payment_id in payment_ids:
            orders = await db.fetchval(
                "SELECT count(*) FROM payments WHERE razorpay_payment_id = $1 AND order_id IS NOT NULL",
                payment_id,
            )
            refunds = drill_sandbox.state.refunds_for_payment(payment_id)
            assert (orders, len(refunds)) in {(1, 0), (0, 1)}, (payment_id, orders, refunds)
        assert (
            await db.fetchval(
                "SELECT o.number FROM orders o JOIN payments p ON p.order_id = o.id "
                "WHERE p.razorpay_payment_id = $1",
                payment_ids[0],
            )
            == retried_number
        )
        assert await db.fetchval("SELECT count(*) FROM orders") == 2
        # The unattended customer's key is still claimed by the dead process; coming back with it
        # later gets the order the webhook made, at once.
        assert (
            await db.fetchval("SELECT user_id FROM idempotency_keys WHERE response IS NULL") == unattended.id
        )
        started_at = time.monotonic()
        late = await finish(api, unattended.token, *checkouts[unattended.id], key=f"drill-{unattended.id}")
        assert not late.get("errors"), late
        assert time.monotonic() - started_at < 10
        assert (
            await db.fetchval(
                "SELECT o.number FROM orders o JOIN payments p ON p.order_id = o.id "
                "WHERE p.razorpay_payment_id = $1",
                payment_ids[1],
            )
            == late["data"]["checkout"]["number"]
        )
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE response IS NULL") == 0
        # And the first retry answers the same order again, from the stored answer.
        again = await finish(api, retried.token, *checkouts[retried.id], key=f"drill-{retried.id}")
        assert again["data"]["checkout"]["number"] == retried_number
        assert await db.fetchval("SELECT count(*) FROM orders") == 2
        await api.client.aclose()
    finally:
        await db.close()
