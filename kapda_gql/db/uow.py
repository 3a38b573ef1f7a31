"""Units of work: one database transaction each, committed only when a service says so.

Services receive a fresh ``UnitOfWork`` per call (sibling GraphQL fields resolve concurrently, so a
request must never share one connection between two services) and open units from it. There are two
kinds, and they are distinct types, so a helper's signature says which one it needs:

- ``OrmUnit`` (``uow.orm()``, ``uow.run(work)``): an ORM session, with ``tx.session`` and ``tx.sql``;
- ``LeanUnit`` (``uow.lean()``, ``uow.run_lean(work)``): a pooled driver connection for plain SQL
  (the hot paths, see ``kapda_gql.db.sql``), with ``tx.sql`` only;
- ``Unit`` is either, for helpers that write one statement (an audit entry).

Both kinds follow the same rules: ``read=True`` runs outside any transaction (autocommit), a unit
that ends without ``commit()`` is rolled back, and ``run``/``run_lean`` retry the whole unit when
PostgreSQL reports a serialization failure or a deadlock, which are safe to retry by definition:
the failed attempt was rolled back entirely.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from kapda_gql.db.gate import Gate, PoolTimeout
from kapda_gql.db.holder import Holder
from kapda_gql.db.sql import Listener, SessionSql, Sql, Statements, translate

log = logging.getLogger("kapda_gql.uow")

T = TypeVar("T")
U = TypeVar("U", "OrmUnit", "LeanUnit")

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


# The database is down, restarting, refusing connections or too slow to answer within the bounds
# (config.py): 08xxx connection failures, 57014 statement_timeout or a cancel, 57P01-57P05 the
# server ending sessions, 25P03 idle_in_transaction_session_timeout, 53300 too many connections.
_OUTAGE_SQLSTATES = frozenset({"57014", "25P03", "53300"})
_OUTAGE_PREFIXES = ("08", "57P")


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the database is unavailable (nothing was done; retrying is safe),
    rather than that the statement or its data was wrong. Looks through every wrapping."""
    seen: BaseException | None = error
    for _ in range(20):  # a cycle of causes must not hang the caller
        if seen is None:
            return False
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str):
            return state in _OUTAGE_SQLSTATES or state.startswith(_OUTAGE_PREFIXES)
        if isinstance(seen, OSError | PoolTimeout | SATimeoutError):  # refused, unreachable, timed out
            return True
        if isinstance(seen, asyncpg.InterfaceError) and "closed" in str(seen):  # not a misuse
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


class Unit(Protocol):
    """An open unit of either kind: what a one-statement helper (an audit entry) needs."""

    @property
    def sql(self) -> Statements: ...

    async def commit(self) -> None: ...


class OrmUnit:
    """An open unit with an ORM session."""

    __slots__ = ("_session", "committed")

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        return self._session

    @property
    def sql(self) -> SessionSql:
        """Plain SQL on the session's own connection and transaction."""
        return SessionSql(self._session)

    async def commit(self) -> None:
        await self._session.commit()
        self.committed = True

    async def rollback(self) -> None:
        await self._session.rollback()


class LeanUnit:
    """An open lean unit: plain SQL straight to the driver, inside or outside a transaction."""

    __slots__ = ("_sql", "_transaction", "committed")

    def __init__(self, sql: Sql, transaction: Any) -> None:
        self._sql = sql
        self._transaction = transaction
        self.committed = False

    @property
    def sql(self) -> Sql:
        return self._sql

    async def commit(self) -> None:
        if self._transaction is not None:
            try:
                await self._transaction.commit()
            except Exception as error:  # a deferred check or a serialization failure at COMMIT
                raise translate(error, "COMMIT", ()) from error
        self.committed = True


