"""The cart: one per user; each line remembers the unit price when it was first added."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kapda_gql.catalog import services as catalog
from kapda_gql.db.models import Cart, CartLine, Product, Variant
from kapda_gql.db.uow import UnitOfWork
from kapda_gql.domain.enums import ProductStatus
from kapda_gql.domain.errors import BadUserInput, InsufficientStock, ProductUnavailable
from kapda_gql.domain.money import check_cart_total
from kapda_gql.domain.policy import Actor, require_user

MAX_LINE_QUANTITY = 100


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
        """What the customer will be charged: the lower of the remembered and current price."""
        return min(self.added_price, self.current_price)

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


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
    return (
        product.status == ProductStatus.APPROVED.value
        and product.deleted_at is None
        and variant.deleted_at is None
    )


def current_price(product: Product, variant: Variant) -> int:
    return catalog.price_of(variant.price, product.price)


async def load_cart(uow: UnitOfWork, user_id: int) -> CartView:
    stmt = (
        select(CartLine, Variant, Product)
        .join(Cart, Cart.id == CartLine.cart_id)
        .join(Variant, Variant.id == CartLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Cart.user_id == user_id)
        .order_by(CartLine.added_at, CartLine.variant_id)
    )
    rows = (await uow.session.execute(stmt)).all()
    return CartView(
        [
            CartItemView(
                variant=v,
                product=p,
                quantity=line.quantity,
                added_price=line.unit_price,
                current_price=current_price(p, v),
                available=is_available(p, v),
            )
            for line, v, p in rows
        ]
    )


async def get_cart(uow: UnitOfWork, actor: Actor) -> CartView:
    user_id = require_user(actor)
    async with uow.read():
        return await load_cart(uow, user_id)


def _check_quantity(quantity: int, *, allow_zero: bool) -> None:
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise BadUserInput("quantity", "must be at least 1" if not allow_zero else "must not be negative")
    if quantity > MAX_LINE_QUANTITY:
        raise BadUserInput("quantity", f"must be at most {MAX_LINE_QUANTITY} per item")


async def _locked_cart(uow: UnitOfWork, user_id: int) -> int:
    """The user's cart row, created if needed and locked so concurrent edits of one cart serialize."""
    await uow.session.execute(pg_insert(Cart).values(user_id=user_id).on_conflict_do_nothing())
    cart_id = await uow.session.scalar(select(Cart.id).where(Cart.user_id == user_id).with_for_update())
    assert cart_id is not None
    return int(cart_id)


async def _sellable(uow: UnitOfWork, variant_id: int) -> tuple[Variant, Product]:
    row = (
        await uow.session.execute(
            select(Variant, Product)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id == variant_id)
        )
    ).one_or_none()
    if row is None or not is_available(row[1], row[0]):
        raise ProductUnavailable(variantId=str(variant_id))
    return row[0], row[1]


async def _set_line(uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int, *, add: bool) -> CartView:
    user_id = require_user(actor)

    async def work(uow: UnitOfWork) -> CartView:
        cart_id = await _locked_cart(uow, user_id)
        existing = await uow.session.scalar(
            select(CartLine.quantity).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
        )
        target = (existing or 0) + quantity if add else quantity
        if target == 0:
            await uow.session.execute(
                delete(CartLine).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
            )
        else:
            _check_quantity(target, allow_zero=False)
            variant, product = await _sellable(uow, variant_id)
            if target > variant.stock:
                raise InsufficientStock(
                    f"Only {variant.stock} left of {variant.sku}",
                    variantId=str(variant_id),
                    requested=target,
                    available=variant.stock,
                )
            if existing is None:
                uow.session.add(
                    CartLine(
                        cart_id=cart_id,
                        variant_id=variant_id,
                        quantity=target,
                        unit_price=current_price(product, variant),
                    )
                )
            else:
                await uow.session.execute(
                    update(CartLine)
                    .where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
                    .values(quantity=target)
                )
        await uow.session.flush()
        view = await load_cart(uow, user_id)
        if target > (existing or 0):
            check_cart_total(view.subtotal, "quantity")  # lowering a line is always allowed
        await uow.commit()
        return view

    return await uow.run(work)


async def add_to_cart(uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int) -> CartView:
    _check_quantity(quantity, allow_zero=False)
    return await _set_line(uow, actor, variant_id, quantity, add=True)


async def update_cart_item(uow: UnitOfWork, actor: Actor, variant_id: int, quantity: int) -> CartView:
    _check_quantity(quantity, allow_zero=True)
    return await _set_line(uow, actor, variant_id, quantity, add=False)


async def remove_from_cart(uow: UnitOfWork, actor: Actor, variant_id: int) -> CartView:
    return await _set_line(uow, actor, variant_id, 0, add=False)
