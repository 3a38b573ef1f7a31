"""Shared fixtures: a fresh PostgreSQL database per run (embedded unless KAPDA_DATABASE_URL is set),
the real Razorpay sandbox on loopback, and the real ASGI app driven through httpx.

Tests are grouped by speed, and each group is a marker (``pytest -m unit``): ``tests/unit`` needs no
database or server and runs in seconds; ``tests/integration`` drives the real app over real
PostgreSQL and the sandbox; ``tests/e2e`` starts the service's own processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kapda_gql.app import build_runtime, create_app
from kapda_gql.cli import migrate
from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET, Settings
from kapda_gql.db.engine import start_embedded, sync_libpq_url
from kapda_gql.db.models import Base
from kapda_gql.devtools.sandbox.server import SandboxServer
from kapda_gql.runtime import Runtime
from tests.support.apps import PASSWORD_HASH, ROOT, Api, LogCapture, Served, UserInfo, production_env
from tests.support.documents import ADD
from tests.support.flows import finish, inside_one_window, pay, start


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
        # Live reads by default, so statement counts and read-after-write tests see every query run;
        # the shared response cache's own tests (tests/integration/http/test_response_cache.py) turn it on.
        catalog_cache_seconds=0,
        # The service's default pool (5 per worker): concurrency tests then also prove that nothing
        # holds one connection while waiting for another, which a small pool would turn into a hang.
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    await rt.db.dispose()


SPEEDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(ROOT / "tests").parts
        if parts and parts[0] in SPEEDS:
            item.add_marker(parts[0])


TABLES = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that touches the database starts from empty tables and a fresh sandbox; unit tests
    start neither. And every such test ends reconciled: the suite reconciles itself at each test's
    teardown (the tables are emptied before the next one, so a run-end reconcile would see only the
    last test). Seeding goes the ledger's way (tests/support/flows.py); a test that leaves money or
    stock unaccounted for on purpose says so, and why: ``@pytest.mark.unledgered``."""
    touches = "database_url" in request.fixturenames or "runtime" in request.fixturenames
    if touches:
        sandbox: SandboxServer = request.getfixturevalue("sandbox")
        url = request.getfixturevalue("database_url")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()
        sandbox.state.reset()
    yield
    if touches and request.node.get_closest_marker("unledgered") is None:
        from kapda_gql.reconcile import checks, report

        result = await checks.run(request.getfixturevalue("database_url"))
        assert result.disagreements == 0, "the test left the database unreconciled:\n" + report.render(result)


@pytest.fixture
async def app(runtime: Runtime) -> Any:
    return create_app(runtime=runtime)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


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
                        # With its INITIAL movement, as createProduct writes it (kapda_gql.stock).
                        "WITH made AS (INSERT INTO variants (product_id, sku, size, color, stock, price)"
                        " VALUES ($1,$2,$3,$4,$5,$6) RETURNING id, stock),"
                        " moved AS (INSERT INTO stock_movements (variant_id, reason, delta, stock_after)"
                        " SELECT id, 'INITIAL', stock, stock FROM made) SELECT id FROM made",
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


@pytest.fixture
async def fresh_rate_window() -> None:
    """For tests that count hits to a limit within one fixed window: they start with at least 10 s
    left of the current 60 s window, and so of every 300 s one too (both end at multiples of 60 s)."""
    await inside_one_window(60)


@pytest.fixture
def client_ip() -> str:
    """The address the shared `api` fixture's transport reports for every request."""
    return "203.0.113.7"


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """serve(settings) -> Served: a whole app with its own runtime, disposed after the test."""
    made: list[Runtime] = []
    apps: list[Any] = []

    def make(settings: Settings) -> Served:
        runtime = build_runtime(settings)
        made.append(runtime)
        apps.append(create_app(runtime=runtime))
        return Served(apps[-1], runtime)

    yield make
    for app in apps:
        await app.state.response_cache.aclose()  # its catalog-version connection is its own
    for runtime in made:
        limiter = runtime.extras.get("rate_limiter")
        if limiter is not None:
            await limiter.aclose()
        await runtime.db.dispose()


@pytest.fixture
def production_settings(database_url: str, settings: Settings) -> Any:
    """Production settings as the environment makes them (defaults and checks included), then
    pointed at the local sandbox so nothing leaves the machine."""

    def make(**over: str) -> Settings:
        real = Settings.from_env(production_env(database_url, **over))
        return real.with_overrides(razorpay_base_url=settings.razorpay_base_url, data_dir=settings.data_dir)

    return make


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def place_order(api: Any, sandbox: Any) -> Any:
    """Place a real order through the whole flow: cart → startCheckout → sandbox payment → checkout."""

    async def place(customer: Any, lines: list[tuple[int, int]]) -> dict[str, Any]:
        for variant_id, qty in lines:
            await api.ok(ADD, {"v": variant_id, "q": qty}, token=customer.token)
        session = await start(api, customer.token)
        payment = await pay(sandbox.base_url, session["razorpayOrderId"])
        body = await finish(api, customer.token, session, payment)
        assert "errors" not in body, body
        return {**body["data"]["checkout"], "payment_id": payment["razorpay_payment_id"]}

    return place


@pytest.fixture
async def shop(make_user: Any, make_product: Any) -> dict[str, Any]:
    """An admin, a designer with a product of two variants, another designer, two customers."""
    admin = await make_user("ADMIN")
    designer = await make_user("DESIGNER")
    other_designer = await make_user("DESIGNER")
    alice = await make_user()
    bob = await make_user()
    product = await make_product(
        designer.designer_id,
        price=100000,
        variants=[("KUR-S", "S", "Red", 10, None), ("KUR-M", "M", "Red", 10, 120000)],
    )
    other = await make_product(
        other_designer.designer_id, price=50000, variants=[("STO-1", None, "Blue", 10, None)]
    )
    return {
        "admin": admin,
        "designer": designer,
        "other_designer": other_designer,
        "alice": alice,
        "bob": bob,
        "product": product,
        "other": other,
    }
