"""The ceilings: each checkout transaction's own SQL through raw asyncpg, at the same concurrency
(N clients over a pool of 10 connections, handed out first come first served; see POOL).

Two transactions, one per mutation of the hot-SKU scenario (stock is held at startCheckout):

* **hold** (`startCheckout`, kapda_gql/checkout/start.py): insert the session with its frozen
  quote, lock the variant, read its sellable units (on hand less unexpired holds) in the next
  statement, insert the hold and its HOLD movement, COMMIT: the issue's reference transaction,
  the targets' baseline since it was set. The service now does all of it in one statement
  outside a transaction (checkout/store.py ``START``), so its hot row is locked for that
  statement alone; ``asyncpg 1-stmt hold`` runs that very statement here too, as its ceiling.
* **sale** (`checkout`, kapda_gql/checkout/completion.py, SQL in checkout/store.py): close the
  session, insert the order, its items and commissions, the status history, the payment and the
  audit entry, clear the cart line, and only then lock the variant, delete the session's holds,
  read what other sessions hold, take the stock and write the SALE movement, COMMIT. Sessions are
  inserted beforehand exactly as startCheckout leaves them (holds and HOLD movements included).

A second layer, `service`, calls `complete_paid_checkout` itself in this process (the unit of
work, no HTTP, no GraphQL, no payment gateway): the difference to the HTTP figures is what the API
and the gateway calls cost.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench import seed
from bench.common import JWT_SECRET, CpuMeter, LoadResult, run_calls

CLOSE = (
    "UPDATE checkout_sessions SET status = 'COMPLETED' WHERE id = $1 AND status = 'OPEN' "
    "RETURNING user_id, amount, currency, lines, price_adjustments, shipping_address"
)
ORDER = """
INSERT INTO orders (number, user_id, checkout_session_id, status, payment_status, subtotal, total, currency,
                    shipping_address, price_adjustments, created_at, updated_at)
VALUES ($1, $2, $3, 'PENDING', 'CAPTURED', $4, $4, $5, $6, $7, $8, $8) RETURNING id, number
"""
ITEMS_AND_COMMISSIONS = """
WITH items AS (
    INSERT INTO order_items (order_id, variant_id, product_id, designer_id, product_title, sku, size, color,
                             unit_price, quantity, line_total)
    SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::bigint[], $10::int[], $11::bigint[])
    RETURNING id, designer_id, line_total
)
INSERT INTO commissions (order_item_id, order_id, designer_id, rate_bps, amount, status)
SELECT items.id, $1, items.designer_id, d.commission_rate_bps,
       (items.line_total * d.commission_rate_bps + 5000) / 10000, 'PENDING'
