"""Drive the real flow: cart → startCheckout → pay in the sandbox (like Razorpay Checkout) → checkout."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx

from tests.support.documents import CHECKOUT, START

T = TypeVar("T")

ADDRESS = {
    "name": "Asha Rao",
    "line1": "12 MG Road",
    "city": "Bengaluru",
    "state": "Karnataka",
    "postalCode": "560001",
    "phone": "+91 98450 12345",
}


async def pay(sandbox_url: str, razorpay_order_id: str, **options: Any) -> dict[str, Any]:
    # verify=False: the sandbox is plain HTTP, and loading the CA bundle costs ~45 ms per client.
    async with httpx.AsyncClient(verify=False) as client:
        r = await client.post(f"{sandbox_url}/sandbox/orders/{razorpay_order_id}/pay", json=options)
        return dict(r.json())


async def start(api: Any, token: str, key: str | None = None) -> dict[str, Any]:
    data = await api.ok(START, {"key": key}, token=token)
    return dict(data["startCheckout"])


async def finish(
    api: Any, token: str, session: dict[str, Any], payment: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    return dict(
        await api(
            CHECKOUT,
            {
                "c": session["id"],
                "o": payment["razorpay_order_id"],
                "p": payment["razorpay_payment_id"],
                "s": payment["razorpay_signature"],
                "key": key or str(uuid.uuid4()),
            },
            token=token,
        )
    )


def sign(razorpay_order_id: str, razorpay_payment_id: str) -> str:
    """The signature Razorpay Checkout hands the client, made with the sandbox key secret."""
    from kapda_gql.config import SANDBOX_KEY_SECRET

    message = f"{razorpay_order_id}|{razorpay_payment_id}".encode()
    return hmac.new(SANDBOX_KEY_SECRET.encode(), message, hashlib.sha256).hexdigest()


async def snapshot(db: Any) -> dict[str, Any]:
    """What a failed checkout must leave untouched: stock, orders (and their parts) and carts."""
    return {
        "stock": [tuple(r) for r in await db.fetch("SELECT id, stock FROM variants ORDER BY id")],
        "orders": await db.fetchval("SELECT count(*) FROM orders"),
        "items": await db.fetchval("SELECT count(*) FROM order_items"),
        "commissions": await db.fetchval("SELECT count(*) FROM commissions"),
        "history": await db.fetchval("SELECT count(*) FROM order_status_history"),
        "cart": [
            tuple(r)
            for r in await db.fetch(
                "SELECT cart_id, variant_id, quantity, unit_price FROM cart_lines ORDER BY cart_id, variant_id"
            )
        ],
    }


async def make_customers(db: Any, settings: Any, n: int) -> list[Any]:
    """Many customers in one statement (the per-user fixture opens a connection per user)."""
    from kapda_gql.auth.security import issue_token
    from tests.support.apps import PASSWORD_HASH, UserInfo

    tag = uuid.uuid4().hex[:8]
    rows = await db.fetch(
        "INSERT INTO users (email, password_hash, name, role, status) "
        "SELECT 'bulk' || g || '-' || $2 || '@example.com', $3, 'Bulk ' || g, 'CUSTOMER', 'ACTIVE' "
        "FROM generate_series(1, $1) g RETURNING id, email",
        n,
        tag,
        PASSWORD_HASH,
    )
    return [
        UserInfo(r["id"], r["email"], "CUSTOMER", issue_token(settings.jwt_secret, r["id"], 3600)[0])
        for r in rows
    ]


async def fill_cart(db: Any, user_id: int, lines: list[tuple[int, int]]) -> None:
    """Put lines in a cart directly, in the given order, at the variant's current price."""
    cart_id = await db.fetchval(
        "INSERT INTO carts (user_id) VALUES ($1) ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id "
        "RETURNING id",
        user_id,
    )
    for i, (vid, q) in enumerate(lines):
        await db.execute(
            "INSERT INTO cart_lines (cart_id, variant_id, quantity, unit_price, added_at) "
            "SELECT $1, v.id, $3, coalesce(v.price, p.price), now() + make_interval(secs => $4) "
            "FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = $2",
            cart_id,
            vid,
            q,
            float(i),
        )


async def gather_limited(limit: int, coros: list[Awaitable[T]]) -> list[T]:
    """Run setup calls concurrently, but not so many at once that they exhaust connections."""
    gate = asyncio.Semaphore(limit)

    async def one(c: Awaitable[T]) -> T:
        async with gate:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def set_on_hand(db: Any, variant_id: int, units: int) -> None:
    """Set a variant's on-hand units behind the API's back, with the SET movement the ledger
    needs to agree (setStock itself would keep held units on top)."""
    await db.execute(
        "WITH old AS (SELECT stock FROM variants WHERE id = $1),"
        " changed AS (UPDATE variants SET stock = $2 WHERE id = $1 RETURNING id, stock)"
        " INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after)"
        " SELECT changed.id, 'SET', changed.stock - old.stock, 0, changed.stock FROM changed, old",
        variant_id,
        units,
    )


def with_initial_movements(insert_variants: str) -> str:
    """An ``INSERT INTO variants ...`` (no RETURNING) made to write each new variant's INITIAL
    movement in the same statement, as createProduct does; it returns the new ids in insert order."""
    return (
        f"WITH made AS ({insert_variants} RETURNING id, stock),"
        " moved AS (INSERT INTO stock_movements (variant_id, reason, delta, stock_after)"
        " SELECT id, 'INITIAL', stock, stock FROM made) SELECT id FROM made ORDER BY id"
    )


async def record_payment(db: Any, order_id: int) -> None:
    """The captured payment of an order written straight into the tables (its total, through its
    checkout session), so the order is paid by exactly one payment as reconcile expects."""
    await db.execute(
        "INSERT INTO payments (razorpay_payment_id, razorpay_order_id, checkout_session_id, order_id,"
        " amount, currency, status)"
        " SELECT 'pay_seeded' || o.id, 'order_seeded' || o.id, o.checkout_session_id, o.id, o.total, 'INR',"
        " 'CAPTURED' FROM orders o WHERE o.id = $1",
        order_id,
    )


async def inside_one_window(window: int, needed: float = 10.0) -> None:
    """Windows start at multiples of ``window`` seconds of the epoch (core/ratelimit.py), so hits
    counted across an edge land in two windows: a test counting within one starts in a fresh one
    when the current one ends too soon."""
    left = window - time.time() % window
    if left < needed:
        await asyncio.sleep(left + 0.1)
