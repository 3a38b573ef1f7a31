"""Browsing the catalog: pages (visibility per role, filters, full-text search, keyset pages both
ways), counts, categories, single products and the DataLoaders' batches.

Every read runs on a lean unit in autocommit: one statement, one round trip. Who sees which
products is ``policy.catalog_scope`` (lists) and ``policy.can_see_product`` (one product).
"""

from __future__ import annotations

from collections.abc import Sequence

from kapda_gql.catalog import store
from kapda_gql.catalog.model import (
    CatalogEntry,
    Category,
    DesignerRow,
    PendingChanges,
    ProductFilter,
    ProductRow,
    ProductSort,
    VariantRow,
)
from kapda_gql.core.pagination import Page, Window
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.policy import Actor, can_see_product, catalog_scope
from kapda_gql.domain.text import LINE_CONTROL_RE
from kapda_gql.domain.validation import CONTROL_MESSAGE


def _validate_filter(flt: ProductFilter) -> None:
    errors = []
    if flt.min_price is not None and flt.min_price < 0:
        errors.append(("filter.minPrice", "must not be negative"))
    if flt.max_price is not None and flt.max_price < 0:
        errors.append(("filter.maxPrice", "must not be negative"))
    if flt.min_price is not None and flt.max_price is not None and flt.min_price > flt.max_price:
        errors.append(("filter.minPrice", "must not exceed maxPrice"))
    for name, value in (
        ("search", flt.search),
        ("category", flt.category),
        ("size", flt.size),
        ("color", flt.color),
    ):
        if value is not None and len(value) > 200:
            errors.append((f"filter.{name}", "must be at most 200 characters"))
        elif value is not None and LINE_CONTROL_RE.search(value):
            errors.append((f"filter.{name}", CONTROL_MESSAGE))
    if errors:
        raise BadUserInput(errors)


async def list_products(
    uow: UnitOfWork,
    actor: Actor,
    flt: ProductFilter,
    sort: ProductSort = ProductSort.NEWEST,
    win: Window | None = None,
) -> Page[CatalogEntry]:
    """One page of the catalog with designers and variants: one statement, whatever the page size."""
    _validate_filter(flt)
    async with uow.lean(read=True) as tx:
        return await store.page(tx, catalog_scope(actor), flt, sort, win or Window(20))


async def count_products(uow: UnitOfWork, actor: Actor, flt: ProductFilter) -> int:
    _validate_filter(flt)
    async with uow.lean(read=True) as tx:
        return await store.count(tx, catalog_scope(actor), flt)


async def list_categories(uow: UnitOfWork, actor: Actor) -> list[Category]:
    """The categories of the products the caller sees, with how many of them each holds."""
    async with uow.lean(read=True) as tx:
        return await store.categories(tx, catalog_scope(actor))


async def get_product(
    uow: UnitOfWork, actor: Actor, *, product_id: int | None, slug: str | None
) -> ProductRow | None:
    if (product_id is None) == (slug is None):
        raise BadUserInput(
            [("id", "give exactly one of id and slug"), ("slug", "give exactly one of id and slug")]
        )
    if slug is not None and LINE_CONTROL_RE.search(slug):
        raise BadUserInput("slug", CONTROL_MESSAGE)
    async with uow.lean(read=True) as tx:
        product = await store.product(tx, product_id=product_id, slug=slug)
    if product is None or not can_see_product(
        actor, status=product.status, designer_id=product.designer_id, deleted=False
    ):
        return None
    return product


# --- batch loads for DataLoaders (one statement per batch) --------------------------------------


async def designers_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[DesignerRow | None]:
    async with uow.lean(read=True) as tx:
        return await store.designers_by_ids(tx, ids)


async def variants_by_product_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[list[VariantRow]]:
    async with uow.lean(read=True) as tx:
        return await store.variants_by_product_ids(tx, ids)


async def variants_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[VariantRow | None]:
    async with uow.lean(read=True) as tx:
        return await store.variants_by_ids(tx, ids)


async def products_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[ProductRow | None]:
    """Deleted ones too: an order line still shows what was bought."""
    async with uow.lean(read=True) as tx:
        return await store.products_by_ids(tx, ids)


async def pending_changes_by_ids(uow: UnitOfWork, ids: Sequence[int]) -> list[PendingChanges | None]:
    """The products' edits awaiting review; who may see them is the caller's to ask the policy."""
    async with uow.lean(read=True) as tx:
        return await store.pending_changes_by_ids(tx, ids)
