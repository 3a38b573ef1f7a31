"""Catalog types. A catalog page arrives whole from its one statement; a product reached any other
way loads its designer and variants through the request's DataLoaders."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime

import strawberry

from kapda_gql.catalog import model as catalog
from kapda_gql.catalog.browse import count_products
from kapda_gql.core.pagination import Page
from kapda_gql.domain import enums, policy, pricing
from kapda_gql.graphql.common import Money, PageInfo, ProductStatus
from kapda_gql.graphql.context import Info

ProductSort = strawberry.enum(catalog.ProductSort, name="ProductSort")
ReviewDecision = strawberry.enum(catalog.ReviewDecision, name="ReviewDecision")


@strawberry.type(description="Products share a category by its slug; its name is the spelling most use.")
class Category:
    name: str
    slug: str
    product_count: int = strawberry.field(description="How many of its products the caller sees.")

    @classmethod
    def of(cls, row: catalog.Category) -> Category:
        return cls(name=row.name, slug=row.slug, product_count=row.product_count)


@strawberry.type
class Designer:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, row: catalog.DesignerRow) -> Designer:
        return _designer(row.id, row.name)


@functools.lru_cache(maxsize=8192)
def _designer(designer_id: int, name: str) -> Designer:
    # Shared instances, as Money's: a designer is shown with each of its products, and nothing
    # mutates them (a renamed designer is another key).
    return Designer(id=strawberry.ID(str(designer_id)), name=name)


@strawberry.type
class Variant:
    id: strawberry.ID
    sku: str
    size: str | None
    color: str | None
    stock: int = strawberry.field(
        description="Units a customer can buy now: on hand minus units held by open checkouts."
    )
    in_stock: bool
    price: Money = strawberry.field(description="The variant's own price, or its product's when it has none.")
    row: strawberry.Private[catalog.VariantRow]

    @classmethod
    def of(cls, row: catalog.VariantRow, product_price: int) -> Variant:
        return cls(
            id=strawberry.ID(str(row.id)),
            sku=row.sku,
            size=row.size,
            color=row.color,
            stock=row.stock,
            in_stock=row.stock > 0,
            price=Money.of(pricing.effective_price(row.price, product_price)),
            row=row,
        )

    @classmethod
    async def load(cls, info: Info, row: catalog.VariantRow) -> Variant:
        """For a variant reached on its own (an order line, setStock): its product's price via the loader."""
        product = await info.context.loaders.product.load(row.product_id)
        return cls.of(row, product.price if product is not None else 0)

    @strawberry.field(
        description="Units held by open checkouts: for the variant's designer and admins, null for others."
    )
    async def held(self, info: Info) -> int | None:
        actor = info.context.actor
        if not (actor.is_admin or actor.is_designer):
            return None  # nobody else may see it: no need to load the product to say so
        product = await info.context.loaders.product.load(self.row.product_id)
        if product is None or not policy.can_see_held_stock(actor, designer_id=product.designer_id):
            return None
        return self.row.held

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        row = await info.context.loaders.product.load(self.row.product_id)
        if row is None or not policy.can_see_product(
            info.context.actor,
            status=row.status,
            designer_id=row.designer_id,
            deleted=row.deleted_at is not None,
        ):
            return None
        return await load_product(info, row)


ProductRow = catalog.ProductRow


@strawberry.type(description="A new variant awaiting review.")
class VariantDraft:
    sku: str
    size: str | None
    color: str | None
    price: Money | None = strawberry.field(description="Its own price; null: the product's.")
    stock: int


@strawberry.type(name="ProductChanges", description="An approved product's edits awaiting review.")
class PendingProductChanges:
    title: str | None
    description: str | None
    category: str | None
    images: list[str] | None
    add_variants: list[VariantDraft]
    submitted_at: datetime

    @classmethod
    def of(cls, pending: catalog.PendingChanges) -> PendingProductChanges:
        return cls(
            title=pending.title,
            description=pending.description,
            category=pending.category,
            images=list(pending.images) if pending.images is not None else None,
            add_variants=[
                VariantDraft(
                    sku=v.sku,
                    size=v.size,
                    color=v.color,
                    price=Money.of(v.price) if v.price is not None else None,
                    stock=v.stock,
                )
                for v in pending.add_variants
            ],
            submitted_at=pending.submitted_at,
        )


# By value, without the enum's call (a Python-level lookup per product of a page).
_STATUS = {status.value: status for status in ProductStatus}


