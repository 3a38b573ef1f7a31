"""Catalog management: create, update, submit, review, delete, set stock. Each is one lean
transaction (retried whole on a serialization failure) holding the change and its audit entry."""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from kapda_gql.catalog import store
from kapda_gql.catalog.model import (
    PendingChanges,
    ProductChanges,
    ProductRow,
    ProductSpec,
    ReviewDecision,
    VariantRow,
    VariantSpec,
)
from kapda_gql.core import audit
from kapda_gql.db.uow import LeanUnit, UnitOfWork
from kapda_gql.domain import lifecycles, validation
from kapda_gql.domain.enums import ProductStatus
from kapda_gql.domain.errors import BadUserInput, NotFound
from kapda_gql.domain.policy import (
    Actor,
    check_manage_product,
    edits_wait_for_review,
    product_owner,
    require_admin,
    require_catalog_manager,
)
from kapda_gql.domain.pricing import is_price_alert

SLUG_ATTEMPTS = 4


def slugify(title: str) -> str:
    """A product's slug from its title: lower-case letters and digits, runs of anything else one '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:200] or "product"


async def _insert_variants(
    tx: LeanUnit, actor: Actor, product_id: int, variants: list[VariantSpec], prefix: str
) -> None:
    for spec in variants:
        try:
            await store.insert_variant(tx, product_id, spec, actor_id=actor.user_id)
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
    owner, owner_problems = product_owner(actor, designer_id)
    errors = validation.product_field_problems(
        spec.title, spec.description, spec.category, spec.price, spec.images
    )
    if not spec.variants:
        errors.append(("variants", "at least one variant is required"))
    errors += validation.variant_problems(spec.variants)
    errors += owner_problems
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
        await _insert_variants(tx, actor, product.id, list(spec.variants), "variants")
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
    check_manage_product(actor, designer_id=product.designer_id, status=product.status)
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


_CONTENT = ("title", "description", "category", "images")


def _pending_after(
    before: PendingChanges | None, content: dict[str, Any], add: list[VariantSpec], now: datetime
) -> PendingChanges:
    """The edits awaiting review once these are added: a field given again replaces its pending
    value, new variants join those already waiting."""
    base = before or PendingChanges(submitted_at=now)
    return dataclasses.replace(base, submitted_at=now, add_variants=(*base.add_variants, *add), **content)


async def _check_new_skus(
    tx: LeanUnit, add: list[VariantSpec], waiting: PendingChanges | None, prefix: str
) -> None:
    """New variants' SKUs must be free now (and not already waiting for review), so an approval
    does not fail on them later."""
    taken = set(await store.skus_taken(tx, [v.sku for v in add])) if add else set()
    queued = {v.sku.lower() for v in waiting.add_variants} if waiting is not None else set()
    errors = [
        (f"{prefix}[{i}].sku", "a variant with this SKU already exists")
        if v.sku in taken
        else (f"{prefix}[{i}].sku", "a variant with this SKU is already awaiting review")
        for i, v in enumerate(add)
        if v.sku in taken or v.sku.lower() in queued
    ]
    if errors:
        raise BadUserInput(errors)


def _flag_price_alert(delta: dict[str, Any], before: ProductRow, after: ProductRow) -> None:
    """A price move of more than 10 % (either way) is flagged in its audit entry."""
    if after.price != before.price and is_price_alert(before.price, after.price):
        delta["priceAlert"] = True


async def update_product(
    uow: UnitOfWork, actor: Actor, product_id: int, changes: ProductChanges
) -> ProductRow:
    """Edits a product. On an approved product the price changes at once and the content edits
    wait for review (``policy.edits_wait_for_review``); the live content stays as approved."""
    require_catalog_manager(actor)
    errors = validation.product_field_problems(
        changes.title, changes.description, changes.category, changes.price, changes.images
    )
    errors += validation.variant_problems(changes.add_variants, "addVariants")
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
    add = list(changes.add_variants)

    async def work(tx: LeanUnit) -> ProductRow:
        before = await _locked_product(tx, actor, product_id)
        if not edits_wait_for_review(before.status):
            product = await store.write_product(tx, dataclasses.replace(before, **values))
            await _insert_variants(tx, actor, product.id, add, "addVariants")
            delta: dict[str, Any] = audit.diff(_snapshot(before), _snapshot(product))
            if add:
                delta["addedVariants"] = [v.sku for v in add]
            _flag_price_alert(delta, before, product)
            await audit.record(tx, actor, "product.updated", "Product", product.id, delta)
            await tx.commit()
            return product

        content = {k: v for k, v in values.items() if k in _CONTENT}
        product = before
        if "price" in values:
            product = await store.write_product(tx, dataclasses.replace(before, price=values["price"]))
        delta = audit.diff(_snapshot(before), _snapshot(product))
        _flag_price_alert(delta, before, product)
        if content or add:
            (waiting,) = await store.pending_changes_by_ids(tx, [product.id])
            await _check_new_skus(tx, add, waiting, "addVariants")
            pending = _pending_after(waiting, content, add, datetime.now(UTC))
            await store.set_pending_changes(tx, product.id, pending)
            delta["pendingChanges"] = {**content, **({"addVariants": [v.sku for v in add]} if add else {})}
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
        lifecycles.check_submit(ProductStatus(product.status))
        changed = await _set_status(
            tx, actor, product, ProductStatus.PENDING_REVIEW, "product.submitted", None
        )
        await tx.commit()
        return changed

    return await uow.run_lean(work)


async def _review_changes(
    tx: LeanUnit,
    actor: Actor,
    product: ProductRow,
    pending: PendingChanges,
    decision: ReviewDecision,
    reason: str | None,
) -> ProductRow:
    """An approved product's pending edits: applied (APPROVE) or discarded with the reason
    (REJECT, which the designer reads as the product's rejectionReason); it stays APPROVED."""
    await store.set_pending_changes(tx, product.id, None)
    if decision is ReviewDecision.REJECT:
        changed = await store.write_product(tx, dataclasses.replace(product, rejection_reason=reason))
        await audit.record(tx, actor, "product.changes_rejected", "Product", product.id, {"reason": reason})
        return changed
    content = {name: getattr(pending, name) for name in _CONTENT if getattr(pending, name) is not None}
    if "images" in content:
        content["images"] = list(content["images"])
    changed = await store.write_product(tx, dataclasses.replace(product, rejection_reason=None, **content))
    await _insert_variants(tx, actor, product.id, list(pending.add_variants), "pendingChanges.addVariants")
    delta: dict[str, Any] = audit.diff(_snapshot(product), _snapshot(changed))
    if pending.add_variants:
        delta["addedVariants"] = [v.sku for v in pending.add_variants]
    await audit.record(tx, actor, "product.changes_approved", "Product", product.id, delta)
    return changed


async def review_product(
    uow: UnitOfWork, actor: Actor, product_id: int, decision: ReviewDecision, reason: str | None
) -> ProductRow:
    """A product awaiting review approved or rejected; an approved one with pending edits has those
    applied or discarded; an approved one with none is delisted by REJECT."""
    require_admin(actor)
    reason = validation.optional_note(reason, "reason")
    if decision is ReviewDecision.REJECT and not reason:
        raise BadUserInput("reason", "is required when rejecting")
    target = ProductStatus.APPROVED if decision is ReviewDecision.APPROVE else ProductStatus.REJECTED

    async def work(tx: LeanUnit) -> ProductRow:
        product = await _locked_product(tx, actor, product_id)
        if edits_wait_for_review(product.status):
            (pending,) = await store.pending_changes_by_ids(tx, [product.id])
            if pending is not None:
                changed = await _review_changes(tx, actor, product, pending, decision, reason)
                await tx.commit()
                return changed
        lifecycles.check_review(ProductStatus(product.status), target)
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


async def set_stock(
    uow: UnitOfWork, actor: Actor, variant_id: int, stock: int, note: str | None = None
) -> VariantRow:
    """The sellable stock set to ``stock``; the difference is a SET movement carrying ``note``."""
    require_catalog_manager(actor)
    note = (note.strip() or None) if note is not None else None
    if problems := validation.stock_problems(stock) + validation.note_problems(note):
        raise BadUserInput(problems)

    async def work(tx: LeanUnit) -> VariantRow:
        found = await store.lock_variant(tx, variant_id)
        if found is None:
            raise NotFound("Variant not found")
        before, designer_id, status = found
        try:
            check_manage_product(actor, designer_id=designer_id, status=status)
        except NotFound:
            # A variant the caller cannot see answers exactly as a missing one: nothing is revealed.
            # (Another designer's approved, public variant stays FORBIDDEN, as API.md says.)
            raise NotFound("Variant not found") from None
        variant = await store.set_stock(
            tx, variant_id, stock, delta=stock - before.stock, actor_id=actor.user_id, note=note
        )
        changes: dict[str, Any] = {"stock": {"from": before.stock, "to": stock}, "sku": variant.sku}
        if note is not None:
            changes["note"] = note
        await audit.record(tx, actor, "stock.set", "Variant", variant_id, changes)
        await tx.commit()
        return variant

    return await uow.run_lean(work)