FROM items JOIN designers d ON d.id = items.designer_id
"""
HISTORY = (
    "INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note) "
    "VALUES ($1, NULL, 'PENDING', $2, 'Order placed')"
)
PAYMENT = (
    "INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id, amount, "
    "currency, status) VALUES ($1, $2, $3, $4, $5, $6, 'CAPTURED')"
)
AUDIT = (
    "INSERT INTO audit_entries (action, actor_id, target_type, target_id, changes, request_id, ip, user_agent) "
    "VALUES ('order.created', $1, 'Order', $2, $3::jsonb, $4, $5::inet, $6)"
)
CLEAR_CART = (
    "DELETE FROM cart_lines WHERE cart_id = (SELECT id FROM carts WHERE user_id = $1) "
    "AND variant_id = ANY($2::bigint[])"
)
LOCK = "SELECT id, stock FROM variants WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
# Read after the lock, in a statement of its own: a statement that waited for the row lock reads
# other tables from its older snapshot and would miss the holds committed by the lock's holder.
HELD = (
    "SELECT variant_id, sum(quantity) FROM stock_holds WHERE variant_id = ANY($1::bigint[]) "
    "AND expires_at > now() GROUP BY variant_id"
)
END_HOLDS = "DELETE FROM stock_holds WHERE session_id = $1 RETURNING variant_id, quantity"
DECREMENT = (
    "UPDATE variants v SET stock = v.stock - d.q FROM unnest($1::bigint[], $2::int[]) AS d(id, q) "
    "WHERE v.id = d.id RETURNING v.id, v.stock"
)
MOVEMENT = (
    "INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, order_id, "
    "checkout_session_id, actor_id) SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], "
    "$5::int[], $6::bigint[], $7::uuid[], $8::bigint[])"
)
# The alternative measured next to it: after the lock, one statement ends the holds, checks the
# other sessions' holds, takes the stock and writes the SALE movements (the service's own shape),
# so the hot row is held for two statements and the COMMIT instead of five and the COMMIT.
TAKE = """
WITH mine AS (DELETE FROM stock_holds WHERE session_id = $3 RETURNING variant_id),
wanted AS (
    SELECT d.id, d.q, v.stock - (SELECT coalesce(sum(h.quantity), 0) FROM stock_holds h
                                 WHERE h.variant_id = v.id AND h.expires_at > now() AND h.session_id <> $3)
           AS available
    FROM unnest($1::bigint[], $2::int[]) AS d(id, q) JOIN variants v ON v.id = d.id
), changed AS (
    UPDATE variants v SET stock = v.stock - w.q FROM wanted w
    WHERE v.id = w.id AND NOT EXISTS (SELECT 1 FROM wanted WHERE q > available)
    RETURNING v.id, v.stock, w.q
), moved AS (
    INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, order_id,
                                 checkout_session_id, actor_id)
    SELECT changed.id, 'SALE', -changed.q,
           CASE WHEN EXISTS (SELECT 1 FROM mine WHERE mine.variant_id = changed.id) THEN -changed.q ELSE 0 END,
           changed.stock, $4, $3, $5
    FROM changed
)
SELECT id FROM changed
"""
SESSION = """
INSERT INTO checkout_sessions (id, user_id, amount, currency, lines, price_adjustments, shipping_address, status,
                               expires_at)
