"""The shared response cache (`python -m bench cache`).

1. Throughput, in alternating rounds (the machine is shared: each server runs once per round, in
   the opposite order every other round, and the report gives each ratio's median and spread):
   a cached `products(first: 20)` page over POST and over APQ GET against the HTTP floor (a bare
   Starlette endpoint answering the same bytes, `bench/floor.py`), and the uncached page against
   plain Strawberry (`bench/plain.py`).
2. A mixed load on the cached service: browsing, `setStock` by an admin and checkouts at once.
   Reports the hit rate (the service's own counter, `kapda_catalog_cache_total`), and for each
   `setStock` the time from its answer to the first page showing the new figure, and how many
   answers after its commit still showed the old one (must be 0).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench import catalog, checkout
from bench.common import (
    DATA_DIR,
    JWT_SECRET,
    LoadResult,
    Sandbox,
    Service,
    connect,
    get_request,
    http_client,
    post_request,
    run_load,
    start_plain,
    start_service,
)

CACHED = {"KAPDA_CATALOG_CACHE_SECONDS": "2"}
UNCACHED = {"KAPDA_CATALOG_CACHE_SECONDS": "0"}
ROUNDS = 3
CLIENTS = 32


def page_payload() -> dict[str, Any]:
    return {"query": catalog.PAGE, "operationName": "Page", "variables": catalog.variables("page")}


def apq_path() -> tuple[str, dict[str, Any]]:
    """The GET path of the page as Apollo's persisted-query link sends it, and its extensions."""
    import hashlib

    digest = hashlib.sha256(catalog.PAGE.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    query = urllib.parse.urlencode(
        {
            "operationName": "Page",
            "variables": json.dumps(catalog.variables("page"), separators=(",", ":")),
            "extensions": json.dumps(extensions, separators=(",", ":")),
        }
    )
    return "/graphql?" + query, extensions


@dataclass
class Servers:
    cached: Service
    uncached: Service
    floor: Service
    plain: Service

    def stop(self) -> None:
        for s in (self.cached, self.uncached, self.floor, self.plain):
            s.process.stop()


async def start(url: str, sandbox: Sandbox) -> Servers:
    """All four, idle until their turn (an idle server takes no CPU from the one measured)."""
    cached = await start_service(url, sandbox.url, 1, settings=CACHED, label="-cached")
    uncached = await start_service(url, sandbox.url, 1, settings=UNCACHED, label="-uncached")
    await catalog.save_pages(uncached, DATA_DIR / "plain-pages.json")
    async with http_client(cached.url) as client:
        body = (await client.post("/graphql", json=page_payload())).content
        path, extensions = apq_path()
        # Registered once, as the link does after PERSISTED_QUERY_NOT_FOUND.
        registered = await client.post("/graphql", json={**page_payload(), "extensions": extensions})
        assert registered.content == body, registered.text[:200]
        got = await client.get(path)
        assert got.content == body, got.text[:200]
    floor_file = DATA_DIR / "floor-page.json"
    floor_file.write_bytes(body)
    floor = await start_plain(floor_file, 1, module="bench.floor")
    plain = await start_plain(DATA_DIR / "plain-pages.json", 1)
    return Servers(cached, uncached, floor, plain)


async def same_bytes(servers: Servers) -> dict[str, bool]:
    out: dict[str, bool] = {}
    async with http_client(servers.cached.url) as a, http_client(servers.floor.url) as b:
        out["cached = floor"] = (await a.post("/graphql", json=page_payload())).content == (
            await b.post("/graphql", json=page_payload())
        ).content
    async with http_client(servers.uncached.url) as a, http_client(servers.plain.url) as b:
        out["uncached = plain"] = (await a.post("/graphql", json=page_payload())).json() == (
            await b.post("/graphql", json=page_payload())
        ).json()
    return out


async def timed(server: Service, raw: bytes, duration: float) -> LoadResult:
    await run_load(server.port, CLIENTS, lambda _: raw, count=CLIENTS * 20, duration=0.5)
    return await run_load(server.port, CLIENTS, lambda _: raw, count=10**9, duration=duration)


@dataclass
class Comparison:
    name: str
    ours: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.ours, self.reference, strict=True) if b]

    def row(self) -> list[Any]:
        r = self.ratios
        return [
            self.name,
            " / ".join(f"{x:,.0f}" for x in self.ours),
            " / ".join(f"{x:,.0f}" for x in self.reference),
            " / ".join(f"{x:.0%}" for x in r),
            f"{statistics.median(r):.0%}",
            f"{min(r):.0%}–{max(r):.0%}",
        ]