@strawberry.type
class Product:
    id: strawberry.ID
    slug: str
    title: str
    description: str
    category: str
    price: Money
    images: list[str]
    status: ProductStatus
    created_at: datetime
    designer: Designer
    variants: list[Variant]
    in_stock: bool
    row: strawberry.Private[ProductRow]

    @classmethod
    def of(
        cls, row: ProductRow, designer: catalog.DesignerRow, variants: Sequence[catalog.VariantRow]
    ) -> Product:
        return cls(
            id=strawberry.ID(str(row.id)),
            slug=row.slug,
            title=row.title,
            description=row.description,
            category=row.category,
            price=Money.of(row.price, row.currency),
            images=list(row.images or []),
            status=_STATUS[row.status],
            created_at=row.created_at,
            designer=Designer.of(designer),
            variants=[Variant.of(v, product_price=row.price) for v in variants],
            in_stock=any(v.stock > 0 for v in variants),
            row=row,
        )

    @strawberry.field(
        description="Edits awaiting review (title, description, category, images, new variants): "
        "its designer and admins only, null for others and when there are none."
    )
    async def pending_changes(self, info: Info) -> PendingProductChanges | None:
        if not policy.can_see_pending_changes(info.context.actor, designer_id=self.row.designer_id):
            return None
        pending = await info.context.loaders.pending_changes.load(self.row.id)
        return PendingProductChanges.of(pending) if pending is not None else None

    @strawberry.field(description="Why an admin rejected the product (visible to its designer and admins).")
    def rejection_reason(self, info: Info) -> str | None:
        if policy.can_see_rejection_reason(info.context.actor, designer_id=self.row.designer_id):
            return self.row.rejection_reason
        return None


async def load_products(info: Info, rows: Sequence[ProductRow]) -> list[Product]:
    """Products reached one by one (``product``, mutations, order lines) with their designers and
    variants: two batched loads for all of them instead of three awaited resolvers per product.

    A catalog page does not come here: its one statement brings designers and variants along.
    """
    loaders = info.context.loaders
    designers, variants = await asyncio.gather(
        loaders.designer.load_many([r.designer_id for r in rows]),
        loaders.variants_by_product.load_many([r.id for r in rows]),
    )
    out = []
    for row, designer, lines in zip(rows, designers, variants, strict=True):
        assert designer is not None  # a foreign key guarantees it
        out.append(Product.of(row, designer, lines))
    return out


async def load_product(info: Info, row: ProductRow) -> Product:
    return (await load_products(info, [row]))[0]


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo
    filter: strawberry.Private[catalog.ProductFilter]

    @strawberry.field(description="How many products match the filter (counted only when asked for).")
    async def total_count(self, info: Info) -> int:
        return await count_products(info.context.uow(), info.context.actor, self.filter)

    @classmethod
    def of(cls, page: Page[catalog.CatalogEntry], flt: catalog.ProductFilter) -> ProductConnection:
        """Built from the page alone: its entries carry their designers and variants already."""
        edges = [
            ProductEdge(cursor=cursor, node=Product.of(entry.product, entry.designer, entry.variants))
            for entry, cursor in zip(page.items, page.cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo.of(page),
            filter=flt,
        )


@strawberry.input
class ProductFilter:
    search: str | None = None
    category: str | None = None
    designer_id: strawberry.ID | None = None
    min_price: int | None = None
    max_price: int | None = None
    size: str | None = None
    color: str | None = None
    in_stock: bool | None = None
    status: enums.ProductStatus | None = strawberry.field(
        default=None, description="Designers and admins: only products in this status."
    )


@strawberry.input
class VariantInput:
    sku: str
    size: str | None = None
    color: str | None = None
    price: int | None = strawberry.field(default=None, description="Overrides the product's price, in paise.")
    stock: int


@strawberry.input
class CreateProductInput:
    title: str
    description: str
    category: str
    price: int
    images: list[str] | None = strawberry.field(default_factory=list)
    variants: list[VariantInput]
    designer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins only: the designer the product belongs to."
    )


@strawberry.input
class UpdateProductInput:
    product_id: strawberry.ID
    title: str | None = None
    description: str | None = None
    category: str | None = None
    price: int | None = None
    images: list[str] | None = None
    add_variants: list[VariantInput] | None = None


@strawberry.input
class ReviewProductInput:
    product_id: strawberry.ID
    decision: catalog.ReviewDecision
    reason: str | None = None


@strawberry.input
class SetStockInput:
    variant_id: strawberry.ID
    stock: int
    note: str | None = strawberry.field(
        default=None, description="Why the stock changed; kept on the SET stock movement."
    )
