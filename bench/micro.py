"""Where one request's CPU goes: the pieces of the catalog and checkout hot paths timed one at a
time, in this process, one call after another (so no queueing, only the work itself).

py-spy cannot say which request phase SQLAlchemy time belongs to (its work runs in greenlets whose
stacks do not show the caller), so this times the phases directly and puts reference points next to
them: a catalog page is one lean statement now, timed through the service and as the very same
statement on a bare asyncpg connection (the floor), next to the three statements a page used to
cost; and the gateway's two calls through the SDK and through httpx.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench import seed
from bench.catalog import PAGE, variables
from bench.checkout import CHECKOUT, START
from bench.common import JWT_SECRET, Sandbox, http_client


@dataclass
class Timing:
    what: str
    wall_ms: float
    cpu_ms: float
    note: str = ""


async def timed(
    what: str, fn: Callable[[], Awaitable[Any]], n: int, note: str = "", warm: int = 10
) -> Timing:
    for _ in range(warm):
        await fn()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await fn()
    return Timing(what, (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000, note)


async def catalog_timings(url: str, n: int) -> list[Timing]:
    from sqlalchemy import select

    from kapda_gql.app import build_runtime, create_app
    from kapda_gql.catalog import browse as catalog
    from kapda_gql.catalog.model import ProductFilter
    from kapda_gql.config import Settings
    from kapda_gql.db.models import Designer, Product, Variant
    from kapda_gql.domain.policy import Actor

    runtime = build_runtime(
        Settings(
            database_url=url,
            jwt_secret=JWT_SECRET,
            razorpay_base_url="http://127.0.0.1:9",
            rate_limits=False,
            log_json=True,
        )
    )
    app = create_app(runtime=runtime)
    db = runtime.db
    actor = Actor()
    # The page's own statement, as the service sends it, for the raw-driver floor below.
    statements: list[str] = []
    db.listeners.append(statements.append)
    try:
        page = await catalog.list_products(db.uow(), actor, ProductFilter())
    finally:
        db.listeners.remove(statements.append)
    [page_statement] = statements
    pids = [e.product.id for e in page.items]
    dids = [e.product.designer_id for e in page.items]
    out: list[Timing] = []
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    raw = await asyncpg.connect(url)
    # Decode json as the service's pooled connections do, so the floor pays for the same work.
    await raw.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            payload = {"query": PAGE, "variables": variables("page")}

            async def request() -> None:
                r = await client.post("/graphql", json=payload)
                assert r.status_code == 200 and b'"errors"' not in r.content

            async def health() -> None:
                await client.get("/healthz")

            out.append(await timed("products(first: 20) request, whole app in-process", request, n))
            gc.collect()
            gc.freeze()
            threshold = gc.get_threshold()
            gc.set_threshold(20_000, 20, 20)
            out.append(await timed("  the same after gc.freeze() + gen0 threshold 20,000", request, n))
            gc.set_threshold(*threshold)
            gc.unfreeze()
            gc.disable()
            out.append(await timed("  the same with the cyclic GC off (its cost)", request, n))
            gc.enable()
            out.append(await timed("GET /healthz through the same middleware (floor)", health, n))

        out.append(
            await timed(
                "list_products (one lean statement: page + designers + variants)",
                lambda: catalog.list_products(db.uow(), actor, ProductFilter()),
                n,
            )
        )
        out.append(
            await timed(
                "  the same statement on a bare asyncpg connection (floor)",
                lambda: raw.fetch(page_statement, 21),
                n,
            )
        )
        out.append(
            await timed(
                "designers_by_ids (lean; DataLoader for products reached one by one)",
                lambda: catalog.designers_by_ids(db.uow(), dids),
                n,
            )
        )
        out.append(
            await timed(
                "variants_by_product_ids (lean; DataLoader for products reached one by one)",
                lambda: catalog.variants_by_product_ids(db.uow(), pids),
                n,
            )
        )
        stmt_page = (
            select(*Product.__table__.c)
            .where(Product.deleted_at.is_(None), Product.status == "APPROVED")
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(21)
        )
        stmt_designers = select(*Designer.__table__.c).where(Designer.id.in_(dids))
        stmt_variants = (
            select(*Variant.__table__.c)
            .where(Variant.product_id.in_(pids), Variant.deleted_at.is_(None))
            .order_by(Variant.product_id, Variant.id)
        )

        async def core() -> None:
            async with db.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for stmt in (stmt_page, stmt_designers, stmt_variants):
                    (await auto.execute(stmt)).all()

        out.append(
            await timed("the former 3 statements (page, designers, variants): Core, autocommit", core, n)
        )

        async def rawpg() -> None:
            await raw.fetch(
                "SELECT * FROM products WHERE deleted_at IS NULL AND status = 'APPROVED' "
                "ORDER BY created_at DESC, id DESC LIMIT 21"
            )
            await raw.fetch("SELECT * FROM designers WHERE id = ANY($1::bigint[])", dids)
            await raw.fetch(
                "SELECT * FROM variants WHERE product_id = ANY($1::bigint[]) AND deleted_at IS NULL "
                "ORDER BY product_id, id",
                pids,
            )

        out.append(await timed("the former 3 statements: raw asyncpg", rawpg, n))
    finally:
        await raw.close()
        await runtime.db.dispose()
    return out


async def checkout_timings(url: str, sandbox: Sandbox, n: int) -> list[Timing]:
    from kapda_gql.app import build_runtime, create_app
    from kapda_gql.auth import services as auth
    from kapda_gql.auth.security import decode_token
    from kapda_gql.checkout import services as checkout
    from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, Settings
    from kapda_gql.domain.enums import Role
    from kapda_gql.domain.policy import Actor
    from kapda_gql.payments.gateway import GatewayPayment

    runtime = build_runtime(
        Settings(
            database_url=url,
            jwt_secret=JWT_SECRET,
            razorpay_base_url=sandbox.url,
            rate_limits=False,
            log_json=True,
        )
    )
    app = create_app(runtime=runtime)
    k = n + 10  # each timing uses n calls after 10 warm-up calls
    total = 4 * k
    conn = await asyncpg.connect(url)
    try:
        per_session, _, _ = await seed.stock(conn, "spread", total, "micro")
        owners = await seed.customers(conn, total, "micro")
        await seed.carts(conn, owners, per_session, 1)
    finally:
        await conn.close()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    out: list[Timing] = []
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        http_client(sandbox.url) as pay,
    ):
        # Sessions paid (authorized) in the sandbox: a quarter each for the whole mutation, the SDK's
        # gateway calls, the same calls through httpx, and complete_paid_checkout on its own.
        ready: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for owner in owners:
            body = (
                await client.post(
                    "/graphql",
                    json={"query": START, "variables": {"a": seed.ADDRESS}},
                    headers={"Authorization": f"Bearer {owner.token}"},
                )
            ).json()
            session = body["data"]["startCheckout"]
            proof = (await pay.post(f"/sandbox/orders/{session['razorpayOrderId']}/pay", json={})).json()
            ready.append((owner.token, session, proof))
        mutation, sdk_part, httpx_part, service_part = (ready[i * k : (i + 1) * k] for i in range(4))
        it = iter(mutation)

        async def one_mutation() -> None:
            token, session, proof = next(it)
            body = (
                await client.post(
                    "/graphql",
                    json={
                        "query": CHECKOUT,
                        "variables": {
                            "c": session["id"],
                            "o": proof["razorpay_order_id"],
                            "p": proof["razorpay_payment_id"],
                            "s": proof["razorpay_signature"],
                            "key": str(uuid.uuid4()),
                        },
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
            assert not body.get("errors"), body

        out.append(await timed("checkout mutation, whole app in-process", one_mutation, n))

        token = mutation[0][0]
        out.append(
            await timed(
                "auth.authenticate (JWT + one statement, own transaction)",
                lambda: auth.authenticate(runtime.db.uow(), token, secret=JWT_SECRET),
                n,
            )
        )
        gw = runtime.gateway
        git = iter(sdk_part)

        async def gateway_calls() -> None:
            _, _, proof = next(git)
            payment = await gw.fetch_payment(proof["razorpay_payment_id"])
            await gw.capture_payment(payment.id, amount=payment.amount, currency=payment.currency)

        out.append(
            await timed("gateway fetch + capture (Razorpay SDK, requests, in threads)", gateway_calls, n)
        )
        async with httpx.AsyncClient(
            base_url=sandbox.url, auth=(SANDBOX_KEY_ID, SANDBOX_KEY_SECRET), timeout=10.0
        ) as rzp:
            pit = iter(httpx_part)

            async def httpx_calls() -> None:
                _, _, proof = next(pit)
                payment = (await rzp.get(f"/v1/payments/{proof['razorpay_payment_id']}")).json()
                captured = await rzp.post(
                    f"/v1/payments/{payment['id']}/capture",
                    json={"amount": payment["amount"], "currency": payment["currency"]},
                )
                assert captured.json()["status"] == "captured", captured.text

            out.append(await timed("  the same two calls through one httpx.AsyncClient", httpx_calls, n))

        sit = iter(service_part)

        async def service_only() -> None:
            token_, session, proof = next(sit)
            claims = decode_token(JWT_SECRET, token_)
            payment = GatewayPayment(
                id=proof["razorpay_payment_id"],
                order_id=proof["razorpay_order_id"],
                amount=session["amount"]["amount"],
                currency="INR",
                status="captured",
            )
            actor = Actor(
                user_id=claims.user_id, role=Role.CUSTOMER, request_id=uuid.uuid4().hex, ip="127.0.0.1"
            )
            await checkout.complete_paid_checkout(
                runtime.db.uow(), gw, actor, uuid.UUID(session["id"]), payment
            )

        out.append(await timed("complete_paid_checkout (the order transaction alone)", service_only, n))
    await runtime.db.dispose()
    return out


async def run(url: str, sandbox: Sandbox, n: int = 100) -> list[Timing]:
    return [*(await catalog_timings(url, n)), *(await checkout_timings(url, sandbox, n))]
