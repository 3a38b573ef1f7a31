"""Catalog browsing: `products(first: 20)` with designer and variants, plain, filtered and searched,
against a bare Strawberry app answering the same bytes from memory; and the SQL statements each
request costs, counted in-process with the service's statement listeners (`Database.listeners`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench import seed
from bench.common import (
    JWT_SECRET,
    CpuMeter,
    LoadResult,
    Sandbox,
    Service,
    http_client,
    post_request,
    run_load,
)

PAGE = """query Page($first: Int!, $filter: ProductFilter, $sort: ProductSort) {
  products(first: $first, filter: $filter, sort: $sort) {
    edges { cursor node { id title price { amount currency } designer { id name }
      variants { id sku size color stock price { amount currency } } } }
    pageInfo { hasNextPage endCursor } } }"""
QUERIES: dict[str, dict[str, Any]] = {
    "page": {},
    "filtered": {"filter": {"category": "Kurta", "minPrice": 50000, "inStock": True}, "sort": "PRICE_ASC"},
    "search": {"filter": {"search": "handwoven cotton"}, "sort": "RELEVANCE"},
}
CATEGORIES = ("Kurta", "Saree", "Dupatta", "Lehenga", "Sherwani", "Jacket")
FABRICS = ("cotton", "silk", "linen", "khadi", "chanderi", "mulmul")
STYLES = ("Handwoven", "Block-printed", "Embroidered", "Hand-dyed", "Ikat", "Bandhani")
REGIONS = ("Jaipur", "Varanasi", "Kutch", "Bhagalpur", "Pochampally", "Lucknow")
PRODUCTS = 300


def variables(name: str, first: int = 20) -> dict[str, Any]:
    return {"first": first, **QUERIES[name]}


async def seed_catalog(url: str) -> None:
    """300 products, each from its own designer (the worst case for batching), 3 variants each."""
    conn = await asyncpg.connect(url)
    try:
        tag = f"cat-{uuid.uuid4().hex[:6]}"
        studios = await seed.designers(conn, [f"{REGIONS[i % 6]} Atelier {i}" for i in range(PRODUCTS)], tag)
        now = datetime.now(UTC)
        specs = []
        for i in range(PRODUCTS):
            category, fabric, style = CATEGORIES[i % 6], FABRICS[(i // 6) % 6], STYLES[(i // 3) % 6]
            description = f"{style} {fabric} {category.lower()} from {REGIONS[(i // 2) % 6]}."
            if i % 2 == 0:
                description += " Handwoven on a pit loom by a family of weavers."
            specs.append(
                seed.ProductSpec(
                    studios[i],
                    f"{style} {fabric.title()} {category} {i}",
                    description,
                    category,
                    30000 + (i * 7919 % 120) * 1000,
                    [
                        (f"{tag}-{i}-{s}", s, ("Indigo", "Rust", "Ivory")[j], (i + j) % 5)
                        for j, s in enumerate("SML")
                    ],
                    created_at=now - timedelta(minutes=i),
                )
            )
        await seed.products(conn, specs)
    finally:
        await conn.close()


async def save_pages(service: Service, path: Path) -> None:
    """The service's answers (100 products each) for the plain app to serve from memory."""
    pages: dict[str, Any] = {}
    async with http_client(service.url) as client:
        for name in QUERIES:
            r = await client.post("/graphql", json={"query": PAGE, "variables": variables(name, 100)})
            body = r.json()
            assert not body.get("errors"), body
            pages[name] = body["data"]["products"]["edges"]
            assert len(pages[name]) >= 20, (name, len(pages[name]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pages))


async def same_answers(service: Service, plain: Service) -> dict[str, bool]:
    """Whether the reference sends exactly the service's data for each query at first: 20."""
    same: dict[str, bool] = {}
    async with http_client(service.url) as a, http_client(plain.url) as b:
        for name in QUERIES:
            payload = {"query": PAGE, "variables": variables(name)}
            ours = (await a.post("/graphql", json=payload)).json()
            theirs = (await b.post("/graphql", json=payload)).json()
            same[name] = ours == theirs
    return same


