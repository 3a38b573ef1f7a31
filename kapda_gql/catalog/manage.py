"""Catalog management: create, update, submit, review, delete, set stock. Each is one lean
transaction (retried whole on a serialization failure) holding the change and its audit entry."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from kapda_gql.catalog import store
from kapda_gql.catalog.model import (
    ProductChanges,
    ProductRow,
    ProductSpec,
    ReviewDecision,
    VariantRow,
    VariantSpec,
)
from kapda_gql.catalog.validation import (
    CONTROL_MESSAGE,
    MAX_STOCK,
    slugify,
    validate_fields,
    validate_variants,
)
from kapda_gql.core import audit
from kapda_gql.db.uow import LeanUnit, UnitOfWork
from kapda_gql.domain.enums import ProductStatus
from kapda_gql.domain.errors import BadUserInput, InvalidTransition, NotFound
from kapda_gql.domain.policy import Actor, check_manage_product, require_admin, require_catalog_manager
from kapda_gql.domain.text import TEXT_CONTROL_RE

SUBMITTABLE = (ProductStatus.DRAFT, ProductStatus.REJECTED)
# The product lifecycle: where each status may go next.
PRODUCT_NEXT: dict[ProductStatus, tuple[ProductStatus, ...]] = {
    ProductStatus.DRAFT: (ProductStatus.PENDING_REVIEW,),
    ProductStatus.REJECTED: (ProductStatus.PENDING_REVIEW,),
    ProductStatus.PENDING_REVIEW: (ProductStatus.APPROVED, ProductStatus.REJECTED),
    ProductStatus.APPROVED: (ProductStatus.REJECTED,),
}
SLUG_ATTEMPTS = 4


async def _insert_variants(tx: LeanUnit, product_id: int, variants: list[VariantSpec], prefix: str) -> None:
    for spec in variants:
        try:
            await store.insert_variant(tx, product_id, spec)
        except store.SkuTaken:
            raise BadUserInput(f"{prefix}.sku", "a variant with this SKU already exists") from None


async def _insert_with_free_slug(tx: LeanUnit, **values: Any) -> ProductRow:
    """The title's slug, or a suffixed one when it is taken, even by a create committing right now."""
    base = slugify(values["title"])
    taken = await store.slug_taken(tx, base)
    for attempt in range(SLUG_ATTEMPTS):
        slug = base if attempt == 0 and not taken else f"{base}-{secrets.token_hex(3)}"
        product = await store.insert_product(tx, slug=slug, **values)
        if product is not None:
            return product
    raise BadUserInput("title", "no free slug for this title; try again")


async def create_product(
    uow: UnitOfWork, actor: Actor, spec: ProductSpec, *, designer_id: int | None = None
) -> ProductRow:
    """Designers create for themselves; admins must name the designer."""
    require_catalog_manager(actor)
    owner = actor.designer_id if actor.is_designer and not actor.is_admin else designer_id
    errors = validate_fields(spec.title, spec.description, spec.category, spec.price, spec.images)
    if not spec.variants:
        errors.append(("variants", "at least one variant is required"))
    errors += validate_variants(spec.variants)
    if owner is None:
        errors.append(("designerId", "admins must say which designer the product belongs to"))
    elif designer_id is not None and designer_id != owner:
        # Ignoring it silently would file the product under someone the caller did not name.
        errors.append(("designerId", "designers create products only for themselves"))
    if errors:
        raise BadUserInput(errors)
    assert owner is not None

    async def work(tx: LeanUnit) -> ProductRow:
        if not await store.designer_exists(tx, owner):
            raise BadUserInput("designerId", "no such designer")
        product = await _insert_with_free_slug(
            tx,
            designer_id=owner,
            title=spec.title.strip(),
            description=spec.description,
            category=spec.category.strip(),
            price=spec.price,
            images=list(spec.images),
            status=ProductStatus.DRAFT.value,
        )
        await _insert_variants(tx, product.id, list(spec.variants), "variants")
        await audit.record(
            tx,
            actor,
            "product.created",
            "Product",
            product.id,
            {"title": product.title, "price": spec.price, "variants": [v.sku for v in spec.variants]},
        )
        await tx.commit()
        return product

    return await uow.run_lean(work)


async def _locked_product(tx: LeanUnit, actor: Actor, product_id: int) -> ProductRow:
    product = await store.lock_product(tx, product_id)
    if product is None:
        raise NotFound("Product not found")
    check_manage_product(actor, designer_id=product.designer_id)
    return product


def _snapshot(product: ProductRow) -> dict[str, Any]:
    return {
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "price": product.price,
        "images": list(product.images or []),
        "status": product.status,
    }


