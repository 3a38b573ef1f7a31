"""Checkout through the real HTTP API: many customers, each with a started checkout session and a
sandbox payment prepared before the clock starts; the clock times only the `checkout` mutations.

Preparation per customer (untimed): the cart line is inserted as addToCart stores it, then
`startCheckout` through the API (which prices the cart, freezes the quote and creates the
Razorpay order in the sandbox), then the payment in the sandbox as Razorpay Checkout would.
The timed request is the `checkout` mutation of API.md with its values as variables and an
idempotency key, as a real client sends it; it makes the service fetch and capture the payment
in the sandbox before it writes the order.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from bench import seed
from bench.common import (
    CpuMeter,
    LoadResult,
    Sandbox,
    Service,
    http_client,
    post_request,
    run_load,
)

START = """mutation Start($a: AddressInput!) {
  startCheckout(input: {shippingAddress: $a}) { id razorpayOrderId amount { amount currency } } }"""
CHECKOUT = """mutation Checkout($c: ID!, $o: String!, $p: String!, $s: String!, $key: String) {
  checkout(input: {checkoutId: $c, razorpayOrderId: $o, razorpayPaymentId: $p, razorpaySignature: $s,
                   idempotencyKey: $key}) {
    id number status paymentStatus total { amount currency } subtotal { amount }
    items { sku productTitle size color quantity unitPrice { amount } lineTotal { amount } }
    statusHistory { from to } shippingAddress { city postalCode } } }"""
PREPARE_CONCURRENCY = 32


@dataclass(frozen=True)
class Prepared:
    token: str
    checkout_id: str
    order_id: str
    payment_id: str
    signature: str


async def prepare(
    url: str, service: Service, sandbox: Sandbox, kind: str, sessions: int, tag: str
) -> tuple[list[Prepared], list[int], int, dict[str, int]]:
    """Sessions ready to check out; also the variants involved, their initial units, and the error
    codes of preparations that failed (each failure is one fewer session, never a silent skip)."""
    conn = await asyncpg.connect(url)
    try:
        per_session, variant_ids, initial = await seed.stock(conn, kind, sessions, tag)
        owners = await seed.customers(conn, sessions, tag)
        await seed.carts(conn, owners, per_session, 1)
    finally:
        await conn.close()
    ready: list[Prepared | None] = [None] * sessions
    failures: dict[str, int] = {}
    queue = iter(range(sessions))

    async def worker() -> None:
        async with http_client(service.url) as api, http_client(sandbox.url) as pay:
            for i in queue:
                owner = owners[i]
                r = await api.post(
                    "/graphql",
                    json={"query": START, "variables": {"a": seed.ADDRESS}},
                    headers={"Authorization": f"Bearer {owner.token}"},
                )
                body = r.json()
                if body.get("errors"):
                    code = body["errors"][0]["extensions"]["code"]
                    failures[f"startCheckout {code}"] = failures.get(f"startCheckout {code}", 0) + 1
                    continue
                session = body["data"]["startCheckout"]
                paid = await pay.post(f"/sandbox/orders/{session['razorpayOrderId']}/pay", json={})
                if paid.status_code != 200:
                    failures[f"pay HTTP {paid.status_code}"] = (
                        failures.get(f"pay HTTP {paid.status_code}", 0) + 1
                    )
                    continue
                proof = paid.json()
                ready[i] = Prepared(
                    owner.token,
                    session["id"],
                    proof["razorpay_order_id"],
                    proof["razorpay_payment_id"],
                    proof["razorpay_signature"],
                )

    await asyncio.gather(*(worker() for _ in range(PREPARE_CONCURRENCY)))
    return [p for p in ready if p is not None], variant_ids, initial, failures


def checkout_request(port: int, p: Prepared) -> bytes:
    return post_request(
        port,
        "/graphql",
        {
            "query": CHECKOUT,
            "operationName": "Checkout",
            "variables": {
                "c": p.checkout_id,
                "o": p.order_id,
                "p": p.payment_id,
                "s": p.signature,
                "key": str(uuid.uuid4()),
            },
        },
        p.token,
    )


def checkout_outcome(status: int, body: bytes) -> str | None:
    from bench.common import graphql_error_code

    code = graphql_error_code(status, body)
    # The view writes JSON with the default separators (`"checkout": {"id": "...`).
    if code is None and b'"checkout":{"id":"' not in body.replace(b" ", b""):
        return "NO_ORDER_IN_ANSWER"
    return code


@dataclass
class Run:
    kind: str
    workers: int
    result: LoadResult
    sold: int
    left: int
    initial: int
    orders: int
    warmup_ok: int
    prepared: int
    prepare_seconds: float
    prepare_failures: dict[str, int]

    @property
    def invariant(self) -> bool:
        """Units sold + units left = units at the start, and one order per successful checkout."""
        return self.sold + self.left == self.initial and self.orders == self.result.ok + self.warmup_ok


async def run(
    url: str,
    service: Service,
    sandbox: Sandbox,
    kind: str,
    clients: int,
    duration: float,
    meter: CpuMeter | None,
    expected_rate: float = 400.0,
) -> Run:
    """Prepare enough sessions for `duration` seconds at `expected_rate`, warm up, then time.

    The warm-up runs at the timed concurrency, twice over, so that what a service builds once
    under load (pool connections, the gateway's threads and their SDK clients) is built before
    the clock starts."""
    warm = 2 * min(clients, 64)
    sessions = warm + min(4000, max(clients * 4, int(expected_rate * duration)))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ready, variant_ids, initial, failures = await prepare(
        url, service, sandbox, kind, sessions, f"http{service.workers}w{clients}{kind}"
    )
    prepare_seconds = loop.time() - t0
    requests = [checkout_request(service.port, p) for p in ready]
    # Warm-up checkouts (real ones, counted in the stock check): pool connections, parser caches.
    warmup = await run_load(
        service.port,
        min(clients, 64),
        requests.__getitem__,
        count=warm,
        duration=duration,
        classify=checkout_outcome,
        workers=service.workers,
    )
    timed = requests[warm:]
    result = await run_load(
        service.port,
        clients,
        timed.__getitem__,
        count=len(timed),
        duration=duration,
        classify=checkout_outcome,
        meter=meter,
        workers=service.workers,
    )
    conn = await asyncpg.connect(url)
    try:
        sold, left, orders = await seed.stock_check(conn, variant_ids)
    finally:
        await conn.close()
    return Run(
        kind,
        service.workers,
        result,
        sold,
        left,
        initial,
        orders,
        warmup.ok,
        len(ready),
        prepare_seconds,
        failures,
    )
