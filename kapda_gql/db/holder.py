"""The process's own database backend: a connection this process keeps open for its whole life, so
that other processes can tell from the database alone whether it still lives.

A claim (an idempotency key in flight) records this backend's pid and start time. Pooled
connections cannot serve: a lean unit hands its connection back after one statement, and the pool
closes, recycles and replaces connections while the process lives on. This connection runs no
statement after its first; it ends when the process does (the kernel closes the socket, even on
SIGKILL, and PostgreSQL's backend exits on the end of its input) or when the database goes away,
and with it every claim it vouched for. TCP keepalives bound how long a backend outlives a machine
that vanished without closing its sockets.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("kapda_gql.db.holder")

# Session settings of the holder's backend: keepalives so a dead peer is noticed in about 25 s.
_SERVER_SETTINGS = {
    "application_name": "kapda-gql holder",
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
_IDENTITY = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"


@dataclass(frozen=True, slots=True)
class Identity:
    pid: int
    started: datetime


class Unavailable(Exception):
    """The holder connection could not be opened."""


class Holder:
    """Opens the holder connection on first use and reopens it when it was lost."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None
        self._identity: Identity | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def identity(self) -> Identity:
        """This process's backend, connecting (once) if there is none or it was lost; raises
        ``Unavailable`` when it cannot connect."""
        loop = asyncio.get_running_loop()
        if self._identity is not None and self._loop is loop and not self._conn.is_closed():
            return self._identity
        if self._lock is None or self._loop is not loop:
            self._forget()
            self._loop, self._lock = loop, asyncio.Lock()
        async with self._lock:
            if self._identity is None or self._conn.is_closed():
                self._forget()
                try:
                    conn = await asyncpg.connect(self._dsn, server_settings=_SERVER_SETTINGS, timeout=5)
                    row = await conn.fetchrow(_IDENTITY)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    raise Unavailable(str(error)) from error
                self._conn, self._identity = conn, Identity(row["pid"], row["backend_start"])
                log.info("holder backend %d", self._identity.pid)
            return self._identity

    def _forget(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()  # bound to a loop that is gone, or lost: nothing to await
        self._conn, self._identity = None, None

    async def close(self) -> None:
        conn, self._conn, self._identity = self._conn, None, None
        if conn is not None and not conn.is_closed():
            if self._loop is asyncio.get_running_loop():
                await conn.close(timeout=2)
            else:
                conn.terminate()
