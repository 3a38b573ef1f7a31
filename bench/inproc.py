"""In-process ASGI calls of the catalog page, for profilers (`python -m bench.inproc MODE N`).

No sockets and no load generator: the app (or the bench's floor and plain-Strawberry apps) is
called directly with an ASGI scope, one request after another, so cProfile, pyinstrument or
`valgrind --tool=callgrind` see only the work of a request. MODE is `post`, `apq` (cached, with
the shared cache on), `uncached` (the cache off), `plain` or `floor`; `ab-uncached`, `ab-post` or `ab-apq` run ours and its reference (plain
Strawberry, the floor) in alternating batches and print the median CPU per call of each. With `--profile`, cProfile's
top functions by cumulative and own time are printed. A third argument runs that many callers at
once (as connections would: concurrent cache hits share their version reads). Needs KAPDA_DATABASE_URL (a fresh
database is made, seeded and dropped).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import catalog
from bench.common import DATA_DIR, JWT_SECRET, fresh_database

DEVNULL = open(os.devnull, "w")  # noqa: SIM115  # for the whole process
ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _scope(method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: ASGI, method: str, query: bytes = b"", body: bytes = b"") -> tuple[int, bytes]:
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/json")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sent = False
    status = 0
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(_scope(method, "/graphql", query, headers), receive, send)
    return status, b"".join(out)


def _request(mode: str) -> tuple[str, bytes, bytes]:
    from bench.cache import apq_path, page_payload

    if mode == "apq":
        path, _ = apq_path()
        return "GET", path.partition("?")[2].encode(), b""
    return "POST", b"", json.dumps(page_payload()).encode()


async def _service(url: str, cached: bool) -> ASGI:
    os.environ.update(
        KAPDA_ENV="development",
        KAPDA_DATABASE_URL=url,
        KAPDA_DATA_DIR=str(DATA_DIR),
        KAPDA_JWT_SECRET=JWT_SECRET,
        KAPDA_RAZORPAY_BASE_URL="http://127.0.0.1:9",
        KAPDA_RATE_LIMITS="off",
        KAPDA_LOG_JSON="on",
        KAPDA_GRAPHIQL="off",
        KAPDA_CATALOG_CACHE_SECONDS="3600" if cached else "0",
    )
    from kapda_gql.app import create_app_from_env

    app: ASGI = create_app_from_env()
    # The access log's lines go nowhere, but they are still formatted (as in the bench's log file).
    logging.getLogger().handlers[0].stream = DEVNULL  # type: ignore[attr-defined]
    return app


def main(mode: str, n: int, profile: bool, concurrency: int = 1) -> None:
    with fresh_database() as url:
        import uvloop  # as the service runs

        uvloop.run(run(url, mode, n, profile, concurrency))


async def _apps(url: str, cached: bool) -> tuple[ASGI, bytes]:
    """The service, and the page it answers (the floor's and plain Strawberry's data)."""
    await catalog.seed_catalog(url)
    app = await _service(url, cached=cached)
    method, query, body = _request("post")
    status, page = await call(app, method, query, body)
    assert status == 200, page[:300]
    return app, page


def _reference(mode: str, page: bytes) -> ASGI:
    data = DATA_DIR / "inproc-data.json"
    if mode == "floor":
        data.write_bytes(page)
        os.environ["BENCH_FLOOR_DATA"] = str(data)
        from bench.floor import create_app as floor_app

        return floor_app()
    from bench.plain import create_app as plain_app

    data.write_text(json.dumps({"page": json.loads(page)["data"]["products"]["edges"]}))
    os.environ["BENCH_PLAIN_DATA"] = str(data)
    return plain_app()


async def _load(app: ASGI, mode: str, n: int, concurrency: int) -> float:
    """CPU seconds per call of ``n`` calls on ``concurrency`` callers."""
    method, query, body = _request(mode)

    async def worker(calls: int) -> None:
        for _ in range(calls):
            status, got = await call(app, method, query, body)
            assert status == 200, got[:300]

    cpu = time.process_time()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return (time.process_time() - cpu) / n


async def run(url: str, mode: str, n: int, profile: bool, concurrency: int) -> None:
    if mode.startswith("ab-"):
        await _ab(url, mode[3:], n, concurrency)
        return
    app, page = await _apps(url, cached=mode in {"post", "apq"})
    if mode in {"plain", "floor"}:
        app = _reference(mode, page)
    if mode == "apq":
        await _register(app)
    await _load(app, mode, 50, 1)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    used = await _load(app, mode, n, concurrency)
    if profiler:
        profiler.disable()
    wall = (time.perf_counter() - started) / n
    print(f"{mode}: {n} calls, {wall * 1e6:.0f} us wall, {used * 1e6:.0f} us CPU per call")
    if profiler:
        profiler.dump_stats(str(DATA_DIR / f"inproc-{mode}.prof"))
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)


async def _register(app: ASGI) -> None:
    from bench.cache import apq_path, page_payload

    _, extensions = apq_path()
    await call(app, "POST", b"", json.dumps({**page_payload(), "extensions": extensions}).encode())


async def _ab(url: str, what: str, n: int, concurrency: int) -> None:
    """Ours and the reference in alternating batches of ``n`` calls in this one process, 15 batches
    each: the medians are what the machine's noise moves least."""
    cached = what in {"post", "apq"}
    ours, page = await _apps(url, cached=cached)
    reference = _reference("floor" if cached else "plain", page)
    if what == "apq":
        await _register(ours)
    ref_mode = "post"
    a: list[float] = []
    b: list[float] = []
    for _ in range(15):
        a.append(await _load(ours, what, n, concurrency))
        b.append(await _load(reference, ref_mode, n, concurrency))
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"{what} vs {'floor' if cached else 'plain'}: ours {ma * 1e6:.0f} us CPU per call, reference"
        f" {mb * 1e6:.0f} us; reference/ours {mb / ma:.0%} (batches of {n}, {concurrency} callers)"
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    concurrency = int(args[2]) if len(args) > 2 else 1
    main(args[0], int(args[1]) if len(args) > 1 else 2000, "--profile" in sys.argv, concurrency)
