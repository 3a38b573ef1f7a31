"""Reorder: what of a past order can be bought again, and putting those lines in the cart."""

from __future__ import annotations

from dataclasses import dataclass

from kapda_gql.cart import services as cart
from kapda_gql.cart import store as cart_store
from kapda_gql.db.models import Product, Variant
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.errors import InsufficientStock
from kapda_gql.domain.policy import Actor, check_reorder, require_user
from kapda_gql.domain.stock import UnavailableReason, unavailable_reason
from kapda_gql.domain.validation import MAX_LINE_QUANTITY
from kapda_gql.orders import store

__all__ = ["ReorderLine", "ReorderResult", "ReorderUnavailable", "UnavailableReason", "reorder"]


@dataclass(frozen=True, slots=True)
class ReorderLine:
    variant: Variant
    product: Product
    requested_quantity: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ReorderUnavailable:
    product_title: str
    sku: str
    requested_quantity: int
    reason: UnavailableReason


@dataclass(frozen=True, slots=True)
class ReorderResult:
    available: list[ReorderLine]
    unavailable: list[ReorderUnavailable]
    cart: cart.CartView


async def reorder(
    uow: UnitOfWork, actor: Actor, order_id: int, *, add_to_cart: bool, price_ttl_seconds: int
) -> ReorderResult:
    user_id = require_user(actor)
    async with uow.orm(read=True) as tx:
        order = await store.order(tx, order_id)
        check_reorder(actor, owner_id=order.user_id if order is not None else None)
        rows = await store.lines_with_variants(tx, order_id)
        in_cart = await cart_store.quantities(tx, user_id)
    available: list[ReorderLine] = []
    unavailable: list[ReorderUnavailable] = []
    for item, variant, product in rows:
        reason = unavailable_reason(
            exists=variant is not None and product is not None,
            product_status=product.status if product else None,
            product_deleted_at=product.deleted_at if product else None,
            variant_deleted_at=variant.deleted_at if variant else None,
            stock=variant.sellable if variant else None,
        )
        if reason is not None or variant is None or product is None:
            unavailable.append(
                ReorderUnavailable(
                    item.product_title, item.sku, item.quantity, reason or UnavailableReason.PRODUCT_REMOVED
                )
            )
            continue
        qty = min(item.quantity, variant.sellable, MAX_LINE_QUANTITY)
        available.append(ReorderLine(variant, product, item.quantity, qty))
    view: cart.CartView | None = None
    if add_to_cart:
        for line in available:
            room = min(line.variant.sellable, MAX_LINE_QUANTITY) - in_cart.get(line.variant.id, 0)
            if room <= 0:
                continue
            try:
                view = await cart.add_to_cart(
                    uow, actor, line.variant.id, min(line.quantity, room), price_ttl_seconds=price_ttl_seconds
                )
            except InsufficientStock:
                continue  # stock moved since we looked: the line stays out of the cart, nothing half-done
    if view is None:
        view = await cart.get_cart(uow, actor, price_ttl_seconds=price_ttl_seconds)
    return ReorderResult(available, unavailable, view)
