"""Catalog queries: products (pages both ways), one product, categories."""

from __future__ import annotations

import strawberry

from kapda_gql.catalog import browse
from kapda_gql.catalog import model as catalog
from kapda_gql.core.pagination import window
from kapda_gql.domain import enums
from kapda_gql.graphql.catalog.types import Category, Product, ProductConnection, ProductFilter, load_product
from kapda_gql.graphql.common import parse_optional_id
from kapda_gql.graphql.context import Info


def _filter(value: ProductFilter | None) -> catalog.ProductFilter:
    if value is None:
        return catalog.ProductFilter()
    return catalog.ProductFilter(
        search=value.search,
        category=value.category,
        designer_id=parse_optional_id(value.designer_id, "filter.designerId"),
        min_price=value.min_price,
        max_price=value.max_price,
        size=value.size,
        color=value.color,
        in_stock=value.in_stock,
        status=enums.ProductStatus(value.status) if value.status is not None else None,
    )


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Forward with first/after, backward with last/before; first 20 by default.")
    async def products(
        self,
        info: Info,
        filter: ProductFilter | None = None,
        sort: catalog.ProductSort | None = catalog.ProductSort.NEWEST,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ProductConnection:
        flt = _filter(filter)
        page = await browse.list_products(
            info.context.uow(),
            info.context.actor,
            flt,
            catalog.ProductSort(sort or catalog.ProductSort.NEWEST),
            window(
                first=first,
                after=after,
                last=last,
                before=before,
                limit=info.context.runtime.settings.max_page_size,
            ),
        )
        return ProductConnection.of(page, flt)

    @strawberry.field(description="One product by id or slug (exactly one); null when not visible.")
    async def product(
        self, info: Info, id: strawberry.ID | None = None, slug: str | None = None
    ) -> Product | None:
        row = await browse.get_product(
            info.context.uow(), info.context.actor, product_id=parse_optional_id(id, "id"), slug=slug
        )
        return await load_product(info, row) if row else None

    @strawberry.field(description="The categories of the products the caller sees, with their counts.")
    async def categories(self, info: Info) -> list[Category]:
        rows = await browse.list_categories(info.context.uow(), info.context.actor)
        return [Category.of(row) for row in rows]
