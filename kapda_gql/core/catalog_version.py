"""The catalog's version: one counter in PostgreSQL that every catalog change moves at its COMMIT.

Triggers move it for content, prices, status and deletions (alembic revision 0003), so no writer
can forget it; ``setStock``'s own statement calls ``kapda_bump_catalog()`` (catalog/store.py): of
the stock changes, only the one made by hand must show at once (sales, holds and refunds move
stock without it). Readers ask ``CatalogClock.now()``: the
version as of a read that began after they asked, so every change committed before a request
arrived is counted, whichever worker or replica committed it.
"""

from __future__ import annotations

import asyncio

from kapda_gql.db.uow import Database

READ = "SELECT version FROM catalog_version WHERE id = 1"


class CatalogClock:
    """Fresh reads of the version, shared by the requests that wait at the same time.

    A request joins the next read that starts after it arrived, never one already on its way (that
    one might miss a commit that finished just before the request came). So under load one
    statement answers every request that arrived during the previous one's round trip.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._running: asyncio.Future[int] | None = None
        self._queued: asyncio.Future[int] | None = None

    async def now(self) -> int:
        if self._running is None:
            waiter = self._running = self._start()
        else:
            if self._queued is None:
                self._queued = asyncio.get_running_loop().create_future()
            waiter = self._queued
        return await asyncio.shield(waiter)

    def _start(self) -> asyncio.Future[int]:
        task = asyncio.ensure_future(self._read())
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[int]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved here: waiters may all have gone
        queued, self._queued = self._queued, None
        if queued is None:
            self._running = None
            return
        following = self._running = self._start()
        following.add_done_callback(lambda done: _copy(done, queued))

    async def _read(self) -> int:
        async with self.db.uow().lean(read=True) as tx:
            return int(await tx.sql.fetchval(READ))


def _copy(source: asyncio.Future[int], target: asyncio.Future[int]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
        target.exception()  # retrieved: its waiters may all have gone
    else:
        target.set_result(source.result())


__all__ = ["READ", "CatalogClock"]