VALUES ($1, $2, $3, 'INR', $4::jsonb, '[]'::jsonb, $5::jsonb, 'OPEN', now() + interval '900 seconds')
RETURNING expires_at
"""
HOLD = (
    "INSERT INTO stock_holds (session_id, variant_id, quantity, expires_at) "
    "SELECT $1, * FROM unnest($2::bigint[], $3::int[]), (SELECT $4::timestamptz) AS e"
)
# KAPDA_STOCK_HOLDS=off in the bench's environment reaches the service it starts (take-at-checkout),
# and the runs that bypass the API prepare their sessions the same way: no holds, so the sale
# baseline and `service fn` do what the service then does (the sale finds no hold to end or count).
HOLDS = os.environ.get("KAPDA_STOCK_HOLDS", "on").strip().lower() not in ("off", "false", "0", "no")
MAX_CONNECTIONS = 90  # PostgreSQL's default max_connections is 100, a few are reserved
# The reference: N clients sharing asyncpg's default pool size (asyncpg.create_pool: 10), which is
# also what two service workers hold (5 each). On one hot row PostgreSQL does best with few
# transactions at once: here 32 clients ran 1,121/s over 4 connections, 859/s over 10 and 363/s
# over 32, and the issue's own calibration (700-750/s at 32 clients) matches a pool of 10.
POOL = 10


class _Short(Exception):
    pass


class FairPool:
    """Connections handed out first come, first served.

    Neither asyncpg's pool (it sends a reset query on every release) nor an asyncio.Queue (a task
    that releases and at once acquires again takes the connection back before the waiter it woke
    runs, so with more clients than connections some wait for the whole run) will do here.
    """

    def __init__(self, conns: list[asyncpg.Connection]) -> None:
        self._idle = list(conns)
        self._all = list(conns)
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()

    async def acquire(self) -> asyncpg.Connection:
        if self._idle and not self._waiters:
            return self._idle.pop()
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def release(self, conn: asyncpg.Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)  # straight to the longest waiter, nobody can take it first
                return
        self._idle.append(conn)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()


async def raw_checkout(
    conn: asyncpg.Connection, session_id: uuid.UUID, payment_id: str, one_statement: bool = False
) -> str | None:
    async with conn.transaction():
        closed = await conn.fetchrow(CLOSE, session_id)
        if closed is None:
            return "CHECKOUT_EXPIRED"
        user_id, amount, currency, raw_lines, adjustments, address = closed
        lines: list[dict[str, Any]] = json.loads(raw_lines)
        now = datetime.now(UTC)
        number = f"KC-{now:%y%m%d}-{secrets.token_hex(8).upper()}"  # 64 bits, as the service
        order_id, number = await conn.fetchrow(
            ORDER, number, user_id, session_id, amount, currency, address, adjustments, now
        )
        await conn.execute(
            ITEMS_AND_COMMISSIONS,
            order_id,
            *[
                [x[k] for x in lines]
                for k in (
                    "variant_id",
                    "product_id",
                    "designer_id",
                    "title",
                    "sku",
                    "size",
                    "color",
                    "unit_price",
                    "quantity",
                    "line_total",
                )
            ],
        )
        await conn.execute(HISTORY, order_id, user_id)
        await conn.execute(
            PAYMENT, payment_id, f"order_bench{session_id.hex}", session_id, order_id, amount, currency
        )
        changes = {"number": number, "total": amount, "razorpayPaymentId": payment_id, "items": len(lines)}
        await conn.execute(
            AUDIT, user_id, str(order_id), json.dumps(changes), uuid.uuid4().hex, "127.0.0.1", "kapda-bench"
        )
        ids = [x["variant_id"] for x in lines]
        quantities = [x["quantity"] for x in lines]
        await conn.execute(CLEAR_CART, user_id, ids)
        stock = {r["id"]: r["stock"] for r in await conn.fetch(LOCK, ids)}  # current: the row is ours
        if one_statement:
            if len(await conn.fetch(TAKE, ids, quantities, session_id, order_id, user_id)) != len(ids):
                raise _Short
            return None
        mine = {r[0]: r[1] for r in await conn.fetch(END_HOLDS, session_id)}
        held = dict(await conn.fetch(HELD, ids))  # others' holds: ours are deleted in this transaction
        if any(x["quantity"] > stock.get(x["variant_id"], 0) - held.get(x["variant_id"], 0) for x in lines):
            raise _Short
        after = dict(await conn.fetch(DECREMENT, ids, quantities))
        n = len(ids)
        await conn.execute(
            MOVEMENT,
            ids,
            ["SALE"] * n,
            [-q for q in quantities],
            [-q if v in mine else 0 for v, q in zip(ids, quantities, strict=True)],
            [after[v] for v in ids],
            [order_id] * n,
            [session_id] * n,
            [user_id] * n,
        )
    return None


async def raw_hold(conn: asyncpg.Connection, user_id: int, line: dict[str, Any], address: str) -> str | None:
    """startCheckout's transaction: the session, then the lock, the check, the hold and its movement."""
    ids, quantities = [line["variant_id"]], [line["quantity"]]
    async with conn.transaction():
        session_id = uuid.uuid4()
        expires = await conn.fetchval(
            SESSION, session_id, user_id, line["line_total"], json.dumps([line]), address
        )
        stock = {r["id"]: r["stock"] for r in await conn.fetch(LOCK, ids)}
        held = dict(await conn.fetch(HELD, ids))
        if any(q > stock.get(v, 0) - held.get(v, 0) for v, q in zip(ids, quantities, strict=True)):
            raise _Short
        await conn.execute(HOLD, session_id, ids, quantities, expires)
        n = len(ids)
        await conn.execute(
            MOVEMENT,
            ids,
            ["HOLD"] * n,
            [0] * n,
            quantities,
            [stock[v] for v in ids],
            [None] * n,
            [session_id] * n,
            [user_id] * n,
        )
    return None


