"""Shared fixtures: a fresh PostgreSQL database per run (embedded unless KAPDA_DATABASE_URL is set),
the real Razorpay sandbox on loopback, and the real ASGI app driven through httpx.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kapda_gql.app import build_runtime, create_app
from kapda_gql.auth.security import _hasher
from kapda_gql.cli import migrate
from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET, Settings
from kapda_gql.db.engine import start_embedded, sync_libpq_url
from kapda_gql.db.models import Base
from kapda_gql.devtools.sandbox.server import SandboxServer
from kapda_gql.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
# Hashed once: every test user shares it, so making users costs no argon2 time.
PASSWORD_HASH = _hasher.hash(PASSWORD)


def _server_url() -> str:
    url = os.environ.get("KAPDA_DATABASE_URL")
    if url:
        return url
    return start_embedded(Path(os.environ.get("KAPDA_TEST_DATA_DIR", ROOT / ".kapda-test")))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database of our own on the configured server, dropped at the end of the run."""
    server = make_url(sync_libpq_url(_server_url()))
    name = f"kapda_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server.set(database="postgres").render_as_string(hide_password=False))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(
        key_id=SANDBOX_KEY_ID, key_secret=SANDBOX_KEY_SECRET, webhook_secret=SANDBOX_WEBHOOK_SECRET
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, sandbox: SandboxServer) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        data_dir=ROOT / ".kapda-test",
        jwt_secret="test-secret-" + "x" * 40,
        razorpay_base_url=sandbox.base_url,
        razorpay_timeout_seconds=5.0,
        rate_limits=False,
        log_json=False,
        # The service's default pool (5 per worker): concurrency tests then also prove that nothing
        # holds one connection while waiting for another, which a small pool would turn into a hang.
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    await rt.db.dispose()


TABLES = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest, sandbox: SandboxServer) -> None:
    """Every test starts from empty tables and a fresh sandbox."""
    if "database_url" in request.fixturenames or "runtime" in request.fixturenames:
        url = request.getfixturevalue("database_url")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()
        sandbox.state.reset()


@dataclass
class Api:
    """A GraphQL client over the real ASGI app."""

    client: httpx.AsyncClient

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token=token, **headers)
        return dict(response.json())

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, **headers: str
    ) -> httpx.Response:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=hdrs
        )

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        body = await self(query, variables, token=token)
        assert not body.get("errors"), body
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        body = await self(query, variables, token=token)
        assert body.get("errors"), body
        return body["errors"][0]


@pytest.fixture
async def app(runtime: Runtime) -> Any:
    return create_app(runtime=runtime)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


@dataclass
class UserInfo:
    id: int
    email: str
    role: str
    token: str
    designer_id: int | None = None


@pytest.fixture
def make_user(database_url: str, settings: Settings) -> Any:
    """Insert a user straight into the database (with a shared precomputed hash) and sign a token."""
    from kapda_gql.auth.security import issue_token

    counter = iter(range(1, 1_000_000))

    async def make(role: str = "CUSTOMER", *, email: str | None = None, name: str | None = None) -> UserInfo:
        n = next(counter)
        email = email or f"{role.lower()}{n}-{uuid.uuid4().hex[:6]}@example.com"
        conn = await asyncpg.connect(database_url)
        try:
            user_id = await conn.fetchval(
                "INSERT INTO users (email, password_hash, name, role, status) VALUES ($1, $2, $3, $4, 'ACTIVE') RETURNING id",
                email,
                PASSWORD_HASH,
                name or f"{role.title()} {n}",
                role,
            )
            designer_id = None
            if role == "DESIGNER":
                designer_id = await conn.fetchval(
                    "INSERT INTO designers (user_id, name) VALUES ($1, $2) RETURNING id",
                    user_id,
                    name or f"Studio {n}",
                )
        finally:
            await conn.close()
        token, _ = issue_token(settings.jwt_secret, user_id, 3600)
        return UserInfo(user_id, email, role, token, designer_id)

    return make


@pytest.fixture
def make_product(database_url: str) -> Any:
    """Insert a product with variants straight into the database: [(sku, size, color, stock, price|None)]."""
    counter = iter(range(1, 1_000_000))

    async def make(
        designer_id: int,
        *,
        title: str | None = None,
        price: int = 129900,
        status: str = "APPROVED",
        category: str = "Kurta",
        description: str = "Handwoven cotton",
        variants: list[tuple[str, str | None, str | None, int, int | None]] | None = None,
    ) -> dict[str, Any]:
        n = next(counter)
        title = title or f"Product {n}"
        conn = await asyncpg.connect(database_url)
        try:
            pid = await conn.fetchval(
                "INSERT INTO products (designer_id, slug, title, description, category, price, currency, images, status)"
                " VALUES ($1, $2, $3, $4, $5, $6, 'INR', '{}', $7) RETURNING id",
                designer_id,
                f"p-{n}-{uuid.uuid4().hex[:6]}",
                title,
                description,
                category,
                price,
                status,
            )
            vids = []
            for sku, size, color, stock, vprice in variants or [
                (f"SKU-{n}-{uuid.uuid4().hex[:4]}", "M", "Blue", 10, None)
            ]:
                vids.append(
                    await conn.fetchval(
                        "INSERT INTO variants (product_id, sku, size, color, stock, price) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
                        pid,
                        sku,
                        size,
                        color,
                        stock,
                        vprice,
                    )
                )
        finally:
            await conn.close()
        return {"id": pid, "variant_ids": vids, "title": title}

    return make


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection for assertions that look at the database itself."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
