"""12.2: rate limits count every request: anonymous and bad-token ones per IP, authenticated ones per
user, each mutation field on its own."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from kapda_gql.config import Settings
from tests.support.assertions import codes

ME = "{ me { id } }"


# Every test here counts hits within one fixed window (core/ratelimit.py).
pytestmark = pytest.mark.usefixtures("fresh_rate_window")


def limited(settings: Settings, **over: Any) -> Settings:
    return settings.with_overrides(rate_limits=True, **over)


async def post(client: httpx.AsyncClient, query: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


def rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert codes(response.json()) == ["RATE_LIMITED"], response.text
    assert int(response.headers["retry-after"]) >= 1


async def test_authenticated_queries_count_per_user_from_any_address(
    serve: Any, settings: Settings, make_user: Any
) -> None:
    served = serve(limited(settings, rate_requests_per_user=(4, 60)))
    user, other = await make_user(), await make_user()
    for n in range(4):
        async with served.client(f"192.0.2.{100 + n}") as client:
            response = await post(client, ME, user.token)
            assert response.status_code == 200 and not response.json().get("errors"), response.text
    async with served.client("192.0.2.200") as client:
        rate_limited(await post(client, ME, user.token))
        # Another user, from the very same address, has its own allowance.
        assert (await post(client, ME, other.token)).json() == {"data": {"me": {"id": str(other.id)}}}


async def test_bad_token_requests_count_per_address(serve: Any, settings: Settings) -> None:
    served = serve(limited(settings, rate_anonymous_per_ip=(3, 60)))
    async with served.client("192.0.2.50") as client, served.client("192.0.2.51") as elsewhere:
        for _ in range(3):
            assert codes((await post(client, ME, "not-a-token")).json()) == ["UNAUTHENTICATED"]
        rate_limited(await post(client, ME, "not-a-token"))
        rate_limited(await post(client, ME))  # the same allowance as anonymous requests
        assert (await post(elsewhere, ME, "not-a-token")).status_code == 200


async def test_thirty_aliased_registers_count_thirty_with_the_defaults(
    serve: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    served = serve(limited(settings))  # the shipped per-IP mutation allowance
    registers = " ".join(
        f'r{i}: register(input: {{email: "bulk{i}@example.com", password: "long enough pw", name: "B{i}"}})'
        " { token }"
        for i in range(30)
    )
    async with served.client("192.0.2.60") as client:
        rate_limited(await post(client, f"mutation {{ {registers} }}"))
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_anonymous_mutation_fields_count_each_per_address(
    serve: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    served = serve(limited(settings, rate_mutations_per_ip=(3, 60)))
    two = " ".join(
        f'r{i}: register(input: {{email: "pair{i}@example.com", password: "long enough pw", name: "P{i}"}})'
        " { token }"
        for i in range(2)
    )
    async with served.client("192.0.2.70") as client:
        first = await post(client, f"mutation {{ {two} }}")
        assert first.status_code == 200 and not first.json().get("errors"), first.text
        rate_limited(await post(client, f"mutation {{ {two.replace('pair', 'more')} }}"))  # 2 + 2 > 3
    assert await db.fetchval("SELECT count(*) FROM users") == 2
