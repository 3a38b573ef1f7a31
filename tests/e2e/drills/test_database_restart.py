"""Drill: the database restarted during checkouts.

A real `kapda-gql serve` runs on a PostgreSQL of the drill's own (tests/support/embedded.py: the
shared server is never touched), and that server is stopped for real (`pg_ctl stop -m fast`, which
ends every session) while checkouts are between Razorpay's capture and the order's commit, kept
there by the capture pause the crash drill uses. While it is down every answer keeps the contract's
shape (a retryable SERVICE_UNAVAILABLE with its requestId) and /readyz is 503; once it is back the
service answers again without a restart of its own, the clients' same-key retries get their orders,
the one client that never comes back is settled by the webhook or the poll, every captured payment
is exactly one order or one refund, and `kapda-gql reconcile` finds everything agrees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from kapda_gql.auth.security import issue_token
from kapda_gql.devtools.sandbox.server import SandboxServer
from tests.e2e.devtools.processes import Serving, cli_env, free_port, run
from tests.e2e.support import eventually
from tests.support.apps import PASSWORD_HASH, Api, UserInfo
from tests.support.embedded import EmbeddedPostgres
from tests.support.flows import fill_cart, finish, pay, start

PAUSE_SECONDS = 5.0  # captured and not yet written: long enough to stop the database inside it
DURING = 4  # checkouts in flight when the database goes away (one of them never retries)
BEFORE = AFTER = 2  # checkouts finished before the outage, and started after it
JWT_SECRET = "drill-secret-" + "d" * 40
GRAPHQL_RESPONSE = "application/graphql-response+json"
ME = "{ me { id } }"


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "db")
    yield server
    server.close()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def api(port: int) -> AsyncIterator[Api]:
    # No keep-alive: a pooled connection the server closes after its idle timeout (5 s, as long as
    # the drill's pauses) would fail a request with a ReadError that has nothing to do with the drill.
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=httpx.Timeout(PAUSE_SECONDS + 60),
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        yield Api(client)


async def _seed(url: str, customers: int) -> tuple[int, list[UserInfo]]:
    """A designer's product with plenty of stock (its INITIAL movement included), and customers."""
    db = await asyncpg.connect(url)
    try:
        designer_user = await db.fetchval(
            "INSERT INTO users (email, password_hash, name, role, status) "
            "VALUES ('studio@example.com', $1, 'Studio', 'DESIGNER', 'ACTIVE') RETURNING id",
            PASSWORD_HASH,
        )
        designer = await db.fetchval(
            "INSERT INTO designers (user_id, name) VALUES ($1, 'Studio') RETURNING id", designer_user
        )
        product = await db.fetchval(
            "INSERT INTO products (designer_id, slug, title, description, category, price, currency, images, status)"
            " VALUES ($1, 'drill-kurta', 'Drill kurta', 'Handwoven', 'Kurta', 99900, 'INR', '{}', 'APPROVED')"
            " RETURNING id",
            designer,
        )
        variant = await db.fetchval(
            "WITH made AS (INSERT INTO variants (product_id, sku, size, color, stock)"
            " VALUES ($1, 'DRILL-M', 'M', 'Blue', 100) RETURNING id, stock),"
            " moved AS (INSERT INTO stock_movements (variant_id, reason, delta, stock_after)"
            " SELECT id, 'INITIAL', stock, stock FROM made) SELECT id FROM made",
            product,
        )
        rows = await db.fetch(
            "INSERT INTO users (email, password_hash, name, role, status) "
            "SELECT 'drill' || g || '@example.com', $2, 'Drill ' || g, 'CUSTOMER', 'ACTIVE' "
            "FROM generate_series(1, $1) g RETURNING id, email",
            customers,
            PASSWORD_HASH,
        )
        users = [
            UserInfo(r["id"], r["email"], "CUSTOMER", issue_token(JWT_SECRET, r["id"], 3600)[0]) for r in rows
        ]
        for user in users:
            await fill_cart(db, user.id, [(variant, 1)])
    finally:
        await db.close()
    return variant, users


