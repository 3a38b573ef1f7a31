"""Catalog management mutations: designers for their own products, admins for all."""

from __future__ import annotations

import strawberry

from kapda_gql.catalog import manage
from kapda_gql.catalog import model as catalog
from kapda_gql.graphql.catalog.types import (
    CreateProductInput,
    Product,
    ReviewProductInput,
    SetStockInput,
    UpdateProductInput,
    Variant,
    VariantInput,
    load_product,
)
from kapda_gql.graphql.common import parse_id, parse_optional_id
from kapda_gql.graphql.context import Info


def _variants(values: list[VariantInput] | None) -> list[catalog.VariantSpec]:
    return [
        catalog.VariantSpec(sku=v.sku, size=v.size, color=v.color, price=v.price, stock=v.stock)
        for v in values or []
    ]


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
        row = await manage.create_product(
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
        row = await manage.update_product(
            info.context.uow(), info.context.actor, parse_id(input.product_id, "productId"), changes
        )
        return await load_product(info, row)

    @strawberry.mutation(description="DRAFT or REJECTED -> PENDING_REVIEW.")
    async def submit_product(self, info: Info, product_id: strawberry.ID) -> Product:
        row = await manage.submit_product(
            info.context.uow(), info.context.actor, parse_id(product_id, "productId")
        )
        return await load_product(info, row)

    @strawberry.mutation(description="Admin: approve or reject; rejecting an approved product delists it.")
    async def review_product(self, info: Info, input: ReviewProductInput) -> Product:
        row = await manage.review_product(
            info.context.uow(),
            info.context.actor,
            parse_id(input.product_id, "productId"),
            catalog.ReviewDecision(input.decision),
            input.reason,
        )
        return await load_product(info, row)

    @strawberry.mutation(description="Soft delete: hidden everywhere, kept for order history.")
    async def delete_product(self, info: Info, product_id: strawberry.ID) -> bool:
        return await manage.delete_product(
            info.context.uow(), info.context.actor, parse_id(product_id, "productId")
        )

    @strawberry.mutation(description="Set a variant's stock to an absolute number (audited).")
    async def set_stock(self, info: Info, input: SetStockInput) -> Variant:
        row = await manage.set_stock(
            info.context.uow(),
            info.context.actor,
            parse_id(input.variant_id, "variantId"),
            input.stock,
            input.note,
        )
        return await Variant.load(info, row)
