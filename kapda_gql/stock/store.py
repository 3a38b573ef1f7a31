"""All of the stock ledger's reading SQL (the writing fragments are in ``movements``), plain SQL on a
lean unit with named values (``Query``: ``:name`` markers rendered once to ``$n``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kapda_gql.db.sql import Query
from kapda_gql.db.uow import LeanUnit, Unit


@dataclass(frozen=True, slots=True)
class VariantOwner:
    designer_id: int
    status: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class MovementRow:
    id: int
    variant_id: int
    reason: str
    delta: int
    held_delta: int
    stock_after: int
    order_id: int | None
    checkout_session_id: uuid.UUID | None
    actor_id: int | None
    note: str | None
    at: datetime
    order_number: str | None


_OWNER = Query(
    "SELECT p.designer_id, p.status, (v.deleted_at IS NOT NULL OR p.deleted_at IS NOT NULL)"
    " FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = :id"
)
# The order a movement belongs to: named on it (a restock), or through its checkout session (a sale).
_COLUMNS = (
    "m.id, m.variant_id, m.reason, m.delta, m.held_delta, m.stock_after, m.order_id,"
    " m.checkout_session_id, m.actor_id, m.note, m.at, o.number"
)
_FROM = (
    " FROM stock_movements m LEFT JOIN LATERAL (SELECT number FROM orders"
    " WHERE id = m.order_id OR (m.order_id IS NULL AND checkout_session_id = m.checkout_session_id)"
    " LIMIT 1) o ON true WHERE m.variant_id = :variant_id"
)
# Newest first; a backward page reads oldest-first from its cursor and is turned around by page_of.
_FORWARD = Query(
    f"SELECT {_COLUMNS}{_FROM} AND (:cursor::bigint IS NULL OR m.id < :cursor) ORDER BY m.id DESC LIMIT :n"
)
_BACKWARD = Query(
    f"SELECT {_COLUMNS}{_FROM} AND (:cursor::bigint IS NULL OR m.id > :cursor) ORDER BY m.id ASC LIMIT :n"
)
_BEYOND = Query(
    "SELECT EXISTS (SELECT 1 FROM stock_movements WHERE variant_id = :variant_id"
    " AND CASE WHEN :backward THEN id <= :cursor ELSE id >= :cursor END)"
)


async def variant_owner(tx: Unit | LeanUnit, variant_id: int) -> VariantOwner | None:
    row = await tx.sql.fetchrow(_OWNER.sql, *_OWNER.args({"id": variant_id}))
    return VariantOwner(int(row[0]), str(row[1]), bool(row[2])) if row is not None else None


async def movements_page(
    tx: Unit | LeanUnit, variant_id: int, *, cursor: int | None, size: int, backward: bool
) -> tuple[list[MovementRow], bool]:
    """Up to ``size + 1`` movements beyond ``cursor``, and whether any lie on its other side."""
    query = _BACKWARD if backward else _FORWARD
    values: dict[str, Any] = {"variant_id": variant_id, "cursor": cursor, "n": size + 1}
    rows = await tx.sql.fetch(query.sql, *query.args(values))
    beyond = False
    if cursor is not None:
        beyond = bool(
            await tx.sql.fetchval(
                _BEYOND.sql,
                *_BEYOND.args({"variant_id": variant_id, "backward": backward, "cursor": cursor}),
            )
        )
    return [MovementRow(*row) for row in rows], beyond
