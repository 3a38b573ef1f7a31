"""The reference for the catalog: a bare Strawberry schema of the same shape answering from memory.

`uvicorn bench.plain:create_app --factory` (the bench starts it exactly like the service: uvloop,
httptools, same worker count). The products are the service's own answer for the same query,
saved by the bench to the file named by BENCH_PLAIN_DATA, so both send the same bytes. The schema
has Strawberry's parser and validation caches, as the service's does: what the ratio measures is
everything the service adds on top of the framework (database, DataLoaders, middleware, extensions).
"""

from __future__ import annotations

import enum
import json
import os
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type
class Money:
    amount: int
    currency: str


@strawberry.type
class Designer:
    id: strawberry.ID
    name: str


@strawberry.type
class Variant:
    id: strawberry.ID
    sku: str
    size: str | None
    color: str | None
    stock: int
    price: Money


@strawberry.type
class Product:
    id: strawberry.ID
    title: str
    price: Money
    designer: Designer
    variants: list[Variant]


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


@strawberry.enum
class ProductSort(enum.Enum):
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    RELEVANCE = "RELEVANCE"


@strawberry.input
class ProductFilter:
    search: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None


def _money(data: dict[str, Any]) -> Money:
    return Money(amount=data["amount"], currency=data.get("currency", "INR"))


def _product(data: dict[str, Any]) -> Product:
    return Product(
        id=strawberry.ID(data["id"]),
        title=data["title"],
        price=_money(data["price"]),
        designer=Designer(id=strawberry.ID(data["designer"]["id"]), name=data["designer"]["name"]),
        variants=[
            Variant(
                id=strawberry.ID(v["id"]),
                sku=v["sku"],
                size=v["size"],
                color=v["color"],
                stock=v["stock"],
                price=_money(v["price"]),
            )
            for v in data["variants"]
        ],
    )


def _load() -> dict[str, list[ProductEdge]]:
    """{"page" | "filtered" | "search": edges}: the service's answers to the bench's three queries."""
    with open(os.environ["BENCH_PLAIN_DATA"]) as handle:
        pages = json.load(handle)
    return {
        name: [ProductEdge(cursor=e["cursor"], node=_product(e["node"])) for e in edges]
        for name, edges in pages.items()
    }


PAGES: dict[str, list[ProductEdge]] = {}


@strawberry.type
class Query:
    @strawberry.field
    def products(
        self,
        filter: ProductFilter | None = None,
        sort: ProductSort | None = ProductSort.NEWEST,
        first: int | None = 20,
        after: str | None = None,
    ) -> ProductConnection:
        page = PAGES["search" if filter and filter.search else "filtered" if filter else "page"]
        edges = page[: first or 0]
        return ProductConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(page) > len(edges), end_cursor=edges[-1].cursor if edges else None
            ),
        )


async def healthz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    PAGES.update(_load())
    schema = strawberry.Schema(
        query=Query, extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)]
    )
    return Starlette(
        routes=[
            Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
