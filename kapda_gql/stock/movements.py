# ruff: noqa: S608 (statements here are built only from this module's fixed fragments and callers' fixed SQL)
"""Writing movements: the one API every stock change calls, in its own transaction.

Two forms, the same rows (the convention is in kapda_gql.stock's docstring):

``record(tx, [Movement(...)])`` — one ``INSERT`` of every movement given, for code that already
knows the deltas and the stock after (after its own ``UPDATE ... RETURNING``).

``insert_from(source, ...)`` / ``cte(name, source, ...)`` — SQL text to fold into the statement
that changes the stock, for hot paths whose statement count is fixed. For example, a sale of
several lines in one statement::

    WITH changed AS (
        UPDATE variants v SET stock = v.stock - d.q
        FROM unnest(:ids::bigint[], :quantities::int[]) AS d(id, q) WHERE v.id = d.id
        RETURNING v.id, v.stock, d.q
    ), moved AS (
        INSERT ... SELECT ... FROM changed      -- cte("moved", "changed", reason=SALE, delta="-changed.q",
    )                                          --     stock_after="changed.stock", order_id=":order_id")
    SELECT id FROM changed

Every expression argument is SQL over ``source``'s columns or a ``:name`` marker of the caller's
statement (``kapda_gql.db.sql.Query`` renders ``:name``); the reason is
written as a literal from the enum. ``stock_after`` must come from the ``RETURNING`` of the change
itself (never from a subquery of the ledger: a statement that waited for a row lock reads other
tables from its older snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from kapda_gql.db.uow import LeanUnit, Unit
from kapda_gql.domain import ledger
from kapda_gql.domain.ledger import StockReason

COLUMNS = (
    "variant_id",
    "reason",
    "delta",
    "held_delta",
    "stock_after",
    "order_id",
    "checkout_session_id",
    "actor_id",
    "note",
)
_COLUMN_LIST = ", ".join(COLUMNS)


@dataclass(frozen=True, slots=True)
class Movement:
    """One movement: ``delta`` of on-hand units, ``held_delta`` of held ones, on hand after it."""

    variant_id: int
    reason: StockReason
    delta: int
    stock_after: int
    held_delta: int = 0
    order_id: int | None = None
    checkout_session_id: uuid.UUID | None = None
    actor_id: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        ledger.check(self.reason, self.delta, self.held_delta)


_RECORD = (
    f"INSERT INTO stock_movements ({_COLUMN_LIST}) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::int[], $6::bigint[],"
    " $7::uuid[], $8::bigint[], $9::text[])"
)


async def record(tx: Unit | LeanUnit, movements: Sequence[Movement]) -> None:
    """Writes the movements in one statement (none: no statement), in ``tx``'s transaction."""
    if not movements:
        return
    await tx.sql.execute(
        _RECORD,
        [m.variant_id for m in movements],
        [m.reason.value for m in movements],
        [m.delta for m in movements],
        [m.held_delta for m in movements],
        [m.stock_after for m in movements],
        [m.order_id for m in movements],
        [m.checkout_session_id for m in movements],
        [m.actor_id for m in movements],
        [m.note for m in movements],
    )


def insert_from(
    source: str,
    *,
    reason: StockReason,
    delta: str,
    stock_after: str,
    variant_id: str = "id",
    held_delta: str = "0",
    order_id: str = "NULL",
    checkout_session_id: str = "NULL",
    actor_id: str = "NULL",
    note: str = "NULL",
) -> str:
    """``INSERT INTO stock_movements ... SELECT ... FROM source``: one movement per row of ``source``.

    The database's CHECK (``ck_stock_movements_delta_fits_reason``) holds the reason's rules for
    rows written this way, as ``Movement`` does for ``record``.
    """
    values = (
        variant_id,
        f"'{StockReason(reason).value}'",
        delta,
        held_delta,
        stock_after,
        f"({order_id})::bigint",
        f"({checkout_session_id})::uuid",
        f"({actor_id})::bigint",
        f"({note})::text",
    )
    return f"INSERT INTO stock_movements ({_COLUMN_LIST}) SELECT {', '.join(values)} FROM {source}"


def cte(name: str, source: str, *, reason: StockReason, **parts: str) -> str:
    """``name AS (INSERT ... SELECT ... FROM source)``, to add after the CTE that changed the stock."""
    return f"{name} AS ({insert_from(source, reason=reason, **parts)})"