async def load(
    server: Service, name: str, clients: int, duration: float, meter: CpuMeter | None, first: int = 20
) -> LoadResult:
    raw = post_request(
        server.port, "/graphql", {"query": PAGE, "operationName": "Page", "variables": variables(name, first)}
    )
    # Warm-up at the same concurrency: pool connections, parser and validation caches, prepared statements.
    await run_load(
        server.port, clients, lambda _: raw, count=clients * 20, duration=1.0, workers=server.workers
    )
    return await run_load(
        server.port,
        clients,
        lambda _: raw,
        count=10**9,
        duration=duration,
        meter=meter,
        workers=server.workers,
    )


# --- statements per request ------------------------------------------------------------------


@dataclass
class Counts:
    statements: list[str] = field(default_factory=list)


@contextmanager
def counting(db: Any) -> Iterator[Counts]:
    """The service's statement listeners see both the ORM path and lean units (`db/sql.py`)."""
    counts = Counts()
    db.listeners.append(counts.statements.append)
    try:
        yield counts
    finally:
        db.listeners.remove(counts.statements.append)


@dataclass
class StatementRow:
    what: str
    first: int | None
    signed_in: bool
    statements: int


async def statement_counts(url: str, sandbox: Sandbox) -> tuple[list[StatementRow], list[str]]:
    """Statements for the catalog queries at first = 1, 20, 100 (anonymous and signed in), and for
    one whole `checkout` mutation; also the checkout's SQL, to show where its round trips go."""
    from bench.checkout import CHECKOUT, START
    from kapda_gql.app import build_runtime, create_app
    from kapda_gql.config import Settings

    runtime = build_runtime(
        Settings(
            database_url=url,
            jwt_secret=JWT_SECRET,
            razorpay_base_url=sandbox.url,
            rate_limits=False,
            log_json=False,
            metrics=False,
            catalog_cache_seconds=0,  # every request runs: the statements it costs uncached
        )
    )
    app = create_app(runtime=runtime)
    rows: list[StatementRow] = []
    checkout_sql: list[str] = []
    conn = await asyncpg.connect(url)
    try:
        [customer] = await seed.customers(conn, 1, "count")
        per_session, _, _ = await seed.stock(conn, "hot", 2, "count")
        await seed.carts(conn, [customer], per_session[:1], 1)
    finally:
        await conn.close()
    auth = {"Authorization": f"Bearer {customer.token}"}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name in QUERIES:
                for first in (1, 20, 100):
                    for headers in ({}, auth):
                        payload = {"query": PAGE, "variables": variables(name, first)}
                        await client.post("/graphql", json=payload, headers=headers)  # warm
                        with counting(runtime.db) as counts:
                            body = (await client.post("/graphql", json=payload, headers=headers)).json()
                        assert not body.get("errors"), body
                        rows.append(StatementRow(name, first, bool(headers), len(counts.statements)))
            started = (
                await client.post(
                    "/graphql", json={"query": START, "variables": {"a": seed.ADDRESS}}, headers=auth
                )
            ).json()
            session = started["data"]["startCheckout"]
            async with http_client(sandbox.url) as pay:
                proof = (await pay.post(f"/sandbox/orders/{session['razorpayOrderId']}/pay", json={})).json()
            variables_ = {
                "c": session["id"],
                "o": proof["razorpay_order_id"],
                "p": proof["razorpay_payment_id"],
                "s": proof["razorpay_signature"],
                "key": str(uuid.uuid4()),
            }
            with counting(runtime.db) as counts:
                body = (
                    await client.post(
                        "/graphql", json={"query": CHECKOUT, "variables": variables_}, headers=auth
                    )
                ).json()
            assert not body.get("errors"), body
            rows.append(StatementRow("checkout mutation", None, True, len(counts.statements)))
            checkout_sql = [" ".join(s.split())[:110] for s in counts.statements]
    finally:
        await runtime.db.dispose()
    return rows, checkout_sql


async def first_request_check(server: Service) -> None:
    """Fail early, with the answer, if the query does not work against this server."""
    async with http_client(server.url) as client:
        body = (await client.post("/graphql", json={"query": PAGE, "variables": variables("page")})).json()
    if body.get("errors") or not body.get("data"):
        raise RuntimeError(f"{server.process.name} answered {str(body)[:500]}")


__all__ = ["QUERIES", "load", "save_pages", "seed_catalog", "statement_counts"]
