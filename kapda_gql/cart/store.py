"""All SQL of the cart, as SQLAlchemy Core on the unit's ORM session (named binds, no SQL text)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kapda_gql.db.models import Cart, CartLine, Product, Variant
from kapda_gql.db.uow import OrmUnit


async def lines_with_variants(tx: OrmUnit, user_id: int) -> list[tuple[CartLine, Variant, Product]]:
    """The user's cart lines with their variants and products, oldest line first."""
    stmt = (
        select(CartLine, Variant, Product)
        .join(Cart, Cart.id == CartLine.cart_id)
        .join(Variant, Variant.id == CartLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Cart.user_id == user_id)
        .order_by(CartLine.added_at, CartLine.variant_id)
    )
    return [(line, v, p) for line, v, p in (await tx.session.execute(stmt)).all()]


async def quantities(tx: OrmUnit, user_id: int) -> dict[int, int]:
    """variant id → quantity of each line in the user's cart."""
    rows = await tx.session.execute(
        select(CartLine.variant_id, CartLine.quantity)
        .join(Cart, Cart.id == CartLine.cart_id)
        .where(Cart.user_id == user_id)
    )
    return {int(variant_id): int(quantity) for variant_id, quantity in rows.all()}


async def locked_cart(tx: OrmUnit, user_id: int) -> int:
    """The user's cart row, created if needed and locked so concurrent edits of one cart serialize."""
    await tx.session.execute(pg_insert(Cart).values(user_id=user_id).on_conflict_do_nothing())
    cart_id = await tx.session.scalar(select(Cart.id).where(Cart.user_id == user_id).with_for_update())
    assert cart_id is not None
    return int(cart_id)


async def line_quantity(tx: OrmUnit, cart_id: int, variant_id: int) -> int | None:
    """The quantity of the cart's line for this variant; None when there is no such line."""
    quantity = await tx.session.scalar(
        select(CartLine.quantity).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
    )
    return int(quantity) if quantity is not None else None


async def variant_with_product(tx: OrmUnit, variant_id: int) -> tuple[Variant, Product] | None:
    row = (
        await tx.session.execute(
            select(Variant, Product)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id == variant_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def add_line(tx: OrmUnit, *, cart_id: int, variant_id: int, quantity: int, unit_price: int) -> None:
    tx.session.add(CartLine(cart_id=cart_id, variant_id=variant_id, quantity=quantity, unit_price=unit_price))


async def set_line(
    tx: OrmUnit, *, cart_id: int, variant_id: int, quantity: int, unit_price: int | None = None
) -> None:
    """A line's new quantity, and its remembered price (remembered now) when it is priced afresh."""
    values: dict[str, Any] = {"quantity": quantity}
    if unit_price is not None:
        values["unit_price"] = unit_price
        values["priced_at"] = func.now()
    await tx.session.execute(
        update(CartLine)
        .where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
        .values(**values)
    )


async def remove_line(tx: OrmUnit, *, cart_id: int, variant_id: int) -> None:
    await tx.session.execute(
        delete(CartLine).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
    )


async def empty(tx: OrmUnit, user_id: int) -> None:
    """Every line of the user's cart (on logout)."""
    cart_ids = select(Cart.id).where(Cart.user_id == user_id).scalar_subquery()
    await tx.session.execute(delete(CartLine).where(CartLine.cart_id.in_(cart_ids)))


async def flush(tx: OrmUnit) -> None:
    await tx.session.flush()
