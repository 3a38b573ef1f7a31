"""The service with process-level tuning applied from outside, to measure a recommendation before
anyone edits the service: `python -m bench experiments` runs the same loads against this and
against plain `kapda-gql serve`.

BENCH_GC=freeze: after the app is built, move everything alive to the permanent generation
(`gc.freeze()`) and collect the youngest generation every 20,000 allocations instead of 700. Every
request leaves ~900 objects in reference cycles (ORM instance states, DataLoader futures) for the
collector, and each full collection otherwise walks all of SQLAlchemy's and Strawberry's objects.
BENCH_EXECUTOR=N: a default thread pool of N threads instead of min(32, cores + 4) = 6, for the
Razorpay SDK calls that run in threads (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class _Executor:
    def __init__(self, app: ASGIApp, threads: int) -> None:
        self.app = app
        self.threads = threads
        self.done = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.done:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(self.threads))
            self.done = True
        await self.app(scope, receive, send)


def create_app() -> Any:
    from kapda_gql.app import create_app_from_env

    app: Any = create_app_from_env()
    if os.environ.get("BENCH_GC") == "freeze":
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
    threads = int(os.environ.get("BENCH_EXECUTOR") or 0)
    return _Executor(app, threads) if threads else app


def main() -> None:
    """`kapda-gql serve` without its migrate and sandbox steps (the bench did both), same uvicorn."""
    import uvicorn

    port, workers = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run(
        "bench.tuned:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
