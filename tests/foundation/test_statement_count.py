"""Nested designer and variants load through DataLoaders: a page costs the same statements for 5 or 50."""

from __future__ import annotations

from typing import Any

from kapda_gql.runtime import Runtime
from tests.support import counting

PAGE = """
{
  products(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id title inStock price { formatted }
      designer { id name }
      variants { id sku size color stock inStock price { amount formatted } }
    } }
  }
}"""


async def _add(make_user: Any, make_product: Any, products: int) -> None:
    """Every product has its own designer and three variants, the worst case for N+1 loading."""
    for i in range(products):
        designer = await make_user("DESIGNER")
        await make_product(
            designer.designer_id,
            price=10_000 + i,
            variants=[(f"V{i}-{size}-{designer.id}", size, "Blue", i % 3, None) for size in ("S", "M", "L")],
        )


async def _count(api: Any, runtime: Runtime, token: str | None = None) -> tuple[int, dict[str, Any]]:
    await api.ok(PAGE, token=token)  # warm: a fresh pool connection must not count as a statement
    with counting(runtime) as statements:
        data = await api.ok(PAGE, token=token)
    return len(statements), data


async def test_statement_count_does_not_grow_with_the_page(
    api: Any, runtime: Runtime, make_user: Any, make_product: Any
) -> None:
    customer = await make_user()
    await _add(make_user, make_product, 5)
    small, data = await _count(api, runtime)
    assert len(data["products"]["edges"]) == 5
    assert data["products"]["totalCount"] == 5
    small_signed_in, _ = await _count(api, runtime, customer.token)

    await _add(make_user, make_product, 45)
    large, data = await _count(api, runtime)
    edges = data["products"]["edges"]
    assert len(edges) == 50
    assert data["products"]["totalCount"] == 50
    assert all(len(e["node"]["variants"]) == 3 and e["node"]["designer"]["name"] for e in edges)
    assert len({e["node"]["designer"]["id"] for e in edges}) == 50
    large_signed_in, _ = await _count(api, runtime, customer.token)

    # page + designers + variants + count; a token adds only its one authentication statement.
    assert small == large <= 4, (small, large)
    assert small_signed_in == large_signed_in == small + 1 <= 5
