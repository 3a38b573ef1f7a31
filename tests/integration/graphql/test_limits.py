"""Query limits: depth, aliases, tokens, page size, cost; checked before anything runs."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from graphql import get_introspection_query, parse

from kapda_gql.config import Settings
from kapda_gql.graphql.limits import estimate_cost
from kapda_gql.graphql.schema import build_schema
from tests.support.assertions import codes

REGISTER = 'register(input: {email: "bomb@example.com", password: "long enough pw", name: "Bomb"}) { token }'


def nested(depth: int) -> str:
    """A query `depth` levels deep: product > variants > product > variants ... > id."""
    body = "id"
    for level in range(depth - 1, 0, -1):
        body = f"{'variants' if level % 2 else 'product'} {{ {body} }}"
    return body


def too_complex(body: dict[str, Any], limit: int) -> None:
    assert body["data"] is None, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    assert error["extensions"]["limit"] == limit, body
    assert error["extensions"]["requestId"]


async def test_depth_limit(api: Any, serve: Any, settings: Settings) -> None:
    deep = "{ product(id: 1) { " + nested(12) + " } }"  # product + 12 levels = 13
    too_complex(await api(deep), 12)
    # Depth is checked on its own: with cost out of the way, exactly 12 levels run.
    served = serve(settings.with_overrides(max_cost=10**9))
    async with served.client() as client:
        ok = (
            await client.post("/graphql", json={"query": "{ product(id: 1) { " + nested(11) + " } }"})
        ).json()
        assert ok == {"data": {"product": None}}, ok
        body = (await client.post("/graphql", json={"query": deep})).json()
        too_complex(body, 12)


async def test_depth_through_fragments_and_inline_fragments(api: Any) -> None:
    doc = """
    query { product(id: 1) { ...A } }
    fragment A on Product { variants { ...B } }
    fragment B on Variant { product { ... on Product { variants { product { variants { product {
      variants { product { variants { product { variants { id } } } } } } } } } } } }
    """
    too_complex(await api(doc), 12)


async def test_alias_limit(api: Any) -> None:
    thirty = " ".join(f"a{i}: me {{ id }}" for i in range(30))
    ok = await api("{ " + thirty + " }")
    assert not ok.get("errors"), ok
    too_complex(await api("{ " + thirty + " extra: me { id } }"), 30)


async def test_alias_bomb_in_a_mutation_changes_nothing(api: Any, db: asyncpg.Connection) -> None:
    bomb = " ".join(f"m{i}: {REGISTER}" for i in range(31))
    too_complex(await api("mutation { " + bomb + " }"), 30)
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_token_limit_is_query_too_complex_not_a_parse_error(api: Any, db: asyncpg.Connection) -> None:
    fields = " ".join(["__typename"] * 2100)
    started = time.perf_counter()
    too_complex(await api("mutation { " + REGISTER + " } " + "query { " + fields + " }"), 2000)
    assert time.perf_counter() - started < 2
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    # Just under the limit parses and runs (8 tokens per field, 2 for the braces).
    body = await api("{ " + " ".join(["__typename @include(if: true)"] * 249) + " }")
    assert body == {"data": {"__typename": "Query"}}, body


async def test_page_size_limit_literal_variable_and_default(api: Any) -> None:
    too_complex(await api("{ products(first: 101) { totalCount } }"), 100)
    too_complex(
        await api("query($n: Int) { products(first: $n) { totalCount } }", {"n": 5000}),
        100,
    )
    too_complex(await api("query($n: Int = 101) { products(first: $n) { totalCount } }"), 100)
    ok = await api("query($n: Int) { products(first: $n) { totalCount } }", {"n": 100})
    assert not ok.get("errors"), ok
    # A hidden second field asking for too much is found too.
    too_complex(
        await api("{ a: products(first: 1) { totalCount } b: products(first: 1000) { totalCount } }"), 100
    )


async def test_a_document_that_passed_is_checked_again_for_other_page_sizes_and_limits(
    api: Any, serve: Any, settings: Settings
) -> None:
    """A passed document skips its walk only for the same page sizes, schema and limits."""
    query = "query($n: Int, $m: Int) { a: products(first: $n) { totalCount } b: products(first: $m) { totalCount } }"
    for _ in range(2):
        assert not (await api(query, {"n": 100, "m": 1})).get("errors")
    too_complex(await api(query, {"n": 100, "m": 101}), 100)
    too_complex(await api(query, {"n": 100.5, "m": 1}), 100)  # not a whole number
    assert not (await api(query, {"n": 100, "m": 1, "unused": [1, 2]})).get("errors")
    # The same document and page sizes under smaller limits: refused there, still served here.
    served = serve(settings.with_overrides(max_page_size=50))
    async with served.client() as client:
        small = (await client.post("/graphql", json={"query": query, "variables": {"n": 100, "m": 1}})).json()
    too_complex(small, 50)
    assert not (await api(query, {"n": 100, "m": 1})).get("errors")


async def test_page_size_on_every_paginated_field(api: Any, make_user: Any) -> None:
    admin = await make_user("ADMIN")
    schema = build_schema()._schema
    paginated = [
        name for name, f in schema.query_type.fields.items() if "first" in f.args and name != "products"
    ]
    assert paginated, "expected orders/auditLog to take `first`"
    for name in paginated:
        body = await api(f"{{ {name}(first: 101) {{ __typename }} }}", token=admin.token)
        too_complex(body, 100)


async def test_cost_limit(api: Any) -> None:
    query = """{ products(first: 100) { edges { node { variants { product { variants {
        product { variants { id price { amount } } } } } } } } } }"""
    schema = build_schema()._schema
    assert estimate_cost(schema, parse(query)) > 20_000
    too_complex(await api(query), 20_000)
    small = "{ products(first: 100) { edges { node { id title variants { id sku price { formatted } } } } } }"
    assert estimate_cost(schema, parse(small)) < 20_000
    assert not (await api(small)).get("errors")


async def test_fragment_explosion_is_refused_quickly(api: Any) -> None:
    """Each fragment spreads the next one ten times: 10^8 fields if it were expanded naively."""
    fragments = ["fragment F0 on Product { variants { id product { id } } }"]
    for i in range(1, 9):
        spreads = " ".join(f"...F{i - 1}" for _ in range(10))
        fragments.append(f"fragment F{i} on Product {{ variants {{ product {{ {spreads} }} }} }}")
    doc = "{ products(first: 100) { edges { node { ...F8 } } } } " + " ".join(fragments)
    started = time.perf_counter()
    body = await api(doc)
    assert time.perf_counter() - started < 2
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body


async def test_cyclic_fragments_are_a_validation_error(api: Any) -> None:
    doc = "{ product(id: 1) { ...A } } fragment A on Product { variants { product { ...A } } }"
    body = await api(doc)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body


async def test_introspection_works_in_development_and_its_bombs_do_not(api: Any) -> None:
    full = await api(get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert not full.get("errors"), full
    assert full["data"]["__schema"]["queryType"]["name"] == "Query"
    bomb = "{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { name } } } } } } } } } } } }"
    body = await api(bomb)
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body
    # Aliases multiply introspection as well.
    wide = "{ " + " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(31)) + " }"
    too_complex(await api(wide), 30)


async def test_limits_follow_settings(serve: Any, settings: Settings) -> None:
    served = serve(settings.with_overrides(max_query_depth=3, max_aliases=2, max_page_size=10, max_tokens=50))
    async with served.client() as client:

        async def ask(query: str) -> dict[str, Any]:
            return dict((await client.post("/graphql", json={"query": query})).json())

        too_complex(await ask("{ product(id: 1) { variants { product { id } } } }"), 3)
        too_complex(await ask("{ a: me { id } b: me { id } c: me { id } }"), 2)
        too_complex(await ask("{ products(first: 11) { totalCount } }"), 10)
        too_complex(await ask("{ " + " ".join(["__typename"] * 60) + " }"), 50)
        ok = await ask("{ products(first: 10) { totalCount } }")
        assert not ok.get("errors"), ok


async def test_batching_is_off_and_runs_nothing(api: Any, db: asyncpg.Connection) -> None:
    response = await api.client.post(
        "/graphql", json=[{"query": "mutation { " + REGISTER + " }"}, {"query": "{ me { id } }"}]
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "batching" in body["errors"][0]["message"].lower()
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_batching_when_configured_runs_each_operation_up_to_the_cap(runtime: Any) -> None:
    import httpx

    from kapda_gql.app import create_app
    from kapda_gql.graphql.schema import MAX_BATCH
    from kapda_gql.runtime import Runtime

    batched = Runtime(
        settings=runtime.settings.with_overrides(batching=True), db=runtime.db, gateway=runtime.gateway
    )
    transport = httpx.ASGITransport(app=create_app(runtime=batched))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/graphql", json=[{"query": "{ me { id } }"}, {"query": "{ products { totalCount } }"}]
        )
        assert response.status_code == 200
        assert response.json() == [{"data": {"me": None}}, {"data": {"products": {"totalCount": 0}}}]
        too_many = await client.post("/graphql", json=[{"query": "{ me { id } }"}] * (MAX_BATCH + 1))
        assert too_many.status_code == 400
