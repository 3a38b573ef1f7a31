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

import operator
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

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

    # The driver's own one-row and one-value calls: one coroutine less per statement than the
    # shared ones, which go through ``fetch`` (these run a few times in every checkout).
    async def fetchrow(self, query: str, *args: Any) -> Record | None:
        return await self._send(self._conn.fetchrow, query, args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._send(self._conn.fetchval, query, args)


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


def violated_constraint(error: BaseException) -> str | None:
    """The name of the constraint a database error violated, however deeply it is wrapped: stores
    recognise a violation by the constraint's name, never by the text of a message."""
    seen: BaseException | None = error
    while seen is not None:
        name = getattr(seen, "constraint_name", None)
        if isinstance(name, str):
            return name
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


class _HasSql(Protocol):
    @property
    def sql(self) -> Statements: ...


_MARK = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class Query:
    """A statement written with ``:name`` markers, sent with the driver's ``$n`` placeholders (one per
    distinct name, rendered once at import): values go by name, never as long positional lists."""

    __slots__ = ("_pick", "names", "sql")

    def __init__(self, template: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = _MARK.sub(number, template)
        self.names = tuple(names)
        # One C call for every value (the order statement has 40): (values) -> tuple in name order.
        pick = operator.itemgetter(*names) if names else (lambda values: ())
        self._pick: Callable[[Mapping[str, Any]], Any] = (
            (lambda values: (pick(values),)) if len(names) == 1 else pick
        )

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order; a name without a value is a KeyError, never a NULL."""
        return list(self._pick(values))

    async def fetch(self, tx: _HasSql, **values: Any) -> list[Record]:
        return await tx.sql.fetch(self.sql, *self.args(values))

    async def fetchrow(self, tx: _HasSql, **values: Any) -> Record | None:
        return await tx.sql.fetchrow(self.sql, *self.args(values))

    async def fetchval(self, tx: _HasSql, **values: Any) -> Any:
        return await tx.sql.fetchval(self.sql, *self.args(values))

    async def execute(self, tx: _HasSql, **values: Any) -> None:
        await tx.sql.execute(self.sql, *self.args(values))
