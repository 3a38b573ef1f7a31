"""The row locks, and the one order every transaction takes them in.

    checkout session → order → refund → payment → variants (ascending id)

A transaction that needs several of these rows locks them in this order, so two of them never wait
on each other in a circle (a deadlock PostgreSQL would end by failing one). Which paths take what:

- startCheckout (checkout/store.py ``START``, one statement outside a transaction): the
  customer's open sessions, then the variants (``variants_part``), then the new session's row,
  which nobody can be waiting on but a concurrent startCheckout of the same customer at the
  one-open-session index (it holds no row this one needs: it fails there and runs again);
- checkout completion: the session (the ``UPDATE ... WHERE status = 'OPEN'`` that closes it), then
  the payment (its INSERT, which the unique index on the Razorpay payment id serializes), then the
  variants, last and right before COMMIT, so the hot rows are held as briefly as can be;
- an order's transition: the order, then its payment, then (restocking) its variants;
- a change of an order's lines (orders.lines): the order, then its payment (the new refund row is
  nobody else's yet), then the variants it restocks;
- a refund's settlement (outbox or webhook): the refund, then its order, then its payment.

Variants are locked ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: inserting order lines takes
``KEY SHARE`` on the variants they reference (the foreign key), which ``FOR UPDATE`` would conflict
with, deadlocking two checkouts of the same variants. Only stock changes, never a key, so NO KEY
is exact. A single-row ``UPDATE ... WHERE stock >= q`` locks one variant and so can wait on nothing
out of order; it needs no lock of its own first.

The functions here are the only ``SELECT ... FOR UPDATE`` statements outside the stock-taking
statements themselves: any module that locks a row calls them (they work in either kind of unit),
or, to lock in the statement that takes the rows before them, embeds ``open_sessions_part`` and
``variants_part``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from kapda_gql.db.models import Order, Payment
from kapda_gql.db.sql import Record
from kapda_gql.db.uow import OrmUnit, Unit

_VARIANTS = "SELECT id, stock FROM variants WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
_ORDER = "SELECT id, payment_status FROM orders WHERE id = $1 FOR UPDATE"
_PAYMENT = (
    "SELECT id, amount, currency, status, refunded_amount, razorpay_payment_id "
    "FROM payments WHERE id = $1 FOR UPDATE"
)
_PAYMENT_OF_ORDER = (
    "SELECT id, amount, currency, status, refunded_amount, razorpay_payment_id "
    "FROM payments WHERE order_id = $1 FOR UPDATE"
)
_REFUND_COLUMNS = "id, payment_id, order_id, amount, status, razorpay_refund_id"
_REFUND = f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = $1 FOR UPDATE"  # noqa: S608 (constants)
_REFUND_BY_RAZORPAY_ID = f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE razorpay_refund_id = $1 FOR UPDATE"  # noqa: S608
# The refunds of one payment still waiting for Razorpay's id: in id order, one payment's rows only.
_UNNAMED_REFUNDS = (
    f"SELECT {_REFUND_COLUMNS} FROM refunds "  # noqa: S608 (constants)
    "WHERE payment_id = $1 AND status = $2 AND razorpay_refund_id IS NULL AND amount = $3 "
    "ORDER BY id FOR UPDATE"
)


def open_sessions_part(user_id: str, open_status: str) -> str:
    """The lock of a customer's open checkout sessions, first in the lock order, as a part of a
    larger statement (a CTE's body); ``user_id`` and ``open_status`` are the caller's markers."""
    return f"SELECT id FROM checkout_sessions WHERE user_id = {user_id} AND status = {open_status} FOR UPDATE"  # noqa: S608 (the callers' markers)


def variants_part(ids: str, after: str) -> str:
    """The variant lock as a part of a larger statement (a CTE's body), for a statement that takes
    the rows before the variants in the lock order itself: ``ids`` selects the ids to lock, and
    ``after`` is a condition that reads what must be locked first. A data-modifying CTE runs when
    its rows are first read, so reading them here takes those rows before these (same lock order,
    one round trip). This statement's snapshot predates any wait for the lock: the caller counts
    the holds in a later statement, or here through ``domain.stock.held_after_lock_sql``."""
    return f"SELECT id, stock FROM variants WHERE id IN ({ids}) AND ({after}) ORDER BY id FOR NO KEY UPDATE"  # noqa: S608 (the callers' constant fragments)


async def variants(tx: Unit, ids: Sequence[int]) -> dict[int, int]:
    """Lock these variants (ascending id, NO KEY); returns each one's stock."""
    return {int(row[0]): int(row[1]) for row in await tx.sql.fetch(_VARIANTS, list(ids))}


_VARIANTS_OF_ORDER = (
    "SELECT id, stock FROM variants WHERE id IN "
    "(SELECT variant_id FROM order_items WHERE order_id = $1 AND variant_id IS NOT NULL) "
    "ORDER BY id FOR NO KEY UPDATE"
)


async def variants_of_order(tx: Unit, order_id: int) -> dict[int, int]:
    """Lock the variants an order's lines came from (for a restock); each one's stock."""
    return {int(row[0]): int(row[1]) for row in await tx.sql.fetch(_VARIANTS_OF_ORDER, order_id)}


# The same locks for callers that work with ORM instances (the orders lifecycle).


async def order_model(tx: OrmUnit, order_id: int) -> Order | None:
    """Lock an order row and load it."""
    return await tx.session.scalar(select(Order).where(Order.id == order_id).with_for_update())


async def payment_model_of_order(tx: OrmUnit, order_id: int) -> Payment | None:
    """Lock the payment that paid for an order and load it."""
    return await tx.session.scalar(select(Payment).where(Payment.order_id == order_id).with_for_update())


async def order(tx: Unit, order_id: int) -> Record | None:
    """Lock an order row: (id, payment_status), or None when there is no such order."""
    return await tx.sql.fetchrow(_ORDER, order_id)


async def payment(tx: Unit, payment_id: int) -> Record | None:
    """Lock a payment: (id, amount, currency, status, refunded_amount, razorpay_payment_id)."""
    return await tx.sql.fetchrow(_PAYMENT, payment_id)


async def payment_of_order(tx: Unit, order_id: int) -> Record | None:
    """Lock the payment that paid for an order (same columns as ``payment``)."""
    return await tx.sql.fetchrow(_PAYMENT_OF_ORDER, order_id)


async def refund(tx: Unit, refund_id: int) -> Record | None:
    """Lock a refund: (id, payment_id, order_id, amount, status, razorpay_refund_id)."""
    return await tx.sql.fetchrow(_REFUND, refund_id)


async def refund_by_razorpay_id(tx: Unit, razorpay_refund_id: str) -> Record | None:
    return await tx.sql.fetchrow(_REFUND_BY_RAZORPAY_ID, razorpay_refund_id)


async def unnamed_refunds(tx: Unit, payment_id: int, status: str, amount: int) -> list[Any]:
    """Lock the refunds of a payment of this amount and status that have no Razorpay id yet."""
    return await tx.sql.fetch(_UNNAMED_REFUNDS, payment_id, status, amount)
