"""The service with process-level changes applied from outside, to measure a recommendation before
anyone edits the service: `python -m bench experiments` runs the same loads against this and
against plain `kapda-gql serve`.

Session 1's two experiments (freezing the collector's start-up objects with larger thresholds,
and more threads for the gateway) are part of the service now (`app.tune_gc`, the gateway's own
thread pool), so the variants measure what is still open:

BENCH_GC=off: the cyclic garbage collector disabled after start-up, i.e. what it still costs.
BENCH_GATEWAY_THREADS=N: the gateway's thread pool at N threads instead of its 16.
"""

from __future__ import annotations

import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def create_app() -> Any:
    from kapda_gql.app import create_app_from_env
    from kapda_gql.payments import gateway

    app: Any = create_app_from_env()
    if os.environ.get("BENCH_GC") == "off":
        gc.disable()
    threads = int(os.environ.get("BENCH_GATEWAY_THREADS") or 0)
    if threads:
        gateway._THREADS = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="razorpay")
    return app


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
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
