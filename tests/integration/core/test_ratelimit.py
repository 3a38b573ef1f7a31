"""Rate limits hold across app instances (workers, replicas) sharing PostgreSQL or Redis."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from kapda_gql.config import Settings
from kapda_gql.core.ratelimit import PostgresRateLimiter, RedisRateLimiter, Rule
from tests.support.apps import PASSWORD, Served
from tests.support.assertions import codes

REDIS_URL = "redis://127.0.0.1:6379/0"
LOGIN = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }"


# Every test here counts hits within one fixed window (core/ratelimit.py).
pytestmark = pytest.mark.usefixtures("fresh_rate_window")


def limited(settings: Settings, **over: Any) -> Settings:
    return settings.with_overrides(rate_limits=True, **over)


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def assert_rate_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED", body
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert retry_after >= 1
    assert response.headers["retry-after"] == str(retry_after)
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return retry_after


async def two_instances(serve: Any, settings: Settings) -> tuple[Served, Served]:
    return serve(settings), serve(settings)


async def test_anonymous_limit_holds_across_two_instances(
    serve: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    config = limited(settings, rate_anonymous_per_ip=(5, 60))
    a, b = await two_instances(serve, config)
    async with a.client("192.0.2.10") as ca, b.client("192.0.2.10") as cb, b.client("192.0.2.11") as other:
        clients = itertools.cycle([ca, cb])
        for _ in range(5):
            response = await post(next(clients), "{ products { totalCount } }")
            assert response.status_code == 200, response.text
            assert not response.json().get("errors")
        retry_after = assert_rate_limited(await post(next(clients), "{ products { totalCount } }"))
        assert retry_after <= 60
        assert_rate_limited(await post(next(clients), "{ products { totalCount } }"))
        # Another address has its own allowance.
        assert (await post(other, "{ products { totalCount } }")).status_code == 200
    count = await db.fetchval("SELECT count FROM rate_limit_buckets WHERE key LIKE 'anon-ip:192.0.2.10/%'")
    assert count == 7


async def test_login_attempts_per_account_across_instances_and_addresses(
    serve: Any, settings: Settings, make_user: Any
) -> None:
    user = await make_user("CUSTOMER")
    a, b = await two_instances(serve, limited(settings, rate_login_per_account=(3, 300)))
    ips = (f"192.0.2.{n}" for n in range(20, 40))
    for i in range(3):
        async with (a if i % 2 else b).client(next(ips)) as client:
            body = (await post(client, LOGIN, {"e": user.email, "p": "wrong password"})).json()
            assert codes(body) == ["INVALID_CREDENTIALS"], body
    # The fourth attempt is refused, even with the right password, a new address and other casing.
    async with a.client(next(ips)) as client:
        response = await post(client, LOGIN, {"e": user.email.upper(), "p": PASSWORD})
        assert_rate_limited(response)
        assert "token" not in response.text
    # Other accounts are not locked out by it.
    other = await make_user("CUSTOMER")
    async with b.client(next(ips)) as client:
        body = (await post(client, LOGIN, {"e": other.email, "p": PASSWORD})).json()
        assert body["data"]["login"]["token"], body


async def test_login_attempts_per_address_and_aliases_count_each(
    serve: Any, settings: Settings, make_user: Any
) -> None:
    served = serve(limited(settings, rate_login_per_ip=(4, 300)))
    users = [await make_user("CUSTOMER") for _ in range(3)]
    async with served.client("192.0.2.50") as client:
        # Two attempts in one request, on two accounts, written as literals.
        doc = (
            "mutation {"
            + "".join(
                f' a{i}: login(input: {{email: "{u.email}", password: "nope nope"}}) {{ token }}'
                for i, u in enumerate(users[:2])
            )
            + " }"
        )
        body = (await post(client, doc)).json()
        # Mutations run in order and the first failure ends the operation; both attempts counted anyway.
        assert codes(body)[0] == "INVALID_CREDENTIALS", body
        for u in users[1:]:
            body = (await post(client, LOGIN, {"e": u.email, "p": "nope nope"})).json()
            assert codes(body) == ["INVALID_CREDENTIALS"], body
        assert_rate_limited(await post(client, LOGIN, {"e": users[0].email, "p": PASSWORD}))
    async with served.client("192.0.2.51") as client:
        body = (await post(client, LOGIN, {"e": users[0].email, "p": PASSWORD})).json()
        assert body["data"]["login"]["token"]


async def test_mutations_per_user_and_a_refused_mutation_changes_nothing(
    serve: Any, settings: Settings, make_user: Any, make_product: Any, db: asyncpg.Connection
) -> None:
    a, b = await two_instances(serve, limited(settings, rate_mutations_per_user=(3, 60)))
    designer = await make_user("DESIGNER")
    product = await make_product(designer.designer_id, status="DRAFT")
    async with a.client() as ca, b.client() as cb:
        doc = "mutation($id: ID!) { x: setStock(input: {variantId: $id, stock: 5}) { stock } y: setStock(input: {variantId: $id, stock: 6}) { stock } }"
        body = (await post(ca, doc, {"id": str(product["variant_ids"][0])}, designer.token)).json()
        assert not body.get("errors"), body
        body = (
            await post(
                cb,
                "mutation($id: ID!) { submitProduct(productId: $id) { status } }",
                {"id": str(product["id"])},
                designer.token,
            )
        ).json()
        assert body["data"]["submitProduct"]["status"] == "PENDING_REVIEW"
        refused = await post(
            ca,
            "mutation($id: ID!) { setStock(input: {variantId: $id, stock: 99}) { stock } }",
            {"id": str(product["variant_ids"][0])},
            designer.token,
        )
        assert_rate_limited(refused)
        # Queries are not mutations: still answered.
        body = (await post(cb, "{ me { id } }", token=designer.token)).json()
        assert body["data"]["me"]["id"] == str(designer.id)
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", product["variant_ids"][0]) == 6


async def test_unparseable_requests_count_towards_the_anonymous_limit(serve: Any, settings: Settings) -> None:
    served = serve(limited(settings, rate_anonymous_per_ip=(3, 60)))
    async with served.client("192.0.2.60") as client:
        for _ in range(3):
            body = (await post(client, "{ this is not graphql")).json()
            assert codes(body) == ["GRAPHQL_PARSE_FAILED"]
        assert_rate_limited(await post(client, "{ products { totalCount } }"))


async def test_off_means_off(api: Any) -> None:
    for _ in range(30):
        response = await api.post("{ __typename }")
        assert response.status_code == 200


async def test_postgres_limiter_counts_and_windows(runtime: Any, db: asyncpg.Connection) -> None:
    limiter = PostgresRateLimiter(runtime.db)
    verdicts = await limiter.hit([Rule("k:a", 2, 60), Rule("k:a", 2, 60), Rule("k:b", 1, 3600)])
    by_key = {v.rule.key: v for v in verdicts}
    assert by_key["k:a"].count == 2 and by_key["k:a"].allowed
    assert by_key["k:b"].count == 1 and 1 <= by_key["k:b"].retry_after <= 3600
    again = {v.rule.key: v for v in await limiter.hit([Rule("k:a", 2, 60)])}
    assert again["k:a"].count == 3 and not again["k:a"].allowed
    await db.execute("UPDATE rate_limit_buckets SET expires_at = now() - interval '1 second'")
    assert await limiter.purge() == 2
    assert await db.fetchval("SELECT count(*) FROM rate_limit_buckets") == 0


async def redis_available() -> bool:
    try:
        limiter = RedisRateLimiter(REDIS_URL)
        try:
            await limiter.client.ping()
            return True
        finally:
            await limiter.aclose()
    except Exception:
        return False


@pytest.fixture
async def redis_url() -> str:
    assert await redis_available(), "the development machines run Redis on 127.0.0.1:6379"
    return REDIS_URL


async def test_redis_limit_holds_across_two_instances(
    serve: Any, settings: Settings, redis_url: str, make_user: Any
) -> None:
    config = limited(
        settings, redis_url=redis_url, rate_anonymous_per_ip=(4, 60), rate_login_per_account=(2, 300)
    )
    a, b = await two_instances(serve, config)
    # Keys in Redis outlive this test run: a fresh address and account keep reruns independent.
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with a.client(ip) as ca, b.client(ip) as cb:
        clients = itertools.cycle([ca, cb])
        for _ in range(4):
            assert (await post(next(clients), "{ __typename }")).status_code == 200
        assert_rate_limited(await post(next(clients), "{ __typename }"))
    user = await make_user("CUSTOMER")
    for served in (a, b):
        async with served.client(f"{ip}9") as client:
            assert codes((await post(client, LOGIN, {"e": user.email, "p": "bad password"})).json()) == [
                "INVALID_CREDENTIALS"
            ]
    async with a.client(f"{ip}8") as client:
        assert_rate_limited(await post(client, LOGIN, {"e": user.email, "p": PASSWORD}))
    limiter = RedisRateLimiter(redis_url)
    try:
        ttl = await limiter.client.pttl(f"kapda:rl:anon-ip:{ip}/60")
        assert 0 < ttl <= 60_000
    finally:
        await limiter.aclose()


async def test_an_unreachable_store_lets_requests_through(serve: Any, settings: Settings, logs: Any) -> None:
    served = serve(limited(settings, redis_url="redis://127.0.0.1:1/0", rate_anonymous_per_ip=(1, 60)))
    async with served.client() as client:
        for _ in range(3):
            response = await post(client, "{ __typename }")
            assert response.status_code == 200
            assert response.json() == {"data": {"__typename": "Query"}}
    assert any("rate-limit store unavailable" in r.getMessage() for r in logs.records)