async def rounds(servers: Servers, duration: float) -> list[Comparison]:
    path, _ = apq_path()
    post = page_payload()
    phases = [
        ("cached POST vs floor", servers.cached, post_request(servers.cached.port, "/graphql", post)),
        ("", servers.floor, post_request(servers.floor.port, "/graphql", post)),
        ("cached APQ GET vs floor", servers.cached, get_request(servers.cached.port, path)),
        ("", servers.floor, get_request(servers.floor.port, path)),
        (
            "uncached POST vs plain Strawberry",
            servers.uncached,
            post_request(servers.uncached.port, "/graphql", post),
        ),
        ("", servers.plain, post_request(servers.plain.port, "/graphql", post)),
    ]
    comparisons = [Comparison(phases[i][0]) for i in range(0, len(phases), 2)]
    for n in range(ROUNDS):
        pairs = list(range(len(comparisons)))
        for i in pairs if n % 2 == 0 else reversed(pairs):
            first, second = (0, 1) if n % 2 == 0 else (1, 0)
            results: dict[int, float] = {}
            for side in (first, second):
                _, server, raw = phases[2 * i + side]
                result = await timed(server, raw, duration)
                assert not result.errors, (phases[2 * i][0], result.error_text())
                results[side] = result.rate
            comparisons[i].ours.append(results[0])
            comparisons[i].reference.append(results[1])
    return comparisons


# --- mixed load --------------------------------------------------------------------------------


async def _admin_token(url: str) -> str:
    from kapda_gql.auth.security import issue_token

    conn = await asyncpg.connect(url)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (email, password_hash, name, role, status)"
            " VALUES ('bench-admin-' || gen_random_uuid() || '@bench.example', 'x', 'Bench Admin', 'ADMIN', 'ACTIVE')"
            " RETURNING id"
        )
    finally:
        await conn.close()
    token, _ = issue_token(JWT_SECRET, int(user_id), 3600)
    return token


async def _hits(service: Service) -> dict[str, float]:
    async with http_client(service.url) as client:
        text = (await client.get("/metrics")).text
    out = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("kapda_catalog_cache_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = float(line.rsplit(" ", 1)[1])
    return out


@dataclass
class Mixed:
    browse: LoadResult
    checkouts: LoadResult
    hit_rate: float
    lags_ms: list[float]
    stale_after_commit: int
    stock_sets: int


async def mixed(url: str, service: Service, sandbox: Sandbox, duration: float) -> Mixed:
    """Browsing on 24 connections, checkouts on 8, and a setStock every 50 ms on a variant of the page."""
    sessions, _, _, failures = await checkout.prepare(url, service, sandbox, "spread", 300, "mixed")
    assert not failures, failures
    token = await _admin_token(url)
    async with http_client(service.url) as client:
        page = (await client.post("/graphql", json=page_payload())).json()
    variant = page["data"]["products"]["edges"][0]["node"]["variants"][0]["id"]
    raw_page = post_request(service.port, "/graphql", page_payload())
    set_stock = "mutation($v: ID!, $s: Int!) { setStock(input: {variantId: $v, stock: $s}) { stock } }"
    lags: list[float] = []
    stale = 0
    sets = 0
    before = await _hits(service)
    deadline = time.monotonic() + duration

    def stock_in(body: bytes) -> int | None:
        for edge in json.loads(body)["data"]["products"]["edges"]:
            for v in edge["node"]["variants"]:
                if v["id"] == variant:
                    return int(v["stock"])
        return None

    async def writer() -> None:
        nonlocal stale, sets
        watcher = await connect(service.port)
        try:
            async with http_client(service.url) as admin:
                value = 100
                while time.monotonic() < deadline:
                    value += 1
                    r = await admin.post(
                        "/graphql",
                        json={"query": set_stock, "variables": {"v": variant, "s": value}},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    committed = time.perf_counter()
                    assert r.json()["data"]["setStock"]["stock"] == value, r.text
                    sets += 1
                    while True:  # every answer from here on must show the new figure
                        _, body = await watcher.request(raw_page)
                        if stock_in(body) == value:
                            lags.append((time.perf_counter() - committed) * 1000)
                            break
                        stale += 1
                    await asyncio.sleep(0.05)
        finally:
            watcher.close()

    browse, checkouts, _ = await asyncio.gather(
        run_load(service.port, 24, lambda _: raw_page, count=10**9, duration=duration),
        run_load(
            service.port,
            8,
            lambda i: checkout.checkout_request(service.port, sessions[i]),
            count=len(sessions),
            duration=duration,
            classify=checkout.checkout_outcome,
        ),
        writer(),
    )
    after = await _hits(service)
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    return Mixed(browse, checkouts, hits / (hits + misses) if hits + misses else 0.0, lags, stale, sets)


__all__ = ["Comparison", "Mixed", "Servers", "mixed", "rounds", "same_bytes", "start"]