async def raw_hold_statement(
    conn: asyncpg.Connection, user_id: int, line: dict[str, Any], address: dict[str, Any]
) -> str | None:
    """The service's own startCheckout statement (checkout/store.py ``START``) with the values the
    service binds, outside a transaction as the service runs it: the ceiling of what the service
    does, where ``raw_hold`` is the issue's reference transaction."""
    from kapda_gql.checkout import store
    from kapda_gql.checkout.quote import QuoteLine
    from kapda_gql.domain.policy import Actor

    new = store.NewSession(
        user_id=user_id,
        amount=line["line_total"],
        currency="INR",
        lines=[QuoteLine.from_json(line)],
        price_adjustments=[],
        price_alerts=[],
        shipping_address=address,
        expires_at=datetime.now(UTC) + timedelta(seconds=900),
        holds=True,
    )
    _, bound = new.values(Actor(user_id=user_id))
    row = await conn.fetchrow(store.START.sql, *store.START.args(bound))
    if row is None or row["created_at"] is None:
        raise _Short
    return None


@dataclass
class Run:
    layer: str
    kind: str
    result: LoadResult
    connections: int
    count: seed.StockCount
    initial: int
    made: int  # orders (sale) or sessions holding stock (hold) over the run's variants
    warmup_ok: int = 0
    what: str = "sale"

    @property
    def invariant(self) -> bool:
        """Sellable + held + sold = units at the start (the ledger agreeing on hand), and one order
        (sale) or one hold (hold) per success."""
        return self.count.holds(self.initial) and self.made == self.result.ok + self.warmup_ok


async def _prepared(
    url: str, kind: str, sessions: int, tag: str
) -> tuple[list[uuid.UUID], list[int], int, list[int]]:
    conn = await asyncpg.connect(url)
    try:
        per_session, variant_ids, initial = await seed.stock(conn, kind, sessions, tag)
        owners = await seed.customers(conn, sessions, tag)
        await seed.carts(conn, owners, per_session, 1)
        ids = await seed.open_sessions(conn, owners, per_session, 1, holds=HOLDS)
    finally:
        await conn.close()
    return ids, [c.id for c in owners], initial, variant_ids


async def check(url: str, variant_ids: list[int], what: str = "sale") -> tuple[seed.StockCount, int]:
    """The units over the variants, and what the run made: orders (sale) or holding sessions (hold)."""
    conn = await asyncpg.connect(url)
    try:
        count = await seed.stock_check(conn, variant_ids)
        if what == "hold":
            made = await conn.fetchval(
                "SELECT count(DISTINCT session_id) FROM stock_holds WHERE variant_id = ANY($1::bigint[])",
                variant_ids,
            )
            return count, int(made)
        return count, count.orders
    finally:
        await conn.close()


async def run_raw(
    url: str,
    kind: str,
    clients: int,
    duration: float,
    meter: CpuMeter | None,
    one_statement: bool = False,
    connections: int = POOL,
    layer: str | None = None,
    sessions: int | None = None,
) -> Run:
    # Every prepared session holds its units, and each sale sums the other open holds of its
    # variant: how many are prepared is how deep the hold queue is (`--raw-sessions`).
    sessions = sessions or int(1500 * duration)
    ids, _, initial, variant_ids = await _prepared(url, kind, sessions, f"raw{clients}{kind}")
    size = min(clients, connections, MAX_CONNECTIONS)
    pool = FairPool([await asyncpg.connect(url) for _ in range(size)])

    async def call(i: int) -> str | None:
        conn = await pool.acquire()
        try:
            return await raw_checkout(conn, ids[i], f"pay_bench{i:08d}{secrets.token_hex(3)}", one_statement)
        except _Short:
            return "INSUFFICIENT_STOCK"
        finally:
            pool.release(conn)

    try:
        result = await run_calls(clients, call, count=sessions, duration=duration, meter=meter)
    finally:
        await pool.close()
    count, orders = await check(url, variant_ids)
    name = layer or ("asyncpg 1-stmt" if one_statement else "asyncpg")
    return Run(name, kind, result, size, count, initial, orders)


