"""A catalog-shaped page of plain attributes executed by our schema, for counting what its leaves cost.

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

from bench.plain import Designer, Money, Product, Variant
from kapda_gql.graphql.common import SCALARS
from kapda_gql.graphql.schema import KapdaSchema


def _variant(i: int, j: int) -> Variant:
    price = Money(amount=129900, currency="INR")
    return Variant(id=strawberry.ID(f"{i}-{j}"), sku=f"K-{i}-{j}", size="M", color=None, stock=3, price=price)


# The plain Strawberry server's own types (bench/plain.py), in the shape of a catalog page.
PAGE = [
    Product(
        id=strawberry.ID(str(i)),
        title="Kurta",
        price=Money(amount=129900, currency="INR"),
        designer=Designer(id=strawberry.ID(str(i % 5)), name="Studio"),
        variants=[_variant(i, j) for j in range(4)],
    )
    for i in range(20)
]


@strawberry.type
class Query:
    @strawberry.field
    def products(self) -> list[Product]:
        return PAGE


DOCUMENT = """{ products { id title price { amount currency } designer { id name }
  variants { id sku size color stock price { amount currency } } } }"""


async def main(n: int) -> None:
    schema = KapdaSchema(query=Query, scalar_overrides=SCALARS)
    for _ in range(5 + n):
        result = await schema.execute(DOCUMENT)
        assert result.errors is None, result.errors


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