def _unavailable(response: httpx.Response) -> str:
    """The contract's outage answer; its request id."""
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
    assert error["extensions"]["requestId"], body
    assert error["extensions"]["retryAfter"] == 2, body
    return str(error["extensions"]["requestId"])


async def test_database_restart_during_checkouts_ends_in_one_order_per_payment(
    tmp_path: Path,
    postgres: EmbeddedPostgres,
    drill_sandbox: SandboxServer,
    port: int,
    api: Api,
    serving: list[Serving],
) -> None:
    # Webhooks fail until the database is back (so nothing settles the in-flight payments behind
    # the drill's back before the outage hits them); the sandbox retries them after.
    drill_sandbox.webhook_url = f"http://127.0.0.1:{free_port()}/webhooks/razorpay"
    env = cli_env(
        tmp_path / "data",
        postgres.url,
        KAPDA_RAZORPAY_BASE_URL=drill_sandbox.base_url,
        KAPDA_JWT_SECRET=JWT_SECRET,
        KAPDA_RECONCILE_SECONDS="2",
        KAPDA_TEST_PAUSE_AFTER_CAPTURE=str(PAUSE_SECONDS),
        KAPDA_DB_CONNECT_TIMEOUT_SECONDS="2",
    )
    serve = Serving("--port", str(port), env=env, log=tmp_path / "serve.log")
    serving.append(serve)
    await asyncio.to_thread(serve.wait_healthy, port)  # serve migrates the new database first
    _variant, customers = await _seed(postgres.url, BEFORE + DURING + AFTER)
    before, during, after = (
        customers[:BEFORE],
        customers[BEFORE : BEFORE + DURING],
        customers[BEFORE + DURING :],
    )
    unattended = during[-1]
    checkouts: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    async def paid(customer: UserInfo) -> None:
        session = await start(api, customer.token)
        checkouts[customer.id] = (session, await pay(drill_sandbox.base_url, session["razorpayOrderId"]))

    def key(customer: UserInfo) -> str:
        return f"drill-{customer.id}"

    # Before: ordinary checkouts, concurrently.
    await asyncio.gather(*(paid(c) for c in before + during))
    placed = await asyncio.gather(*(finish(api, c.token, *checkouts[c.id], key=key(c)) for c in before))
    assert all(not b.get("errors") for b in placed), placed

    # During: the checkouts capture, and the database stops inside their pause.
    in_flight = [asyncio.create_task(finish(api, c.token, *checkouts[c.id], key=key(c))) for c in during]
    payment_ids = {c.id: checkouts[c.id][1]["razorpay_payment_id"] for c in customers if c.id in checkouts}

    async def captured() -> bool:
        with drill_sandbox.state.lock:
            return all(
                drill_sandbox.state.payments[payment_ids[c.id]]["status"] == "captured" for c in during
            )

    await eventually(captured, PAUSE_SECONDS - 1.5, "the in-flight captures", every=0.1)
    await asyncio.to_thread(postgres.stop)
    stopped_at = time.monotonic()

    # Down: every answer is the contract's retryable error, signed in or not, and /readyz says so.
    me = await api.post(ME, token=before[0].token, accept=GRAPHQL_RESPONSE)
    assert me.status_code == 503, me.text
    assert me.headers["retry-after"] == "2"
    assert _unavailable(me) == me.headers["x-request-id"]
    started = await api.post(
        'mutation { startCheckout(input: {shippingAddress: {name: "A", line1: "1 Rd", city: "Pune", '
        'state: "MH", postalCode: "411001", phone: "+91 98450 12345"}}) { id } }',
        token=after[0].token,
    )
    _unavailable(started)
    ready = await api.client.get("/readyz")
    assert ready.status_code == 503, ready.text
    answers = await asyncio.gather(*in_flight)
    assert time.monotonic() - stopped_at < PAUSE_SECONDS + 15  # bounded: nothing hangs on the outage
    for body in answers:
        [error] = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
        assert error["extensions"]["requestId"], body
    # Razorpay has the money of every in-flight checkout, and each of them was told to retry.
    with drill_sandbox.state.lock:
        assert all(drill_sandbox.state.payments[payment_ids[c.id]]["status"] == "captured" for c in during)

    # Back: the service answers again on its own, within seconds.
    await asyncio.to_thread(postgres.start)
    back_at = time.monotonic()

    async def answering() -> bool:
        ready = await api.client.get("/readyz")
        body = await api(ME, token=before[0].token)
        return ready.status_code == 200 and body.get("data", {}) is not None and not body.get("errors")

    await eventually(answering, 10, "recovery after the restart", every=0.1)
    recovered_in = time.monotonic() - back_at
    assert recovered_in < 5, recovered_in
    drill_sandbox.webhook_url = f"http://127.0.0.1:{port}/webhooks/razorpay"

    db = await asyncpg.connect(postgres.url)
    try:
        # The clients retry with their keys: each gets its order, at once (the claims' holders were
        # the backends the restart ended, so no lease is waited out).
        numbers: dict[int, str] = {}
        for c in during[:-1]:
            t0 = time.monotonic()
            body = await finish(api, c.token, *checkouts[c.id], key=key(c))
            assert not body.get("errors"), body
            assert time.monotonic() - t0 < 10
            numbers[c.id] = body["data"]["checkout"]["number"]
        # After: new checkouts work as before.
        await asyncio.gather(*(paid(c) for c in after))
        payment_ids.update({c.id: checkouts[c.id][1]["razorpay_payment_id"] for c in after})
        done = await asyncio.gather(*(finish(api, c.token, *checkouts[c.id], key=key(c)) for c in after))
        assert all(not b.get("errors") for b in done), done

        # The client that never came back: the webhook retries or the poll settle its payment.
        async def settled() -> bool:
            placed = await db.fetchval(
                "SELECT count(*) FROM payments WHERE razorpay_payment_id = $1 AND order_id IS NOT NULL",
                payment_ids[unattended.id],
            )
            return bool(placed) or bool(drill_sandbox.state.refunds_for_payment(payment_ids[unattended.id]))

        await eventually(settled, 60, "settling the unattended payment", every=0.1)
        await asyncio.sleep(3)  # late webhooks and poll rounds must not add a second outcome

        with drill_sandbox.state.lock:
            captured_ids = [
                p for p, row in drill_sandbox.state.payments.items() if row["status"] == "captured"
            ]
        assert sorted(captured_ids) == sorted(payment_ids.values())
        for payment_id in captured_ids:
            orders = await db.fetchval(
                "SELECT count(*) FROM payments WHERE razorpay_payment_id = $1 AND order_id IS NOT NULL",
                payment_id,
            )
            refunds = drill_sandbox.state.refunds_for_payment(payment_id)
            assert (orders, len(refunds)) in {(1, 0), (0, 1)}, (payment_id, orders, refunds)
        assert await db.fetchval("SELECT count(*) FROM orders") == len(customers)
        for customer_id, number in numbers.items():
            assert (
                await db.fetchval(
                    "SELECT o.number FROM orders o JOIN payments p ON p.order_id = o.id "
                    "WHERE p.razorpay_payment_id = $1",
                    payment_ids[customer_id],
                )
                == number
            )
        # The unattended client comes back late: its key answers with the order the service made.
        late = await finish(api, unattended.token, *checkouts[unattended.id], key=key(unattended))
        assert not late.get("errors"), late
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE response IS NULL") == 0
    finally:
        await db.close()

    reconciled = await asyncio.to_thread(
        run, "reconcile", env={**env, "KAPDA_DATABASE_URL": postgres.url}, timeout=120
    )
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "everything agrees" in reconciled.stdout, reconciled.stdout
    assert "money.razorpay" in reconciled.stdout  # asked Razorpay (the drill's sandbox) too