async def run_hold(
    url: str,
    kind: str,
    clients: int,
    duration: float,
    meter: CpuMeter | None,
    connections: int = POOL,
    sessions: int | None = None,
    one_statement: bool = False,
) -> Run:
    """startCheckout's transaction (raw_hold) by N clients over the pool, one session per customer;
    with ``one_statement``, the service's own statement instead (raw_hold_statement)."""
    sessions = sessions or int(1500 * duration)
    conn = await asyncpg.connect(url)
    try:
        tag = f"hold{clients}{kind}"
        per_session, variant_ids, initial = await seed.stock(conn, kind, sessions, tag)
        owners = await seed.customers(conn, sessions, tag)
    finally:
        await conn.close()
    lines = [seed.quote_line(v, 1) for v in per_session]
    address_values = {**seed.ADDRESS, "country": "IN", "line2": None}
    address = json.dumps(address_values)
    size = min(clients, connections, MAX_CONNECTIONS)
    pool = FairPool([await asyncpg.connect(url) for _ in range(size)])

    async def call(i: int) -> str | None:
        conn = await pool.acquire()
        try:
            if one_statement:
                return await raw_hold_statement(conn, owners[i].id, lines[i], address_values)
            return await raw_hold(conn, owners[i].id, lines[i], address)
        except _Short:
            return "INSUFFICIENT_STOCK"
        finally:
            pool.release(conn)

    try:
        result = await run_calls(clients, call, count=sessions, duration=duration, meter=meter)
    finally:
        await pool.close()
    count, held = await check(url, variant_ids, "hold")
    layer = "asyncpg 1-stmt hold" if one_statement else "asyncpg hold"
    return Run(layer, kind, result, size, count, initial, held, what="hold")


async def run_service(url: str, kind: str, clients: int, duration: float, meter: CpuMeter | None) -> Run:
    """`complete_paid_checkout` called directly, with the service's own engine settings."""
    from kapda_gql.app import build_runtime
    from kapda_gql.checkout import services as checkout
    from kapda_gql.config import Settings
    from kapda_gql.domain.enums import Role
    from kapda_gql.domain.policy import Actor
    from kapda_gql.payments.gateway import GatewayPayment

    sessions = int(600 * duration)
    ids, owners, initial, variant_ids = await _prepared(url, kind, sessions, f"svc{clients}{kind}")
    runtime = build_runtime(
        Settings(
            database_url=url, jwt_secret=JWT_SECRET, razorpay_base_url="http://127.0.0.1:9", log_json=False
        )
    )
    conn = await asyncpg.connect(url)
    try:
        amounts = dict(
            await conn.fetch("SELECT id, amount FROM checkout_sessions WHERE id = ANY($1::uuid[])", ids)
        )
    finally:
        await conn.close()

    async def call(i: int) -> str | None:
        sid = ids[i]
        payment = GatewayPayment(
            id=f"pay_svc{i:08d}{secrets.token_hex(3)}",
            order_id=f"order_bench{sid.hex}",
            amount=int(amounts[sid]),
            currency="INR",
            status="captured",
        )
        actor = Actor(user_id=owners[i], role=Role.CUSTOMER, request_id=uuid.uuid4().hex, ip="127.0.0.1")
        await checkout.complete_paid_checkout(runtime.db.uow(), runtime.gateway, actor, sid, payment)
        return None

    warm = min(clients, runtime.settings.db_pool_size + runtime.settings.db_pool_overflow)
    try:
        # Open the pool's connections first: connecting is not what is being measured.
        warmup = await run_calls(warm, call, count=warm, duration=duration)
        result = await run_calls(
            clients, lambda i: call(warm + i), count=sessions - warm, duration=duration, meter=meter
        )
    finally:
        await runtime.db.dispose()
    count, orders = await check(url, variant_ids)
    pool = runtime.settings.db_pool_size + runtime.settings.db_pool_overflow
    return Run("service", kind, result, min(clients, pool), count, initial, orders, warmup.ok)
