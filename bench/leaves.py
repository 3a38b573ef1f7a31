"""A page of plain attributes executed by our schema, for counting what its leaves cost.

`python -m bench.leaves N` executes the document N times (after a warm-up of 5). Run it under
callgrind at two N and take the difference, for a count of instructions per execute that this
shared machine's noise cannot move::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.leaves 5
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.leaves 25
"""

from __future__ import annotations

import asyncio
import sys

import strawberry

from kapda_gql.graphql.common import SCALARS
from kapda_gql.graphql.schema import KapdaSchema


@strawberry.type
class Variant:
    id: strawberry.ID
    sku: str
    size: str | None
    color: str | None
    stock: int
    live: bool


@strawberry.type
class Product:
    id: strawberry.ID
    slug: str
    title: str
    description: str
    category: str
    in_stock: bool
    variants: list[Variant]


PAGE = [
    Product(
        id=strawberry.ID(str(i)),
        slug=f"kurta-{i}",
        title="Kurta",
        description="Cotton",
        category="Kurta",
        in_stock=True,
        variants=[
            Variant(id=strawberry.ID(str(j)), sku=f"K-{i}-{j}", size="M", color=None, stock=3, live=True)
            for j in range(4)
        ],
    )
    for i in range(20)
]


@strawberry.type
class Query:
    @strawberry.field
    def products(self) -> list[Product]:
        return PAGE


DOCUMENT = (
    "{ products { id slug title description category inStock variants { id sku size color stock live } } }"
)


async def main(n: int) -> None:
    schema = KapdaSchema(query=Query, scalar_overrides=SCALARS)
    for _ in range(5 + n):
        result = await schema.execute(DOCUMENT)
        assert result.errors is None, result.errors


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
