"""The database down or frozen: every answer keeps the contract's shape and says SERVICE_UNAVAILABLE.

Down is a runtime pointed at a closed port; frozen is a table held under ACCESS EXCLUSIVE by a
transaction of the test while a request reads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from kapda_gql.app import build_runtime, create_app
from kapda_gql.auth.security import issue_token
from kapda_gql.config import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
PRODUCTS = "{ products(first: 2) { edges { node { id title } } } }"
ME = "{ me { id email } }"
LOGIN = 'mutation { login(input: {email: "a@b.in", password: "not-the-password"}) { token } }'


@pytest.fixture
async def down(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    dead = build_runtime(
        settings.with_overrides(
            database_url="postgresql://postgres@127.0.0.1:1/x", db_connect_timeout_seconds=2.0
        )
    )
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=dead), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await dead.db.dispose()


def _assert_unavailable(response: httpx.Response, *, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(("application/json", GRAPHQL_RESPONSE))
    assert response.headers["retry-after"] == "2"
    request_id = response.headers["x-request-id"]
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["requestId"] == request_id
    text = json.dumps(body).lower()
    for leak in ("select", "asyncpg", "connect call failed", "127.0.0.1", "errno"):
        assert leak not in text, body


async def _send(client: httpx.AsyncClient, method: str, query: str, accept: str, token: str | None) -> Any:
    headers = {"accept": accept}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if method == "GET":
        return await client.get("/graphql", params={"query": query}, headers=headers)
    return await client.post("/graphql", json={"query": query}, headers=headers)


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
async def test_a_down_database_is_a_retryable_503_in_the_contracts_shape(
    down: httpx.AsyncClient, settings: Settings, method: str, signed_in: bool
) -> None:
    token = issue_token(settings.jwt_secret, 1, 600)[0] if signed_in else None
    query = ME if signed_in else PRODUCTS
    _assert_unavailable(await _send(down, method, query, GRAPHQL_RESPONSE, token), status=503)
    # application/json keeps the 200 of a GraphQL answer, with the same code and Retry-After.
    _assert_unavailable(await _send(down, method, query, "application/json", token), status=200)
    assert (await down.get("/readyz")).status_code == 503


async def test_a_down_database_is_unavailable_in_development_too_without_sql(
    settings: Settings,
) -> None:
    assert not settings.production  # the test settings are development ones: no masking
    dead = build_runtime(settings.with_overrides(database_url="postgresql://postgres@127.0.0.1:1/x"))
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=dead), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post(
                "/graphql",
                json={"query": LOGIN},
                headers={"accept": GRAPHQL_RESPONSE},
            )
            _assert_unavailable(r, status=503)
    finally:
        await dead.db.dispose()


async def test_a_frozen_table_answers_within_the_statement_bound(
    settings: Settings, database_url: str, make_user: Any
) -> None:
    user = await make_user("CUSTOMER")
    bounded = build_runtime(settings.with_overrides(db_statement_timeout_seconds=1.0))
    holder = await asyncpg.connect(database_url)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=bounded), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            tx = holder.transaction()
            await tx.start()
            await holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            r = await client.post(
                "/graphql",
                json={"query": ME},
                headers={"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {user.token}"},
            )
            took = time.monotonic() - started
            await tx.rollback()
            _assert_unavailable(r, status=503)
            assert took < 2.5, took  # the bound (1 s) plus the request's own work, not the freeze
            # Thawed, the same request answers again: the bounded connections were not lost for good.
            again = await client.post(
                "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {user.token}"}
            )
            assert again.json()["data"]["me"]["id"] == str(user.id), again.text
    finally:
        if not holder.is_closed():
            await holder.close()
        await bounded.db.dispose()


async def test_a_frozen_pool_answers_within_the_checkout_bound(settings: Settings) -> None:
    """Every pooled connection busy past the checkout bound: the next request does not queue for ever."""
    runtime = build_runtime(settings.with_overrides(db_pool_size=1, db_pool_timeout_seconds=0.5))
    try:
        uow = runtime.db.uow()
        transport = httpx.ASGITransport(app=create_app(runtime=runtime), raise_app_exceptions=False)
        async with uow.lean() as tx, httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await tx.sql.fetchval("SELECT 1")
            started = time.monotonic()
            r = await client.post("/graphql", json={"query": PRODUCTS}, headers={"accept": GRAPHQL_RESPONSE})
            assert time.monotonic() - started < 2.0
        _assert_unavailable(r, status=503)
    finally:
        await runtime.db.dispose()
