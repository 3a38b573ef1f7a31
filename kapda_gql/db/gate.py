"""The connection gate: a worker's units of work take the pool's connections first come, first
served, and none waits longer than the checkout bound.

``asyncio.Semaphore`` under ``asyncio.timeout`` does the same, with a timer made and cancelled for
every wait: under load every unit waits (the pool is sized to what the database runs at once, not
to the requests in flight), and that timer was ~2 % of a startCheckout's interpreter time. Here the
waiters queue in arrival order, so the oldest deadline is always the head's, and one timer for the
whole queue suffices: when it fires it fails every waiter past its deadline and is set again for
the new head's.
"""

from __future__ import annotations

import asyncio
from collections import deque


class PoolTimeout(TimeoutError):
    """No connection was free within the checkout bound (``KAPDA_DB_POOL_TIMEOUT_SECONDS``)."""


class Gate:
    """``slots`` holders at a time; a waiter is handed a released slot in arrival order, or fails
    with ``PoolTimeout`` after ``timeout`` seconds (``None``: it waits as long as it takes)."""

    __slots__ = ("_free", "_timeout", "_timer", "_waiters")

    def __init__(self, slots: int, timeout: float | None) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._free = slots
        self._timeout = timeout
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def free(self) -> int:
        return self._free

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        deadline = loop.time() + self._timeout if self._timeout is not None else float("inf")
        self._waiters.append((deadline, waiter))
        if self._timer is None and self._timeout is not None:
            self._timer = loop.call_at(deadline, self._expire)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a slot in the moment this task was cancelled: it goes to the next waiter.
                self.release()
            # A waiter cancelled while queued stays in the deque, done: handing out and expiry skip it.
            raise

    def release(self) -> None:
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight on: nobody can take it in between
                return
        self._free += 1

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiters = self._waiters
        while waiters and (waiters[0][0] <= now or waiters[0][1].done()):
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolTimeout(f"no database connection was free within {self._timeout} s"))
        if waiters:
            self._timer = loop.call_at(waiters[0][0], self._expire)
