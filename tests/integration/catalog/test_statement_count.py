"""A catalog page is one statement, whatever its size, filters or search; a token adds only its own."""

from __future__ import annotations

from typing import Any

import pytest

from kapda_gql.runtime import Runtime
from tests.support.flows import with_initial_movements
from tests.support.statements import counting

PAGE = """
query($first: Int, $filter: ProductFilter, $sort: ProductSort, $after: String) {
  products(first: $first, filter: $filter, sort: $sort, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id title inStock price { formatted }
      designer { id name }
      variants { id sku size color stock inStock price { amount formatted } }
    } }
  }
}"""
WITH_COUNT = PAGE.replace("pageInfo {", "totalCount pageInfo {")
PRODUCTS = 101
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("plain", {}),
    (
        "filtered",
        {
            "filter": {
                "category": "kurta",
                "minPrice": 10_000,
                "size": "m",
                "color": "blue",
                "inStock": True,
            },
            "sort": "PRICE_ASC",
        },
    ),
    ("search", {"filter": {"search": "handwoven kurta"}, "sort": "RELEVANCE"}),
]


@pytest.fixture
async def shelves(db: Any) -> None:
    """101 approved products, each from its own designer (the worst case for N+1 loading), three
    variants each (one of them deleted, so it must not show)."""
    await db.execute(
        "INSERT INTO users (email, password_hash, name, role)"
        " SELECT 'd' || g || '@example.com', 'x', 'Designer ' || g, 'DESIGNER' FROM generate_series(1, $1) g",
        PRODUCTS,
    )
    await db.execute(
        "INSERT INTO designers (user_id, name) SELECT id, 'Studio ' || id FROM users ORDER BY id"
    )
    await db.execute(
        "INSERT INTO products (designer_id, slug, title, description, category, price, status)"
        " SELECT id, 'p-' || id, 'Kurta ' || id, 'Handwoven cotton', 'Kurta', 10000 + id, 'APPROVED'"
        " FROM designers ORDER BY id"
    )
    await db.execute(
        with_initial_movements(
            "INSERT INTO variants (product_id, sku, size, color, stock, deleted_at)"
            " SELECT p.id, 'V-' || p.id || '-' || s, s, 'Blue', 1 + p.id % 3, CASE WHEN s = 'L' THEN now() END"
            " FROM products p CROSS JOIN unnest(ARRAY['S', 'M', 'L', 'XL']) s"
        )
    )


async def _count(api: Any, runtime: Runtime, query: str, variables: dict[str, Any], token: str | None) -> Any:
    await api.ok(query, variables, token=token)  # warm: a fresh pool connection must not count
    with counting(runtime) as statements:
        data = await api.ok(query, variables, token=token)
    return statements, data["products"]


async def test_a_page_is_one_statement_for_any_size_filter_and_search(
    api: Any, runtime: Runtime, make_user: Any, shelves: None
) -> None:
    customer = await make_user()
    seen: dict[tuple[str, int], int] = {}
    for name, variables in QUERIES:
        for first in (1, 20, 100):
            anonymous, products = await _count(api, runtime, PAGE, {**variables, "first": first}, None)
            signed_in, same = await _count(api, runtime, PAGE, {**variables, "first": first}, customer.token)
            assert len(anonymous) == 1, (name, first, anonymous)
            assert len(signed_in) == 2, (name, first, signed_in)
            assert same == products
            assert anonymous[0] in signed_in
            edges = products["edges"]
            assert len(edges) == first
            assert products["pageInfo"]["hasNextPage"] is (first < PRODUCTS)
            assert len({e["node"]["designer"]["id"] for e in edges}) == first
            assert all([v["size"] for v in e["node"]["variants"]] == ["S", "M", "XL"] for e in edges)
            seen[name, first] = len(edges)

            # The next page costs the same one statement.
            after = products["pageInfo"]["endCursor"]
            statements, _ = await _count(
                api, runtime, PAGE, {**variables, "first": first, "after": after}, None
            )
            assert len(statements) == 1, (name, first, "after")
    assert len(seen) == 9


async def test_total_count_adds_one_statement(api: Any, runtime: Runtime, shelves: None) -> None:
    for name, variables in QUERIES:
        statements, products = await _count(api, runtime, WITH_COUNT, {**variables, "first": 20}, None)
        assert len(statements) == 2, (name, statements)
        assert products["totalCount"] == PRODUCTS
