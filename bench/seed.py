"""Test data straight into the database, in a few set-based statements (like tests/conftest.py,
but in bulk): users with one precomputed argon2 hash, designers, products, variants, carts."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench.common import JWT_SECRET
from kapda_gql.auth.security import _hasher, issue_token

# Hashed once: nobody logs in during a benchmark, so no argon2 time is spent per user.
PASSWORD_HASH = _hasher.hash("bench password, never used")
ADDRESS = {
    "name": "Asha Rao",
    "line1": "12 MG Road",
    "city": "Bengaluru",
    "state": "Karnataka",
    "postalCode": "560001",
    "phone": "+91 98450 12345",
}
# Old enough that the catalog's NEWEST page never shows the checkout scenarios' products.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Customer:
    id: int
    token: str


async def customers(conn: asyncpg.Connection, n: int, tag: str) -> list[Customer]:
    batch = uuid.uuid4().hex[:6]
    emails = [f"{tag}-{batch}-{i}@bench.example" for i in range(n)]
    rows = await conn.fetch(
        """
        INSERT INTO users (email, password_hash, name, role, status)
        SELECT e, $2, 'Bench Customer', 'CUSTOMER', 'ACTIVE' FROM unnest($1::text[]) WITH ORDINALITY AS t(e, i)
        ORDER BY i
        RETURNING id, email
        """,
        emails,
        PASSWORD_HASH,
    )
    by_email = {r["email"]: int(r["id"]) for r in rows}
    return [Customer(by_email[e], issue_token(JWT_SECRET, by_email[e], 6 * 3600)[0]) for e in emails]


async def designers(conn: asyncpg.Connection, names: list[str], tag: str) -> list[int]:
    batch = uuid.uuid4().hex[:6]
    emails = [f"{tag}-designer-{batch}-{i}@bench.example" for i in range(len(names))]
    rows = await conn.fetch(
        """
        WITH u AS (
            INSERT INTO users (email, password_hash, name, role, status)
            SELECT e, $3, n, 'DESIGNER', 'ACTIVE' FROM unnest($1::text[], $2::text[]) AS t(e, n)
            RETURNING id, name
        )
        INSERT INTO designers (user_id, name) SELECT id, name FROM u RETURNING id, name
        """,
        emails,
        names,
        PASSWORD_HASH,
    )
    by_name = {r["name"]: int(r["id"]) for r in rows}
    return [by_name[n] for n in names]


@dataclass(frozen=True)
class ProductSpec:
    designer_id: int
    title: str
    description: str
    category: str
    price: int
    variants: list[tuple[str, str, str, int]]  # (sku, size, color, stock)
    created_at: datetime = LONG_AGO


@dataclass(frozen=True)
class VariantRow:
    id: int
    product_id: int
    designer_id: int
    title: str
    sku: str
    size: str
    color: str
    price: int
    stock: int


async def products(conn: asyncpg.Connection, specs: list[ProductSpec]) -> list[VariantRow]:
    """Insert products and their variants; returns every variant, in the order given."""
    batch = uuid.uuid4().hex[:6]
    rows = await conn.fetch(
        """
        INSERT INTO products (designer_id, slug, title, description, category, price, currency, images, status,
                              created_at, updated_at)
        SELECT d, s, t, de, c, p, 'INR', ARRAY['https://img.example/' || s || '.jpg'], 'APPROVED', ca, ca
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[])
             AS x(d, s, t, de, c, p, ca)
        RETURNING id, slug
        """,
        [s.designer_id for s in specs],
        [f"bench-{batch}-{i}" for i in range(len(specs))],
        [s.title for s in specs],
        [s.description for s in specs],
        [s.category for s in specs],
        [s.price for s in specs],
        [s.created_at for s in specs],
    )
    pid = {r["slug"]: int(r["id"]) for r in rows}
    product_ids = [pid[f"bench-{batch}-{i}"] for i in range(len(specs))]
    flat = [(product_ids[i], s, v) for i, s in enumerate(specs) for v in s.variants]
    # Each variant's first stock is its INITIAL movement, in the same statement as the service's
    # createProduct writes it, so `kapda-gql reconcile` agrees with every bench database.
    vrows = await conn.fetch(
        """
        WITH v AS (
            INSERT INTO variants (product_id, sku, size, color, stock)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[])
            RETURNING id, sku, stock
        ), moved AS (
            INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, note)
            SELECT id, 'INITIAL', stock, 0, stock, 'bench seed' FROM v
        )
        SELECT id, sku FROM v
        """,
        [p for p, _, _ in flat],
        [v[0] for _, _, v in flat],
        [v[1] for _, _, v in flat],
        [v[2] for _, _, v in flat],
        [v[3] for _, _, v in flat],
    )
    vid = {r["sku"]: int(r["id"]) for r in vrows}
    return [
        VariantRow(vid[v[0]], p, s.designer_id, s.title, v[0], v[1], v[2], s.price, v[3]) for p, s, v in flat
    ]


async def carts(
    conn: asyncpg.Connection, owners: list[Customer], variants: list[VariantRow], qty: int
) -> None:
    """One cart line per customer, as addToCart would have stored it (the current price)."""
    rows = await conn.fetch(
        "INSERT INTO carts (user_id) SELECT unnest($1::bigint[]) RETURNING id, user_id",
        [c.id for c in owners],
    )
    cart = {int(r["user_id"]): int(r["id"]) for r in rows}
    await conn.execute(
        """
        INSERT INTO cart_lines (cart_id, variant_id, quantity, unit_price)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[])
        """,
        [cart[c.id] for c in owners],
        [v.id for v in variants],
        [qty] * len(owners),
        [v.price for v in variants],
    )


async def open_sessions(
    conn: asyncpg.Connection, owners: list[Customer], variants: list[VariantRow], qty: int, holds: bool = True
) -> list[uuid.UUID]:
    """Checkout sessions as startCheckout leaves them (for the runs that bypass the API): the quote
    frozen, and each line's units held until the session expires, each hold a HOLD movement
    (without ``holds``, as KAPDA_STOCK_HOLDS=off leaves them: no hold, no movement)."""
    ids = [uuid.uuid4() for _ in owners]
    lines = [json.dumps([quote_line(v, qty)]) for v in variants]
    await conn.execute(
        """
        WITH s AS (
            INSERT INTO checkout_sessions (id, user_id, razorpay_order_id, amount, currency, lines,
                                           price_adjustments, shipping_address, status, expires_at)
            SELECT id, u, 'order_bench' || replace(id::text, '-', ''), a, 'INR', l::jsonb, '[]'::jsonb,
                   $5::jsonb, 'OPEN', now() + interval '6 hours'
            FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[]) AS x(id, u, a, l)
            RETURNING id, user_id, lines, expires_at
        ), h AS (
            INSERT INTO stock_holds (session_id, variant_id, quantity, expires_at)
            SELECT s.id, (l->>'variant_id')::bigint, (l->>'quantity')::int, s.expires_at
            FROM s, jsonb_array_elements(s.lines) AS l
            WHERE $6
            RETURNING session_id, variant_id, quantity
        )
        INSERT INTO stock_movements (variant_id, reason, delta, held_delta, stock_after, checkout_session_id,
                                     actor_id)
        SELECT h.variant_id, 'HOLD', 0, h.quantity, v.stock, h.session_id, s.user_id
        FROM h JOIN s ON s.id = h.session_id JOIN variants v ON v.id = h.variant_id
        """,
        ids,
        [c.id for c in owners],
        [v.price * qty for v in variants],
        lines,
        json.dumps({**ADDRESS, "country": "IN", "line2": None}),
        holds,
    )
    return ids


def quote_line(v: VariantRow, qty: int) -> dict[str, Any]:
    return {
        "variant_id": v.id,
        "product_id": v.product_id,
        "designer_id": v.designer_id,
        "title": v.title,
        "sku": v.sku,
        "size": v.size,
        "color": v.color,
        "quantity": qty,
        "cart_price": v.price,
        "current_price": v.price,
        "unit_price": v.price,
        "line_total": v.price * qty,
    }


@dataclass(frozen=True)
class StockCount:
    """Units over a set of variants: ``stock`` (sellable now) + ``held`` + ``sold`` must be the
    units at the start. ``variants.stock`` is on hand (held units included), so sellable is on hand
    less the unexpired holds, and ``ledger`` is the on hand the stock ledger's movements add up to."""

    sold: int
    stock: int
    held: int
    orders: int
    ledger: int

    @property
    def on_hand(self) -> int:
        return self.stock + self.held

    def holds(self, initial: int) -> bool:
        return self.stock + self.held + self.sold == initial and self.ledger == self.on_hand

    def text(self, initial: int) -> str:
        sign = "=" if self.holds(initial) else "≠"
        return f"{self.stock}+{self.held}+{self.sold}{sign}{initial}" + (
            "" if self.ledger == self.on_hand else f" ledger {self.ledger}"
        )