class UnitOfWork:
    """Opens the units of one service call, one at a time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        readers: async_sessionmaker[AsyncSession] | None = None,
        gate: Gate | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        engine: AsyncEngine | None = None,
        listeners: list[Listener] | None = None,
        holder: Holder | None = None,
    ):
        self._sessions = sessions
        self.holder = holder
        self._readers = readers or sessions
        self._gate = gate
        self._attempts = attempts
        self._engine = engine
        self._listeners = listeners if listeners is not None else []
        self._open = False

    def orm(self, *, read: bool = False) -> AbstractAsyncContextManager[OrmUnit]:
        """An ORM session in one transaction; with ``read``, in autocommit.

        Autocommit is for reads whose statements need not see one snapshot: no BEGIN and no
        ROLLBACK, so a one-statement read is one round trip instead of three.
        """
        return _OrmOpening(self, read)

    def lean(self, *, read: bool = False) -> AbstractAsyncContextManager[LeanUnit]:
        """A pooled driver connection for plain SQL, in one transaction; with ``read``, in autocommit."""
        if self._engine is None:
            raise RuntimeError("this unit of work has no engine for lean units")
        return _LeanOpening(self, self._engine, read)

    async def run(self, work: Callable[[OrmUnit], Awaitable[T]]) -> T:
        """Run ``work`` in a fresh ORM transaction, retrying it whole on 40001/40P01."""
        return await self._retrying(self.orm, work)

    async def run_lean(self, work: Callable[[LeanUnit], Awaitable[T]], *, read: bool = False) -> T:
        """``run`` for a lean unit; with ``read``, in autocommit (``work`` is one atomic statement)."""
        return await self._retrying(self._autocommit if read else self.lean, work)

    def _autocommit(self) -> AbstractAsyncContextManager[LeanUnit]:
        return self.lean(read=True)

    async def _retrying(
        self, opener: Callable[[], AbstractAsyncContextManager[U]], work: Callable[[U], Awaitable[T]]
    ) -> T:
        attempt = 1
        while True:
            try:
                async with opener() as tx:
                    return await work(tx)
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE_SQLSTATES or attempt >= self._attempts:
                    raise
                log.warning("retrying unit of work after SQLSTATE %s (attempt %d)", sqlstate(error), attempt)
                # Jittered backoff so the transactions that collided do not collide again.
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311
                attempt += 1

    async def _enter(self) -> None:
        """Take this call's one unit slot and a connection slot (released by ``_leave``)."""
        if self._open:
            # Two units at once from one call would hold two connections, and could wait on itself.
            raise RuntimeError("a unit of work cannot be entered twice at once")
        self._open = True
        if self._gate is None:
            return
        # First come, first served for connections (db/gate.py): the pool itself hands a released
        # connection straight back to whoever released it, starving waiters under load.
        try:
            await self._gate.acquire()
        except BaseException:
            self._open = False
            raise

    def _leave(self) -> None:
        if self._gate is not None:
            self._gate.release()
        self._open = False


# The units' context managers are plain classes, not ``asynccontextmanager`` generators: they are
# entered several times per request on the hot paths, and a class costs a fraction of a generator
# wrapped in a context manager (and, before, two of them nested).


class _OrmOpening:
    __slots__ = ("_read", "_tx", "_uow")

    def __init__(self, uow: UnitOfWork, read: bool) -> None:
        self._uow = uow
        self._read = read
        self._tx: OrmUnit | None = None

    async def __aenter__(self) -> OrmUnit:
        uow = self._uow
        await uow._enter()
        try:
            session = (uow._readers if self._read else uow._sessions)()
        except BaseException:
            uow._leave()
            raise
        self._tx = OrmUnit(session)
        return self._tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        tx = self._tx
        assert tx is not None
        session = tx.session
        try:
            try:
                if not tx.committed:
                    # Detach first: a rollback would expire every loaded row, and read-only
                    # units hand their rows to the caller after the transaction ends.
                    session.expunge_all()
                    if not self._read:
                        await session.rollback()
            finally:
                await session.close()
        finally:
            self._uow._leave()


class _LeanOpening:
    __slots__ = ("_engine", "_raw", "_read", "_transaction", "_tx", "_uow")

    def __init__(self, uow: UnitOfWork, engine: AsyncEngine, read: bool) -> None:
        self._uow = uow
        self._engine = engine
        self._read = read
        self._tx: LeanUnit | None = None
        self._raw: PoolProxiedConnection | None = None
        self._transaction: Any = None

    async def __aenter__(self) -> LeanUnit:
        uow = self._uow
        await uow._enter()
        try:
            raw = await self._engine.raw_connection()
        except BaseException:
            uow._leave()
            raise
        try:
            conn: Any = raw.driver_connection
            transaction = None
            if not self._read:
                transaction = conn.transaction()
                await transaction.start()
        except BaseException:
            try:
                await greenlet_spawn(raw.invalidate)
            finally:
                uow._leave()
            raise
        self._raw = raw
        self._transaction = transaction
        self._tx = tx = LeanUnit(Sql(conn, uow._listeners), transaction)
        return tx

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        try:
            assert self._tx is not None and self._raw is not None
            await _close_lean(self._engine, self._raw, self._tx, self._transaction, kind is not None)
        finally:
            self._uow._leave()


async def _close_lean(
    engine: AsyncEngine, raw: PoolProxiedConnection, tx: LeanUnit, transaction: Any, failing: bool
) -> None:
    if tx.sql.lost:
        # As SQLAlchemy does on a disconnect: every connection made before this one is suspect
        # too (a restart or failover ends them all) and is replaced at its next checkout,
        # so one request per worker finds out instead of one per pooled connection.
        await greenlet_spawn(engine.sync_engine.pool._invalidate, raw)
        return
    try:
        if transaction is not None and not tx.committed:
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


class Database:
    """The engine plus the factory of units of work."""

    def __init__(self, engine: AsyncEngine, *, checkout_timeout: float | None = None) -> None:
        self.engine = engine
        self.checkout_timeout = checkout_timeout
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
        self.gate = Gate(capacity, checkout_timeout) if capacity else None
        self.holder = Holder(engine)

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
            holder=self.holder,
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
        await self.holder.close()
        await self.engine.dispose()

    def pool_status(self) -> dict[str, Any]:
        pool: Any = self.engine.pool
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": pool.overflow(),
        }
