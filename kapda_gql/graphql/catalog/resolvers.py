from __future__ import annotations

import strawberry

from kapda_gql.catalog import services as catalog
from kapda_gql.domain import enums
from kapda_gql.graphql.catalog.types import (
    CreateProductInput,
    Product,
    ProductConnection,
    ProductFilter,
    ReviewProductInput,
    SetStockInput,
    UpdateProductInput,
    Variant,
    VariantInput,
    load_product,
)
from kapda_gql.graphql.common import parse_id, parse_optional_id
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


def _variants(values: list[VariantInput] | None) -> list[catalog.VariantSpec]:
    return [
        catalog.VariantSpec(sku=v.sku, size=v.size, color=v.color, price=v.price, stock=v.stock)
        for v in values or []
    ]


@strawberry.type
class CatalogQuery:
    @strawberry.field
    async def products(
        self,
        info: Info,
        filter: ProductFilter | None = None,
        sort: catalog.ProductSort | None = catalog.ProductSort.NEWEST,
        first: int | None = 20,
        after: str | None = None,
    ) -> ProductConnection:
        flt = _filter(filter)
        page = await catalog.list_products(
            info.context.uow(),
            info.context.actor,
            flt,
            catalog.ProductSort(sort or catalog.ProductSort.NEWEST),
            first=20 if first is None else first,
            after=after,
            page_limit=info.context.runtime.settings.max_page_size,
        )
        return ProductConnection.of(page, flt)

    @strawberry.field(description="One product by id or slug (exactly one); null when not visible.")
    async def product(
        self, info: Info, id: strawberry.ID | None = None, slug: str | None = None
    ) -> Product | None:
        row = await catalog.get_product(
            info.context.uow(), info.context.actor, product_id=parse_optional_id(id, "id"), slug=slug
        )
        return await load_product(info, row) if row else None


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(
        description="Designers for themselves, admins for a named designer; starts as DRAFT."
    )
    async def create_product(self, info: Info, input: CreateProductInput) -> Product:
        spec = catalog.ProductSpec(
            title=input.title,
            description=input.description,
            category=input.category,
            price=input.price,
            images=list(input.images or []),
            variants=_variants(input.variants),
        )
        row = await catalog.create_product(
            info.context.uow(),
            info.context.actor,
            spec,
            designer_id=parse_optional_id(input.designer_id, "designerId"),
        )
        return await load_product(info, row)

    @strawberry.mutation
    async def update_product(self, info: Info, input: UpdateProductInput) -> Product:
        changes = catalog.ProductChanges(
            title=input.title,
            description=input.description,
            category=input.category,
            price=input.price,
            images=input.images,
            add_variants=_variants(input.add_variants),
        )
        row = await catalog.update_product(
            info.context.uow(), info.context.actor, parse_id(input.product_id, "productId"), changes
        )
        return await load_product(info, row)

    @strawberry.mutation(description="DRAFT or REJECTED -> PENDING_REVIEW.")
    async def submit_product(self, info: Info, product_id: strawberry.ID) -> Product:
        row = await catalog.submit_product(
            info.context.uow(), info.context.actor, parse_id(product_id, "productId")
        )
        return await load_product(info, row)

    @strawberry.mutation(description="Admin: approve or reject; rejecting an approved product delists it.")
    async def review_product(self, info: Info, input: ReviewProductInput) -> Product:
        row = await catalog.review_product(
            info.context.uow(),
            info.context.actor,
            parse_id(input.product_id, "productId"),
            catalog.ReviewDecision(input.decision),
            input.reason,
        )
        return await load_product(info, row)

    @strawberry.mutation(description="Soft delete: hidden everywhere, kept for order history.")
    async def delete_product(self, info: Info, product_id: strawberry.ID) -> bool:
        return await catalog.delete_product(
            info.context.uow(), info.context.actor, parse_id(product_id, "productId")
        )

    @strawberry.mutation(description="Set a variant's stock to an absolute number (audited).")
    async def set_stock(self, info: Info, input: SetStockInput) -> Variant:
        row = await catalog.set_stock(
            info.context.uow(), info.context.actor, parse_id(input.variant_id, "variantId"), input.stock
        )
        return await Variant.load(info, row)
