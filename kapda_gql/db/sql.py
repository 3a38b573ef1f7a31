"""SQL straight to the driver, for the hot paths (catalog pages, authentication, checkout).

The ORM session costs ~0.4 ms of CPU per statement (statement objects, cache keys, the session and
its greenlet hops); the same statement through asyncpg costs ~0.1 ms. Units of work opened with
``uow.lean()`` use a pooled connection of the same engine through this class instead: same pool,
same transactions and retry rules, same error types (a PostgreSQL error becomes the SQLAlchemy
error it would have been, so ``sqlstate()``, ``uow.run`` and the API's error mapping see no
difference) and the same statement listeners (tests and the bench count both paths).

Statements are written for PostgreSQL with ``$1``-style parameters; jsonb parameters are passed
as JSON text, and json/jsonb results arrive decoded (SQLAlchemy's dialect registers the codecs).
A unit with an ORM session offers the same interface (``SessionSql``), so a helper that writes one
statement (an audit entry, an idempotency answer) serves both kinds of unit; read rows by position.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

Listener = Callable[[str], None]
Record = Any  # asyncpg.Record: indexable by position and by name

_CONNECTION_ERRORS = (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError)


def translate(error: Exception, query: str, args: Sequence[Any]) -> DBAPIError:
    """The SQLAlchemy error the ORM path would have raised for this driver error."""
    state = getattr(error, "sqlstate", None) or ""
    # Connection failures and the server ending the session (57P01-57P05: shutdown, terminated).
    lost = isinstance(error, _CONNECTION_ERRORS) or state.startswith(("08", "57P"))
    kind: type[DBAPIError]
    if state.startswith("23"):
        kind = IntegrityError
    elif lost or state.startswith("57"):
        kind = OperationalError
    else:
        kind = DBAPIError
    return kind(query, tuple(args), error, connection_invalidated=lost)


class Statements:
    """Plain SQL in a unit of work: ``fetch`` and ``execute`` per connection kind, the rest shared."""

    __slots__ = ()

    async def fetch(self, query: str, *args: Any) -> list[Record]:
        raise NotImplementedError

    async def execute(self, query: str, *args: Any) -> None:
        """For statements whose results nobody reads (use RETURNING to learn what changed)."""
        raise NotImplementedError

    async def fetchrow(self, query: str, *args: Any) -> Record | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = await self.fetchrow(query, *args)
        return row[0] if row is not None else None


class Sql(Statements):
    """One pooled driver connection, inside or outside a transaction (the unit of work decides)."""

    __slots__ = ("_conn", "_listeners", "lost")

    def __init__(self, conn: asyncpg.Connection, listeners: list[Listener]) -> None:
        self._conn = conn
        self._listeners = listeners
        self.lost = False  # the connection failed: the unit of work must not pool it again

    async def _send(self, method: Callable[..., Awaitable[Any]], query: str, args: Sequence[Any]) -> Any:
        """Report the statement, run it, and turn a driver error into the ORM path's error."""
        for listener in self._listeners:
            listener(query)
        try:
            return await method(query, *args)
        except (asyncpg.PostgresError, *_CONNECTION_ERRORS) as error:
            translated = translate(error, query, args)
            self.lost = self.lost or translated.connection_invalidated
            raise translated from error

    async def fetch(self, query: str, *args: Any) -> list[Record]:
        return await self._send(self._conn.fetch, query, args)  # type: ignore[no-any-return]

    async def execute(self, query: str, *args: Any) -> None:
        await self._send(self._conn.execute, query, args)


class SessionSql(Statements):
    """The same calls inside an ORM unit: the session's own connection and transaction (SQLAlchemy
    reports these statements to the listeners itself)."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def fetch(self, query: str, *args: Any) -> list[Record]:
        conn = await self._session.connection()
        result = await conn.exec_driver_sql(query, args)
        return list(result.all()) if result.returns_rows else []

    async def execute(self, query: str, *args: Any) -> None:
        conn = await self._session.connection()
        await conn.exec_driver_sql(query, args)