async def stock_check(conn: asyncpg.Connection, variant_ids: list[int]) -> StockCount:
    """Sold, sellable, held, orders and the ledger's on hand over the variants, in one snapshot."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT coalesce(sum(quantity), 0) FROM order_items WHERE variant_id = ANY($1::bigint[])),
               (SELECT count(DISTINCT order_id) FROM order_items WHERE variant_id = ANY($1::bigint[])),
               (SELECT coalesce(sum(stock), 0) FROM variants WHERE id = ANY($1::bigint[])),
               (SELECT coalesce(sum(quantity), 0) FROM stock_holds
                WHERE variant_id = ANY($1::bigint[]) AND expires_at > now()),
               (SELECT coalesce(sum(delta), 0) FROM stock_movements WHERE variant_id = ANY($1::bigint[]))
        """,
        variant_ids,
    )
    sold, orders, on_hand, held, ledger = (int(x) for x in row)
    return StockCount(sold, on_hand - held, held, orders, ledger)


SIZES = ("XS", "S", "M", "L", "XL")
COLORS = ("Indigo", "Madder")
SPREAD_VARIANTS = 1000


async def stock(
    conn: asyncpg.Connection, kind: str, sessions: int, tag: str
) -> tuple[list[VariantRow], list[int], int]:
    """The variant each session buys (in order), every variant made, and the units at the start.

    `hot`: one variant with exactly `sessions` units, so a run where every checkout succeeds sells
    out. `spread`: 1,000 variants (100 products of 10) each holding enough for its share.
    """
    tag = f"{tag}-{uuid.uuid4().hex[:6]}"
    if kind == "hot":
        [designer] = await designers(conn, [f"Studio {tag}"], tag)
        spec = ProductSpec(
            designer, f"Hot kurta {tag}", "Sale item", "Bench", 99900, [(f"{tag}-HOT", "M", "Red", sessions)]
        )
        [variant] = await products(conn, [spec])
        return [variant] * sessions, [variant.id], sessions
    per = -(-sessions // SPREAD_VARIANTS)
    studios = await designers(conn, [f"Studio {tag} {i}" for i in range(20)], tag)
    specs = [
        ProductSpec(
            studios[p % len(studios)],
            f"Kurta {tag} {p}",
            "Sale item",
            "Bench",
            49900 + 1000 * (p % 50),
            [(f"{tag}-{p}-{s}-{c}", s, c, per) for s in SIZES for c in COLORS],
        )
        for p in range(SPREAD_VARIANTS // (len(SIZES) * len(COLORS)))
    ]
    variants = await products(conn, specs)
    per_session = [variants[i % len(variants)] for i in range(sessions)]
    return per_session, [v.id for v in variants], per * len(variants)
