"""12.1: the cost of a request is what its coerced variables make it, whatever JSON number carries them."""

from __future__ import annotations

from typing import Any

from graphql import parse

from kapda_gql.graphql.limits import estimate_cost
from kapda_gql.graphql.schema import build_schema
from tests.support.assertions import codes

NESTED = """query($n: Int) { products(first: $n) { edges { node { variants { product { variants {
    product { variants { id price { amount } } } } } } } } } }"""
SMALL = "query($n: Int) { products(first: $n) { edges { node { id variants { id } } } } }"


def refused(body: dict[str, Any], limit: int) -> None:
    assert body.get("data") is None, body
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert body["errors"][0]["extensions"]["limit"] == limit, body


async def test_a_float_page_size_costs_what_its_whole_number_does(api: Any) -> None:
    schema = build_schema()._schema
    as_int = estimate_cost(schema, parse(NESTED), {"n": 100})
    assert as_int > 20_000
    assert estimate_cost(schema, parse(NESTED), {"n": 100.0}) == as_int
    refused(await api(NESTED, {"n": 100.0}), 20_000)
    refused(await api(NESTED, {"n": 100}), 20_000)


async def test_a_float_page_size_over_the_cap_is_refused(api: Any) -> None:
    refused(await api(SMALL, {"n": 101.0}), 100)
    refused(await api(SMALL, {"n": 1e9}), 100)


async def test_a_page_size_that_is_not_whole_is_query_too_complex(api: Any) -> None:
    refused(await api(SMALL, {"n": 2.5}), 100)
    refused(await api("{ products(first: 2.5) { totalCount } }"), 100)


async def test_a_whole_float_within_the_limits_is_served(api: Any) -> None:
    body = await api(SMALL, {"n": 5.0})
    assert not body.get("errors"), body
    assert body["data"]["products"]["edges"] == []
