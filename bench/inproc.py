"""In-process ASGI calls of the catalog page, for profilers (`python -m bench.inproc MODE N`).

No sockets and no load generator: the app (or the bench's floor and plain-Strawberry apps) is
called directly with an ASGI scope, one request after another, so cProfile, pyinstrument or
`valgrind --tool=callgrind` see only the work of a request. MODE is `post`, `apq` (cached, with
the shared cache on), `uncached` (the cache off), `plain` or `floor`. With `--profile`, cProfile's
top functions by cumulative and own time are printed. Needs KAPDA_DATABASE_URL (a fresh
database is made, seeded and dropped).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import os
import pstats
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


def main(mode: str, n: int, profile: bool) -> None:
    with fresh_database() as url:
        asyncio.run(run(url, mode, n, profile))


async def run(url: str, mode: str, n: int, profile: bool) -> None:
    if True:
        await catalog.seed_catalog(url)
        app = await _service(url, cached=mode in {"post", "apq"})
        method, query, body = _request("post")
        status, page = await call(app, method, query, body)
        assert status == 200, page[:300]
        if mode in {"plain", "floor"}:
            data = DATA_DIR / "inproc-data.json"
            if mode == "floor":
                data.write_bytes(page)
                os.environ["BENCH_FLOOR_DATA"] = str(data)
                from bench.floor import create_app as floor_app

                app = floor_app()
            else:
                from bench.plain import create_app as plain_app

                data.write_text(json.dumps({"page": json.loads(page)["data"]["products"]["edges"]}))
                os.environ["BENCH_PLAIN_DATA"] = str(data)
                app = plain_app()
        method, query, body = _request(mode)
        if mode == "apq":
            from bench.cache import apq_path, page_payload

            _, extensions = apq_path()
            await call(app, "POST", b"", json.dumps({**page_payload(), "extensions": extensions}).encode())
        for _ in range(50):
            status, got = await call(app, method, query, body)
        assert status == 200, got[:300]
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(n):
            await call(app, method, query, body)
        if profiler:
            profiler.disable()
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        print(f"{mode}: {n} calls, {wall / n * 1e6:.0f} us wall, {used / n * 1e6:.0f} us CPU per call")
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0], int(args[1]) if len(args) > 1 else 2000, "--profile" in sys.argv)
