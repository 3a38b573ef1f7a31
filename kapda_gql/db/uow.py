"""The unit of work: one database transaction, committed only when a service says so.

Services receive a fresh ``UnitOfWork`` per call (sibling GraphQL fields
resolve concurrently, so a request must never share one session between two
services). ``run`` retries the whole unit when PostgreSQL reports a
serialization failure or a deadlock, which are safe to retry by definition:
the failed attempt was rolled back entirely.

A unit is an ORM session by default; ``lean()`` makes the next one a pooled driver connection
for plain SQL (the hot paths, see ``kapda_gql.db.sql``), with the same transaction, retry and
error rules. ``uow.sql`` runs plain SQL in either kind.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from kapda_gql.db.sql import Listener, SessionSql, Sql, Statements, translate

log = logging.getLogger("kapda_gql.uow")

T = TypeVar("T")
U = TypeVar("U", bound="Unit")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
DEFAULT_ATTEMPTS = 5


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE behind a SQLAlchemy/asyncpg error, however deeply it is wrapped."""
    seen: BaseException | None = error
    while seen is not None:
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


class Unit(Protocol):
    """An open unit of either kind: what a one-statement helper (an audit entry) needs."""

    @property
    def sql(self) -> Statements: ...

    async def commit(self) -> None: ...


class OrmUnit(Unit, Protocol):
    """An open unit with an ORM session (``uow.orm()``, ``uow.run``)."""

    @property
    def session(self) -> AsyncSession: ...

    async def rollback(self) -> None: ...


class LeanUnit(Protocol):
    """An open lean unit: plain SQL straight to the driver (``uow.lean()``, ``uow.run_lean``)."""

    @property
    def sql(self) -> Sql: ...

    async def commit(self) -> None: ...


