"""Checkout through the real HTTP API, in two timed phases: every customer's `startCheckout`, then
every customer's `checkout`.

Before the clock (untimed): each customer gets a cart line, inserted as addToCart stores it.
Timed, phase 1: `startCheckout` through the API, which prices the cart, holds the stock (session,
hold rows, HOLD movements, one transaction) and creates the Razorpay order in the sandbox. Between
the phases (untimed): each session's payment in the sandbox, as Razorpay Checkout would make it.
Timed, phase 2: the `checkout` mutation of API.md with its values as variables and an idempotency
key, as a real client sends it; it makes the service fetch and capture the payment in the sandbox
before it sells the held units and writes the order. After each phase the units are counted:
sellable + held + sold = the units at the start, and the ledger agrees.
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


def start_request(port: int, token: str) -> bytes:
    return post_request(
        port,
        "/graphql",
        {"query": START, "operationName": "Start", "variables": {"a": seed.ADDRESS}},
        token,
    )


def start_outcome(status: int, body: bytes) -> str | None:
    from bench.common import graphql_error_code

    code = graphql_error_code(status, body)
    if code is None and b'"startCheckout":{"id":"' not in body.replace(b" ", b""):
        return "NO_SESSION_IN_ANSWER"
    return code


async def pay(
    url: str, sandbox: Sandbox, owners: list[seed.Customer]
) -> tuple[list[Prepared], dict[str, int]]:
    """Each customer's open session (in the order given), paid in the sandbox; the failures."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT user_id, id, razorpay_order_id FROM checkout_sessions "
            "WHERE user_id = ANY($1::bigint[]) AND status = 'OPEN' AND razorpay_order_id IS NOT NULL",
            [c.id for c in owners],
        )
    finally:
        await conn.close()
    session = {int(r[0]): (str(r[1]), r[2]) for r in rows}
    todo = [c for c in owners if c.id in session]
    ready: list[Prepared | None] = [None] * len(todo)
    failures: dict[str, int] = {}
    queue = iter(range(len(todo)))

    async def worker() -> None:
        async with http_client(sandbox.url) as api:
            for i in queue:
                checkout_id, order_id = session[todo[i].id]
                paid = await api.post(f"/sandbox/orders/{order_id}/pay", json={})
                if paid.status_code != 200:
                    key = f"pay HTTP {paid.status_code}"
                    failures[key] = failures.get(key, 0) + 1
                    continue
                proof = paid.json()
                ready[i] = Prepared(
                    todo[i].token,
                    checkout_id,
                    proof["razorpay_order_id"],
                    proof["razorpay_payment_id"],
                    proof["razorpay_signature"],
                )

    await asyncio.gather(*(worker() for _ in range(PREPARE_CONCURRENCY)))
    return [p for p in ready if p is not None], failures


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
    start: LoadResult  # the timed startCheckout phase
    result: LoadResult  # the timed checkout phase
    start_count: seed.StockCount  # units after the startCheckout phases
    count: seed.StockCount  # units after the checkout phases
    initial: int
    holding: int  # sessions holding stock after the startCheckout phases
    orders: int
    start_warmup_ok: int
    warmup_ok: int
    prepared: int
    prepare_seconds: float
    prepare_failures: dict[str, int]
    holds: bool = True  # KAPDA_STOCK_HOLDS (off: startCheckout holds nothing)

    @property
    def start_invariant(self) -> bool:
        """After startCheckout: sellable + held + sold = initial, one holding session per success
        (none with holds off)."""
        held = self.start.ok + self.start_warmup_ok if self.holds else 0
        return self.start_count.holds(self.initial) and self.holding == held

    @property
    def invariant(self) -> bool:
        """After both phases: the same units, and one order per successful checkout."""
        return (
            self.start_invariant
            and self.count.holds(self.initial)
            and self.orders == self.result.ok + self.warmup_ok
        )


async def run(
    url: str,
    service: Service,
    sandbox: Sandbox,
    kind: str,
    clients: int,
    duration: float,
    meter: CpuMeter | None,
    expected_rate: float = 400.0,
    start_meter: CpuMeter | None = None,
) -> Run:
    """Enough customers for `duration` seconds at `expected_rate`; each phase warmed up, then timed.

    The warm-ups run at the timed concurrency, twice over, so that what a service builds once
    under load (pool connections, the gateway's threads and their SDK clients) is built before
    the clock starts. Warm-up customers are real ones, counted in the stock checks."""
    from bench.baseline import HOLDS, check

    warm = 2 * min(clients, 64)
    sessions = warm + min(4000, max(clients * 4, int(expected_rate * duration)))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    conn = await asyncpg.connect(url)
    try:
        tag = f"http{service.workers}w{clients}{kind}"
        per_session, variant_ids, initial = await seed.stock(conn, kind, sessions, tag)
        owners = await seed.customers(conn, sessions, tag)
        await seed.carts(conn, owners, per_session, 1)
    finally:
        await conn.close()
    starts = [start_request(service.port, c.token) for c in owners]
    start_warmup = await run_load(
        service.port,
        min(clients, 64),
        starts.__getitem__,
        count=warm,
        duration=duration,
        classify=start_outcome,
        workers=service.workers,
    )
    rest = starts[warm:]
    start = await run_load(
        service.port,
        clients,
        rest.__getitem__,
        count=len(rest),
        duration=duration,
        meter=start_meter,
        classify=start_outcome,
        workers=service.workers,
    )
    start_count, _ = await check(url, variant_ids)
    holding = await _holding(url, variant_ids)
    t1 = loop.time()
    ready, failures = await pay(url, sandbox, owners)
    prepare_seconds = loop.time() - t1 + (t1 - t0 - start.elapsed - start_warmup.elapsed)
    requests = [checkout_request(service.port, p) for p in ready]
    # Warm-up checkouts (real ones, counted in the stock check): pool connections, parser caches.
    warmup = await run_load(
        service.port,
        min(clients, 64),
        requests.__getitem__,
        count=min(warm, len(requests)),
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
    count, orders = await check(url, variant_ids)
    return Run(
        kind,
        service.workers,
        start,
        result,
        start_count,
        count,
        initial,
        holding,
        orders,
        start_warmup.ok,
        warmup.ok,
        len(ready),
        prepare_seconds,
        failures,
        HOLDS,
    )


async def _holding(url: str, variant_ids: list[int]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(DISTINCT session_id) FROM stock_holds WHERE variant_id = ANY($1::bigint[])",
                variant_ids,
            )
        )
    finally:
        await conn.close()
