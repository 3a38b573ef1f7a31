"""The one place checkout tells the stock ledger what it did: units held, held units given back,
units sold.

Every stock change of a checkout passes through ``moved`` inside the transaction that made it, so
the ledger's movement-writing API (branch ``ledger``: ``kapda_gql.stock``) plugs in here and
nowhere else. Until it lands this records nothing.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from kapda_gql.db.uow import Unit


class Moved(enum.StrEnum):
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    SALE = "SALE"


@dataclass(frozen=True, slots=True)
class Change:
    variant_id: int
    quantity: int


async def moved(
    tx: Unit,
    kind: Moved,
    session_id: uuid.UUID,
    changes: Sequence[Change],
    *,
    order_number: str | None = None,
) -> None:
    """Record what a checkout did to stock, in the caller's transaction (the ledger's call site)."""
    del tx, kind, session_id, changes, order_number
