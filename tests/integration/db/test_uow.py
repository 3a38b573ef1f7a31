"""The unit of work on real PostgreSQL: commit only when told, roll back otherwise, retry 40001/40P01."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kapda_gql.app import build_runtime, create_app
from kapda_gql.config import Settings
from kapda_gql.db.uow import OrmUnit, UnitOfWork, sqlstate
from kapda_gql.runtime import Runtime

RAISE = "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$"


async def _insert_user(uow: OrmUnit, email: str) -> None:
    await uow.session.execute(
        text("INSERT INTO users (email, password_hash, name) VALUES (:e, 'x', 'UoW')"), {"e": email}
    )


async def _emails(db: Any) -> list[str]:
    return [r["email"] for r in await db.fetch("SELECT email FROM users ORDER BY id")]


@pytest.mark.parametrize("code", ["40001", "40P01"])
async def test_run_retries_the_whole_unit_on_a_retryable_failure(
    runtime: Runtime, db: Any, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = 0

    async def work(uow: OrmUnit) -> str:
        nonlocal attempts
        attempts += 1
        # Written before the failure: it must vanish with the failed attempt, not be written twice.
        await _insert_user(uow, f"attempt{attempts}@example.com")
        if attempts == 1:
            await uow.session.execute(text(RAISE.format(code=code)))
        await uow.commit()
        return "done"

    with caplog.at_level(logging.WARNING, logger="kapda_gql.uow"):
        assert await runtime.db.uow().run(work) == "done"
    assert attempts == 2
    assert await _emails(db) == ["attempt2@example.com"]
    assert any(code in r.getMessage() for r in caplog.records)


async def test_run_gives_up_after_the_bounded_attempts(runtime: Runtime, db: Any) -> None:
    attempts = 0

    async def work(uow: OrmUnit) -> None:
        nonlocal attempts
        attempts += 1
        await _insert_user(uow, f"try{attempts}@example.com")
        await uow.session.execute(text(RAISE.format(code="40001")))
        await uow.commit()

    with pytest.raises(DBAPIError) as caught:
        await UnitOfWork(runtime.db.sessions, attempts=3).run(work)
    assert sqlstate(caught.value) == "40001"
    assert attempts == 3
    assert await _emails(db) == []


async def test_other_errors_are_not_retried(runtime: Runtime, db: Any) -> None:
    attempts = 0

    async def work(uow: OrmUnit) -> None:
        nonlocal attempts
        attempts += 1
        await uow.session.execute(text("SELECT 1 / 0"))

    with pytest.raises(DBAPIError) as caught:
        await runtime.db.uow().run(work)
    assert sqlstate(caught.value) == "22012"
    assert attempts == 1

    class Boom(Exception):
        pass

    async def fails_in_python(uow: OrmUnit) -> None:
        nonlocal attempts
        attempts += 1
        await _insert_user(uow, "python@example.com")
        raise Boom

    with pytest.raises(Boom):
        await runtime.db.uow().run(fails_in_python)
    assert attempts == 2
    assert await _emails(db) == []


async def test_a_real_deadlock_is_retried(runtime: Runtime, db: Any) -> None:
    """Two units lock the same two rows in opposite orders; PostgreSQL kills one, which then retries."""
    for email in ("a@example.com", "b@example.com"):
        await db.execute("INSERT INTO users (email, password_hash, name) VALUES ($1, 'x', 'x')", email)
    both_hold_one = asyncio.Barrier(2)
    attempts = {"a": 0, "b": 0}

    def unit(first: str, second: str) -> Any:
        async def work(uow: OrmUnit) -> None:
            attempts[first] += 1
            lock = text("UPDATE users SET name = name || :tag WHERE email = :e")
            await uow.session.execute(lock, {"tag": first, "e": f"{first}@example.com"})
            if attempts[first] == 1:
                await both_hold_one.wait()
            await uow.session.execute(lock, {"tag": first, "e": f"{second}@example.com"})
            await uow.commit()

        return work

    await asyncio.wait_for(
        asyncio.gather(runtime.db.uow().run(unit("a", "b")), runtime.db.uow().run(unit("b", "a"))), 30
    )
    assert sorted(attempts.values()) == [1, 2]  # exactly one of them was the deadlock victim and retried
    names = {r["email"]: r["name"] for r in await db.fetch("SELECT email, name FROM users")}
    # Both units took effect exactly once each, on both rows.
    assert sorted(names.values()) == ["xab", "xab"] or sorted(names.values()) == ["xba", "xba"]


async def test_nothing_is_kept_without_commit(runtime: Runtime, db: Any) -> None:
    async with runtime.db.uow().orm() as uow:
        await _insert_user(uow, "forgotten@example.com")
    with pytest.raises(RuntimeError):
        async with runtime.db.uow().orm() as uow:
            await _insert_user(uow, "raised@example.com")
            raise RuntimeError("halfway")
    assert await _emails(db) == []

    async with runtime.db.uow().orm() as uow:
        await _insert_user(uow, "kept@example.com")
        await uow.commit()
    assert await _emails(db) == ["kept@example.com"]


async def test_misuse_is_refused(runtime: Runtime) -> None:
    uow = runtime.db.uow()
    # The factory has no session of its own: only an open unit does (mypy holds the rest).
    assert not hasattr(uow, "session") and not hasattr(uow, "sql")
    async with uow.orm():
        with pytest.raises(RuntimeError):
            async with uow.orm():
                pass
        with pytest.raises(RuntimeError):
            async with uow.lean():
                pass
    async with uow.orm() as tx:  # the factory is free again once its unit ended
        assert tx.session is not None


async def test_sqlstate_reads_through_wrappers(runtime: Runtime) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with runtime.db.uow().orm() as uow:
            await uow.session.execute(text(RAISE.format(code="40P01")))
    assert sqlstate(caught.value) == "40P01"
    assert sqlstate(ValueError("no state")) is None


async def test_readyz_answers_503_when_the_database_does_not(settings: Settings) -> None:
    dead = build_runtime(settings.with_overrides(database_url="postgresql://postgres@127.0.0.1:1/x"))
    try:
        assert await dead.db.ping(seconds=5) is False
        transport = httpx.ASGITransport(app=create_app(runtime=dead))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.headers["x-request-id"]
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await dead.db.dispose()


async def test_readyz_answers_200_when_the_database_does(api: Any) -> None:
    r = await api.client.get("/readyz")
    assert r.status_code == 200