class _Open(Generic[U]):
    """``async with uow.orm() as tx`` / ``uow.lean()``: opens the unit and hands out its typed view."""

    __slots__ = ("_uow",)

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def read(self) -> Self:
        self._uow._reading = True
        return self

    async def __aenter__(self) -> U:
        await self._uow.__aenter__()
        return cast(U, self._uow)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._uow.__aexit__(exc_type, exc, tb)


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        readers: async_sessionmaker[AsyncSession] | None = None,
        gate: asyncio.Semaphore | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        engine: AsyncEngine | None = None,
        listeners: list[Listener] | None = None,
    ):
        self._sessions = sessions
        self._readers = readers or sessions
        self._gate = gate
        self._attempts = attempts
        self._engine = engine
        self._listeners = listeners if listeners is not None else []
        self._reading = False
        self._leaning = False
        self._session: AsyncSession | None = None
        self._raw: PoolProxiedConnection | None = None
        self._sql: Sql | None = None
        self._transaction: Any = None
        self._committed = False

    def read(self) -> Self:
        """The next ``async with`` reads outside any transaction (autocommit).

        For reads whose statements need not see one snapshot: no BEGIN and no ROLLBACK, so a
        one-statement read is one round trip instead of three.
        """
        self._reading = True
        return self

    def orm(self, *, read: bool = False) -> _Open[OrmUnit]:
        """An ORM session: in one transaction, or with ``read`` in autocommit (see ``read``)."""
        self._reading = read
        return _Open(self)

    def lean(self, *, read: bool = False) -> _Open[LeanUnit]:
        """A pooled driver connection for plain SQL (``tx.sql``), not an ORM session.

        For the hot paths, whose statements are plain SQL: see ``kapda_gql.db.sql``.
        """
        if self._engine is None:
            raise RuntimeError("this unit of work has no engine for lean units")
        self._leaning = True
        self._reading = read
        return _Open(self)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work has no ORM session open: use `async with uow` or `uow.run`")
        return self._session

    @property
    def sql(self) -> Statements:
        """Plain SQL in whichever unit is open: the lean connection, or the ORM session's."""
        if self._sql is not None:
            return self._sql
        return SessionSql(self.session)

    async def __aenter__(self) -> Self:
        if self._session is not None or self._sql is not None:
            raise RuntimeError("a unit of work cannot be entered twice at once")
        if self._gate is not None:
            # First come, first served for connections: the pool itself hands a released
            # connection straight back to whoever released it, starving waiters under load.
            await self._gate.acquire()
        self._committed = False
        if self._leaning:
            try:
                await self._open_lean()
            except BaseException:
                self._leaning = self._reading = False
                if self._gate is not None:
                    self._gate.release()
                raise
            return self
        self._session = (self._readers if self._reading else self._sessions)()
        return self

    async def _open_lean(self) -> None:
        assert self._engine is not None
        raw = await self._engine.raw_connection()
        try:
            conn: Any = raw.driver_connection
            if not self._reading:
                transaction = conn.transaction()
                await transaction.start()
                self._transaction = transaction
        except BaseException:
            await greenlet_spawn(raw.invalidate)
            raise
        self._raw = raw
        self._sql = Sql(conn, self._listeners)

    async def _close_lean(self, failing: bool) -> None:
        lost = self._sql is not None and self._sql.lost
        raw, self._raw, self._sql = self._raw, None, None
        transaction, self._transaction = self._transaction, None
        if raw is None:
            return
        if lost:
            # As SQLAlchemy does on a disconnect: every connection made before this one is suspect
            # too (a restart or failover ends them all) and is replaced at its next checkout,
            # so one request per worker finds out instead of one per pooled connection.
            assert self._engine is not None
            await greenlet_spawn(self._engine.sync_engine.pool._invalidate, raw)
            return
        try:
            if transaction is not None and not self._committed:
                await transaction.rollback()
        except Exception as error:
            # A connection whose transaction state is unknown never goes back to the pool.
            await greenlet_spawn(raw.invalidate)
            if failing:
                log.warning("rollback failed after an error; connection discarded", exc_info=True)
                return  # the error that ended the unit is the one to report
            raise translate(error, "ROLLBACK", ()) from error
        except BaseException:
            await greenlet_spawn(raw.invalidate)
            raise
        # In a greenlet: returning an overflow connection closes it, which awaits the driver.
        driver: Any = raw.driver_connection
        if driver.is_closed() or driver.is_in_transaction():
            await greenlet_spawn(raw.invalidate)
        else:
            await greenlet_spawn(raw.close)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        reading, self._reading = self._reading, False
        leaning, self._leaning = self._leaning, False
        if leaning:
            try:
                await self._close_lean(failing=exc is not None)
            finally:
                if self._gate is not None:
                    self._gate.release()
            return
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not self._committed:
                # Detach first: a rollback would expire every loaded row, and read-only
                # units hand their rows to the caller after the transaction ends.
                session.expunge_all()
                if not reading:
                    await session.rollback()
        finally:
            try:
                await session.close()
            finally:
                if self._gate is not None:
                    self._gate.release()

    async def commit(self) -> None:
        if self._transaction is not None:
            try:
                await self._transaction.commit()
            except Exception as error:  # a deferred check or a serialization failure at COMMIT
                raise translate(error, "COMMIT", ()) from error
        elif self._sql is None:
            await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        if self._sql is not None:
            raise RuntimeError("a lean unit of work rolls back when it ends")
        await self.session.rollback()

    async def run(
        self,
        work: Callable[[OrmUnit], Awaitable[T]] | Callable[[UnitOfWork], Awaitable[T]],
        *,
        lean: bool = False,
    ) -> T:
        """Run ``work`` in a fresh ORM transaction, retrying it whole on 40001/40P01."""
        return await self._retrying(lambda: work(self), lean=lean)

    async def run_lean(self, work: Callable[[LeanUnit], Awaitable[T]]) -> T:
        """``run`` for a lean unit."""
        return await self._retrying(lambda: work(cast(LeanUnit, self)), lean=True)

    async def _retrying(self, attempt_once: Callable[[], Awaitable[T]], *, lean: bool) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                if lean:
                    self.lean()
                async with self:
                    return await attempt_once()
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE_SQLSTATES or attempt == self._attempts:
                    raise
                log.warning("retrying unit of work after SQLSTATE %s (attempt %d)", sqlstate(error), attempt)
                # Jittered backoff so the transactions that collided do not collide again.
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311
        raise AssertionError("unreachable")


class Database:
    """The engine plus the factory of units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Whoever wants to see every statement (tests, the bench) subscribes here: both the ORM
        # path and lean units report to this one list.
        self.listeners: list[Listener] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_cursor_execute)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.readers = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=False
        )
        pool: Any = engine.pool
        capacity = pool.size() + max(pool._max_overflow, 0) if hasattr(pool, "_max_overflow") else None
        self.gate = asyncio.Semaphore(capacity) if capacity else None

    def _before_cursor_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        for listener in self.listeners:
            listener(statement)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.sessions,
            readers=self.readers,
            gate=self.gate,
            engine=self.engine,
            listeners=self.listeners,
        )

    async def ping(self, seconds: float = 2.0) -> bool:
        from sqlalchemy import text

        try:
            async with asyncio.timeout(seconds), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness must answer, whatever the failure is
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()

    def pool_status(self) -> dict[str, Any]:
        pool: Any = self.engine.pool
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": pool.overflow(),
        }
