"""Lean units of work (driver SQL on the same pool): the same transactions, errors and retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from kapda_gql.db.uow import LeanUnit, sqlstate
from kapda_gql.runtime import Runtime
from tests.support.statements import counting

INSERT = "INSERT INTO users (email, password_hash, name) VALUES ($1, 'x', 'Lean') RETURNING id"


async def _emails(db: Any) -> list[str]:
    return [r["email"] for r in await db.fetch("SELECT email FROM users ORDER BY id")]


def _pool_idle(runtime: Runtime) -> bool:
    return bool(runtime.db.pool_status()["checked_out"] == 0)


async def test_commit_writes_and_leaving_without_commit_rolls_back(runtime: Runtime, db: Any) -> None:
    units = runtime.db.uow()
    async with units.lean() as uow:
        assert isinstance(await uow.sql.fetchval(INSERT, "kept@example.com"), int)
        await uow.commit()
    async with units.lean() as uow:
        await uow.sql.fetchval(INSERT, "dropped@example.com")
    with pytest.raises(RuntimeError):
        async with units.lean() as uow:
            await uow.sql.fetchval(INSERT, "raised@example.com")
            raise RuntimeError("the service changed its mind")
    assert await _emails(db) == ["kept@example.com"]
    assert _pool_idle(runtime)
    # The connections went back to the pool outside any transaction: a read unit's write (autocommit)
    # stands on its own, where a leftover transaction would have swallowed it.
    async with units.lean(read=True) as uow:
        await uow.sql.fetchval(INSERT, "autocommit@example.com")
    assert await _emails(db) == ["kept@example.com", "autocommit@example.com"]


async def test_a_read_unit_runs_outside_a_transaction(runtime: Runtime) -> None:
    units = runtime.db.uow()
    async with units.lean(read=True) as uow:
        # Outside a transaction each statement has its own snapshot: now() moves between them.
        first = await uow.sql.fetchval("SELECT now()")
        await asyncio.sleep(0.01)
        second = await uow.sql.fetchval("SELECT now()")
    assert second > first


async def test_driver_errors_arrive_as_the_orm_paths_errors(runtime: Runtime, db: Any) -> None:
    units = runtime.db.uow()
    async with units.lean() as uow:
        await uow.sql.fetchval(INSERT, "same@example.com")
        await uow.commit()
    with pytest.raises(IntegrityError) as unique:
        async with units.lean() as uow:
            await uow.sql.fetchval(INSERT, "same@example.com")
    assert sqlstate(unique.value) == "23505"
    with pytest.raises(DBAPIError) as division:
        async with units.lean(read=True) as uow:
            await uow.sql.fetchval("SELECT 1 / $1::int", 0)
    assert sqlstate(division.value) == "22012"
    assert _pool_idle(runtime)


async def test_run_retries_a_lean_unit_whole(runtime: Runtime, db: Any) -> None:
    attempts = 0

    async def work(uow: LeanUnit) -> int:
        nonlocal attempts
        attempts += 1
        await uow.sql.fetchval(INSERT, f"attempt{attempts}@example.com")
        if attempts == 1:
            await uow.sql.execute("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$")
        await uow.commit()
        return attempts

    assert await runtime.db.uow().run_lean(work) == 2
    assert await _emails(db) == ["attempt2@example.com"]


async def test_row_locks_in_lean_units_serialise_concurrent_writers(runtime: Runtime, db: Any) -> None:
    """Two real transactions on one row: the second waits for the first's lock, then sees its write."""
    user_id = await db.fetchval(INSERT, "counter@example.com")
    holding = asyncio.Event()

    async def bump(hold: bool) -> str:
        units = runtime.db.uow()
        async with units.lean() as uow:
            name = await uow.sql.fetchval("SELECT name FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
            if hold:
                holding.set()
                await asyncio.sleep(0.2)
            await uow.sql.execute("UPDATE users SET name = $1 WHERE id = $2", f"{name}+", user_id)
            await uow.commit()
        return str(name)

    first = asyncio.create_task(bump(hold=True))
    await holding.wait()
    second = await bump(hold=False)
    await first
    assert second == "Lean+"  # read after the first committed, not the stale "Lean"
    assert await db.fetchval("SELECT name FROM users WHERE id = $1", user_id) == "Lean++"


async def test_statements_are_reported_to_the_listeners(runtime: Runtime) -> None:
    units = runtime.db.uow()
    with counting(runtime) as statements:
        async with units.lean(read=True) as uow:
            await uow.sql.fetch("SELECT 1")
            await uow.sql.execute("SELECT 2")
    assert statements == ["SELECT 1", "SELECT 2"]


async def test_sql_inside_an_orm_unit_shares_the_sessions_transaction(runtime: Runtime, db: Any) -> None:
    from kapda_gql.db.models import User

    units = runtime.db.uow()
    async with units.orm() as uow:
        uow.session.add(User(email="orm@example.com", password_hash="x", name="ORM"))
        await uow.session.flush()
        # The plain statement sees the session's uncommitted row: one connection, one transaction.
        assert await uow.sql.fetchval("SELECT count(*) FROM users WHERE email = $1", "orm@example.com") == 1
        await uow.sql.fetchval(INSERT, "sql-in-orm@example.com")
    assert await _emails(db) == []  # left without commit: both writes rolled back together
    async with units.orm() as uow:
        await uow.sql.fetchval(INSERT, "committed@example.com")
        await uow.commit()
    assert await _emails(db) == ["committed@example.com"]


@pytest.mark.parametrize("transaction", [False, True])
async def test_a_connection_lost_mid_unit_is_never_pooled_again(
    runtime: Runtime, db: Any, transaction: bool
) -> None:
    from sqlalchemy.exc import OperationalError

    units = runtime.db.uow()
    # The error that reaches the caller is the lost connection, not a failed rollback after it.
    with pytest.raises(OperationalError):
        async with units.lean(read=not transaction) as uow:
            pid = await uow.sql.fetchval("SELECT pg_backend_pid()")
            assert await db.fetchval("SELECT pg_terminate_backend($1)", pid) is True
            await asyncio.sleep(0.05)  # let the driver see the connection close
            await uow.sql.fetchval("SELECT 1")
    # Every pooled connection is handed out in turn: none of them may be the dead one.
    for _ in range(25):
        async with units.lean(read=True) as uow:
            assert await uow.sql.fetchval("SELECT pg_backend_pid() <> $1", pid) is True
    assert _pool_idle(runtime)


async def test_after_a_restart_one_request_finds_out_not_one_per_pooled_connection(
    runtime: Runtime, db: Any
) -> None:
    """Every backend of the pool ends at once (a restart, a failover): after the first failure the
    other pooled connections are replaced at checkout instead of failing one request each."""
    from sqlalchemy.exc import OperationalError

    async def hold(release: asyncio.Event) -> None:
        units = runtime.db.uow()
        async with units.lean(read=True) as uow:
            await uow.sql.fetchval("SELECT 1")
            await release.wait()

    release = asyncio.Event()
    holders = [asyncio.create_task(hold(release)) for _ in range(4)]
    await asyncio.sleep(0.2)
    release.set()
    await asyncio.gather(*holders)  # four connections now wait in the pool
    ended = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'kapda-gql' AND datname = current_database()"
    )
    assert ended >= 4
    await asyncio.sleep(0.1)
    failures = 0
    for _ in range(8):
        try:
            units = runtime.db.uow()
            async with units.lean(read=True) as uow:
                assert await uow.sql.fetchval("SELECT 1") == 1
        except OperationalError:
            failures += 1
    assert failures <= 1