async def update_product(
    uow: UnitOfWork, actor: Actor, product_id: int, changes: ProductChanges
) -> ProductRow:
    require_catalog_manager(actor)
    errors = validate_fields(
        changes.title, changes.description, changes.category, changes.price, changes.images
    )
    errors += validate_variants(changes.add_variants, "addVariants")
    if errors:
        raise BadUserInput(errors)
    values: dict[str, Any] = {
        k: v
        for k, v in {
            "title": changes.title.strip() if changes.title is not None else None,
            "description": changes.description,
            "category": changes.category.strip() if changes.category is not None else None,
            "price": changes.price,
            "images": list(changes.images) if changes.images is not None else None,
        }.items()
        if v is not None
    }

    async def work(tx: LeanUnit) -> ProductRow:
        before = await _locked_product(tx, actor, product_id)
        product = await store.write_product(tx, dataclasses.replace(before, **values))
        await _insert_variants(tx, product.id, list(changes.add_variants), "addVariants")
        delta: dict[str, Any] = audit.diff(_snapshot(before), _snapshot(product))
        if changes.add_variants:
            delta["addedVariants"] = [v.sku for v in changes.add_variants]
        await audit.record(tx, actor, "product.updated", "Product", product.id, delta)
        await tx.commit()
        return product

    return await uow.run_lean(work)


async def _set_status(
    tx: LeanUnit, actor: Actor, product: ProductRow, to: ProductStatus, action: str, reason: str | None
) -> ProductRow:
    changed = await store.write_product(
        tx,
        dataclasses.replace(
            product, status=to.value, rejection_reason=reason if to is ProductStatus.REJECTED else None
        ),
    )
    changes: dict[str, Any] = {"status": {"from": product.status, "to": to.value}}
    if reason:
        changes["reason"] = reason
    await audit.record(tx, actor, action, "Product", product.id, changes)
    return changed


async def submit_product(uow: UnitOfWork, actor: Actor, product_id: int) -> ProductRow:
    require_catalog_manager(actor)

    async def work(tx: LeanUnit) -> ProductRow:
        product = await _locked_product(tx, actor, product_id)
        current = ProductStatus(product.status)
        if current not in SUBMITTABLE:
            raise InvalidTransition(
                f"A {current.value} product cannot be submitted for review",
                **{"from": current.value, "to": ProductStatus.PENDING_REVIEW.value},
                allowed=[s.value for s in PRODUCT_NEXT[current]],
            )
        changed = await _set_status(
            tx, actor, product, ProductStatus.PENDING_REVIEW, "product.submitted", None
        )
        await tx.commit()
        return changed

    return await uow.run_lean(work)


async def review_product(
    uow: UnitOfWork, actor: Actor, product_id: int, decision: ReviewDecision, reason: str | None
) -> ProductRow:
    require_admin(actor)
    reason = (reason or "").strip() or None
    if decision is ReviewDecision.REJECT and not reason:
        raise BadUserInput("reason", "is required when rejecting")
    if reason and len(reason) > 1000:
        raise BadUserInput("reason", "must be at most 1000 characters")
    if reason and TEXT_CONTROL_RE.search(reason):
        raise BadUserInput("reason", CONTROL_MESSAGE)
    target = ProductStatus.APPROVED if decision is ReviewDecision.APPROVE else ProductStatus.REJECTED

    async def work(tx: LeanUnit) -> ProductRow:
        product = await _locked_product(tx, actor, product_id)
        current = ProductStatus(product.status)
        # An admin reviews what was submitted; a draft or a rejected product waits for its designer.
        allowed = () if current in SUBMITTABLE else PRODUCT_NEXT[current]
        if target not in allowed:
            raise InvalidTransition(
                f"A {current.value} product cannot be {'approved' if target is ProductStatus.APPROVED else 'rejected'}",
                **{"from": current.value, "to": target.value},
                allowed=[s.value for s in allowed],
            )
        action = "product.approved" if target is ProductStatus.APPROVED else "product.rejected"
        changed = await _set_status(tx, actor, product, target, action, reason)
        await tx.commit()
        return changed

    return await uow.run_lean(work)


async def delete_product(uow: UnitOfWork, actor: Actor, product_id: int) -> bool:
    require_catalog_manager(actor)

    async def work(tx: LeanUnit) -> bool:
        product = await _locked_product(tx, actor, product_id)
        await store.delete_product(tx, product.id)
        await audit.record(tx, actor, "product.deleted", "Product", product.id, {"title": product.title})
        await tx.commit()
        return True

    return await uow.run_lean(work)


async def set_stock(uow: UnitOfWork, actor: Actor, variant_id: int, stock: int) -> VariantRow:
    require_catalog_manager(actor)
    if not 0 <= stock <= MAX_STOCK:
        raise BadUserInput("stock", f"must be between 0 and {MAX_STOCK}")

    async def work(tx: LeanUnit) -> VariantRow:
        found = await store.lock_variant(tx, variant_id)
        if found is None:
            raise NotFound("Variant not found")
        before, designer_id = found
        check_manage_product(actor, designer_id=designer_id)
        variant = await store.set_stock(tx, variant_id, stock)
        await audit.record(
            tx,
            actor,
            "stock.set",
            "Variant",
            variant_id,
            {"stock": {"from": before.stock, "to": stock}, "sku": variant.sku},
        )
        await tx.commit()
        return variant

    return await uow.run_lean(work)
