"""The cart: one per user; each line remembers the unit price when its units were put in.

A new or raised line is priced afresh (``pricing.reprices_line``); a remembered price lapses after
the configured time (``pricing.remembered_price``); what a line costs is ``pricing.charged_price``;
whether it can be bought is ``stock.is_sellable``. The checkout quote applies the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from kapda_gql.cart import store
from kapda_gql.db.models import CartLine, Product, Variant
from kapda_gql.db.uow import OrmUnit, UnitOfWork
from kapda_gql.domain import pricing, stock
from kapda_gql.domain.errors import InsufficientStock, ProductUnavailable
from kapda_gql.domain.money import check_cart_total
from kapda_gql.domain.policy import Actor, require_user
from kapda_gql.domain.validation import MAX_LINE_QUANTITY, check_quantity

__all__ = ["MAX_LINE_QUANTITY", "CartItemView", "CartView", "current_price", "is_available"]


@dataclass(frozen=True, slots=True)
class CartItemView:
    variant: Variant
    product: Product
    quantity: int
    added_price: int
    current_price: int
    available: bool

    @property
    def unit_price(self) -> int:
        """What the customer will be charged."""
        return pricing.charged_price(self.added_price, self.current_price)

    @property
    def line_total(self) -> int:
        return pricing.line_total(self.unit_price, self.quantity)


@dataclass(frozen=True, slots=True)
class CartView:
    items: list[CartItemView]

    @property
    def item_count(self) -> int:
        return sum(i.quantity for i in self.items if i.available)

    @property
    def subtotal(self) -> int:
        return sum(i.line_total for i in self.items if i.available)


def is_available(product: Product, variant: Variant) -> bool:
    return stock.is_sellable(
        product_status=product.status,
        product_deleted_at=product.deleted_at,
        variant_deleted_at=variant.deleted_at,
    )


def current_price(product: Product, variant: Variant) -> int:
    return pricing.effective_price(variant.price, product.price)


def _item(line: CartLine, v: Variant, p: Product, *, now: datetime, price_ttl_seconds: int) -> CartItemView:
    current = current_price(p, v)
    return CartItemView(
        variant=v,
        product=p,
        quantity=line.quantity,
        added_price=pricing.remembered_price(
            line.unit_price, current, remembered_at=line.priced_at, now=now, ttl_seconds=price_ttl_seconds
        ),
        current_price=current,
        available=is_available(p, v),
    )


async def load_cart(tx: OrmUnit, user_id: int, *, price_ttl_seconds: int) -> CartView:
    now = datetime.now(UTC)
    return CartView(
        [
            _item(line, v, p, now=now, price_ttl_seconds=price_ttl_seconds)
            for line, v, p in await store.lines_with_variants(tx, user_id)
        ]
    )


async def get_cart(uow: UnitOfWork, actor: Actor, *, price_ttl_seconds: int) -> CartView:
    user_id = require_user(actor)
    async with uow.orm(read=True) as tx:
        return await load_cart(tx, user_id, price_ttl_seconds=price_ttl_seconds)


async def _sellable(tx: OrmUnit, variant_id: int) -> tuple[Variant, Product]:
    found = await store.variant_with_product(tx, variant_id)
    if found is None or not is_available(found[1], found[0]):
        raise ProductUnavailable(variantId=str(variant_id))
    return found


async def _set_line(
    uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int, *, add: bool, price_ttl_seconds: int
) -> CartView:
    user_id = require_user(actor)

    async def work(tx: OrmUnit) -> CartView:
        cart_id = await store.locked_cart(tx, user_id)
        existing = await store.line_quantity(tx, cart_id, variant_id)
        target = (existing or 0) + quantity if add else quantity
        if target == 0:
            await store.remove_line(tx, cart_id=cart_id, variant_id=variant_id)
        else:
            check_quantity(target, allow_zero=False)
            variant, product = await _sellable(tx, variant_id)
            if target > variant.sellable:
                raise InsufficientStock(
                    f"Only {variant.sellable} left of {variant.sku}",
                    variantId=str(variant_id),
                    requested=target,
                    available=variant.sellable,
                )
            if existing is None:
                store.add_line(
                    tx,
                    cart_id=cart_id,
                    variant_id=variant_id,
                    quantity=target,
                    unit_price=current_price(product, variant),
                )
            else:
                fresh = pricing.reprices_line(existing, target)
                await store.set_line(
                    tx,
                    cart_id=cart_id,
                    variant_id=variant_id,
                    quantity=target,
                    unit_price=current_price(product, variant) if fresh else None,
                )
        await store.flush(tx)
        view = await load_cart(tx, user_id, price_ttl_seconds=price_ttl_seconds)
        if target > (existing or 0):
            check_cart_total(view.subtotal, "quantity")  # lowering a line is always allowed
        await tx.commit()
        return view

    return await uow.run(work)


async def add_to_cart(
    uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int, *, price_ttl_seconds: int
) -> CartView:
    check_quantity(quantity, allow_zero=False)
    return await _set_line(uow, actor, variant_id, quantity, add=True, price_ttl_seconds=price_ttl_seconds)


async def update_cart_item(
    uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int, *, price_ttl_seconds: int
) -> CartView:
    check_quantity(quantity, allow_zero=True)
    return await _set_line(uow, actor, variant_id, quantity, add=False, price_ttl_seconds=price_ttl_seconds)


async def remove_from_cart(
    uow: UnitOfWork, actor: Actor, variant_id: int, *, price_ttl_seconds: int
) -> CartView:
    return await _set_line(uow, actor, variant_id, 0, add=False, price_ttl_seconds=price_ttl_seconds)
