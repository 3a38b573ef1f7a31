"""The `kapda-gql` command: export-schema, migrate and create-user against real PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from kapda_gql import cli
from kapda_gql.db.models import Base
from tests.support.apps import ROOT

LOGIN = "mutation($i: LoginInput!) { login(input: $i) { user { id email role } } }"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A development environment that writes nothing into the working tree."""
    monkeypatch.delenv("KAPDA_ENV", raising=False)
    monkeypatch.setenv("KAPDA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAPDA_JWT_SECRET", "cli-test-secret-" + "z" * 32)


async def run_cli(*argv: str) -> int:
    """The command runs its own event loop (asyncio.run), so it gets a thread of its own."""
    return await asyncio.to_thread(cli.main, list(argv))


def test_export_schema_writes_what_the_code_defines(cli_env: None, tmp_path: Path) -> None:
    target = tmp_path / "exported.graphql"
    assert cli.main(["export-schema", "--output", str(target)]) == 0
    assert target.read_bytes() == (ROOT / "schema.graphql").read_bytes()


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    server = make_url(database_url)
    name = f"kapda_cli_{uuid.uuid4().hex[:8]}"
    admin_url = server.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrate_builds_an_empty_database_and_is_idempotent(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, empty_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAPDA_DATABASE_URL", empty_database)
    assert await _tables(empty_database) == set()
    assert await run_cli("migrate") == 0
    tables = await _tables(empty_database)
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables
    assert await run_cli("migrate") == 0  # again: nothing to do, nothing breaks
    assert "newest migration" in capsys.readouterr().out

    conn = await asyncpg.connect(empty_database)
    try:
        # The database itself refuses the impossible, whatever the code above it does.
        user = await conn.fetchval(
            "INSERT INTO users (email, password_hash, name) VALUES ('a@b.co', 'x', 'A') RETURNING id"
        )
        designer = await conn.fetchval(
            "INSERT INTO designers (user_id, name) VALUES ($1, 'D') RETURNING id", user
        )
        product = await conn.fetchval(
            "INSERT INTO products (designer_id, slug, title, description, category, price)"
            " VALUES ($1, 's', 't', '', 'c', 100)"
            " RETURNING id",
            designer,
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO variants (product_id, sku, stock) VALUES ($1, 'NEG', -1)", product
            )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO users (email, password_hash, name) VALUES ('A@B.CO', 'x', 'B')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE products SET price = -1 WHERE id = $1", product)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO designers (user_id, name) VALUES (424242, 'ghost')")
    finally:
        await conn.close()


async def test_migrate_from_two_processes_at_once(empty_database: str, tmp_path: Path) -> None:
    """Two replicas starting together must not both apply the DDL."""
    env = {
        "PATH": "/usr/bin:/bin",
        "KAPDA_DATABASE_URL": empty_database,
        "KAPDA_DATA_DIR": str(tmp_path),
        "KAPDA_JWT_SECRET": "cli-test-secret-" + "z" * 32,
    }
    command = [str(Path(sys.executable).parent / "kapda-gql"), "migrate"]
    procs = [
        await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
        )
        for _ in range(2)
    ]
    results = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert {t.name for t in Base.metadata.sorted_tables} <= await _tables(empty_database)


async def test_create_user_makes_an_admin_who_can_log_in(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    db: Any,
    api: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAPDA_DATABASE_URL", database_url)
    code = await run_cli(
        "create-user", "--email", "Boss@Kapda.example", "--password", "s3cret-enough", "--name", "Boss",
        "--role", "admin",
    )  # fmt: skip
    assert code == 0
    assert "Boss@Kapda.example" in capsys.readouterr().out
    row = await db.fetchrow(
        "SELECT id, role, status, password_hash FROM users WHERE email = 'Boss@Kapda.example'"
    )
    assert (row["role"], row["status"]) == ("ADMIN", "ACTIVE")
    assert row["password_hash"].startswith("$argon2id$")
    audit = await db.fetchrow("SELECT actor_id, target_id FROM audit_entries WHERE action = 'user.created'")
    assert audit["actor_id"] is None and audit["target_id"] == str(row["id"])  # the system, not a user

    data = await api.ok(LOGIN, {"i": {"email": "boss@kapda.example", "password": "s3cret-enough"}})
    assert data["login"]["user"]["role"] == "ADMIN"

    code = await run_cli(
        "create-user", "--email", "weaver@kapda.example", "--password", "s3cret-enough", "--name", "Weaver",
        "--role", "designer",
    )  # fmt: skip
    assert code == 0
    designer = await db.fetchrow(
        "SELECT d.name FROM designers d JOIN users u ON u.id = d.user_id WHERE u.email = 'weaver@kapda.example'"
    )
    assert designer["name"] == "Weaver"
