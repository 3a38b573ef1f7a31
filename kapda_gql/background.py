"""Background jobs of a service process: the one way to run something every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kapda_gql.db.uow import is_outage

log = logging.getLogger("kapda_gql.background")


@contextlib.asynccontextmanager
async def periodic(name: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    """Run ``job`` every ``seconds`` while the app lives; a failing round is logged and the loop goes on."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as error:  # the loop must outlive any one bad round; the next may succeed
                if is_outage(error):  # the database is away: one line a round, not a traceback each
                    log.warning(
                        "background job %s skipped a round, the database is unavailable: %r", name, error
                    )
                else:
                    log.exception("background job %s failed", name)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
