"""What may be sold: the one definition of a sellable variant, and why one is not.

A variant is sellable while its product is approved and neither is soft-deleted; having stock
is a separate question (a sellable variant with no stock shows as out of stock, and stays in the
cart). Catalog SQL that filters on the same thing uses ``LIVE_VARIANT_SQL``.
"""

from __future__ import annotations

import enum
from datetime import datetime

from kapda_gql.domain.enums import ProductStatus


class UnavailableReason(enum.StrEnum):
    PRODUCT_REMOVED = "PRODUCT_REMOVED"
    NOT_APPROVED = "NOT_APPROVED"
    OUT_OF_STOCK = "OUT_OF_STOCK"


def unsellable_reason(
    *,
    product_status: str | None,
    product_deleted_at: datetime | None,
    variant_deleted_at: datetime | None,
    exists: bool = True,
) -> UnavailableReason | None:
    """Why this variant cannot be sold now, stock aside; None when it can.

    ``exists=False`` is a line whose variant or product row is gone altogether (an order line
    outlives its variant).
    """
    if not exists or product_deleted_at is not None or variant_deleted_at is not None:
        return UnavailableReason.PRODUCT_REMOVED
    if product_status != ProductStatus.APPROVED:
        return UnavailableReason.NOT_APPROVED
    return None


def is_sellable(
    *, product_status: str, product_deleted_at: datetime | None, variant_deleted_at: datetime | None
) -> bool:
    return (
        unsellable_reason(
            product_status=product_status,
            product_deleted_at=product_deleted_at,
            variant_deleted_at=variant_deleted_at,
        )
        is None
    )


def unavailable_reason(
    *,
    product_status: str | None,
    product_deleted_at: datetime | None,
    variant_deleted_at: datetime | None,
    stock: int | None,
    exists: bool = True,
) -> UnavailableReason | None:
    """Why this variant cannot be bought now at all (reorder): unsellable, or nothing left."""
    reason = unsellable_reason(
        product_status=product_status,
        product_deleted_at=product_deleted_at,
        variant_deleted_at=variant_deleted_at,
        exists=exists,
    )
    if reason is None and (stock is None or stock <= 0):
        return UnavailableReason.OUT_OF_STOCK
    return reason


# The same rule as SQL, for queries that filter many rows at once (catalog browsing): a live
# variant is one that is not soft-deleted; its product's own status and deletion are checked by the
# product visibility condition of the query. ``{}`` is the extra condition on ``v``.
LIVE_VARIANT_SQL = (
    "EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.deleted_at IS NULL AND {})"
)


# --- holds: what a checkout takes out of sellable stock until it expires -------------------------
#
# A variant keeps its units on hand (``variants.stock``: not yet sold). An open checkout session
# holds some of them until its ``expires_at``; a hold past that moment holds nothing, whichever
# reader asks and whether or not the sweep has deleted it yet. So what a customer can buy now is
# derived, never stored: on hand less the unexpired holds. A hold ends when its order is placed
# (the held units become sold), when it is cancelled or replaced (deleted), or when it expires.


def sellable(on_hand: int, held: int) -> int:
    """Units a customer can buy now."""
    return max(on_hand - held, 0)


def hold_is_live(expires_at: datetime, now: datetime) -> bool:
    """A hold holds while its session's quote holds, and not a moment after."""
    return expires_at > now


def on_hand_after_set(sellable_wanted: int, held: int) -> int:
    """setStock names the units a customer can buy now; the held ones stay held on top."""
    return sellable_wanted + held


# The same rules as SQL, folded into the statements that read or take stock. ``{v}`` is the
# alias of the variants row; ``now()`` is the reading transaction's start, never later than the
# wall clock, so a reader can only count a hold as live a moment longer, never a moment less.
HELD_SQL = (
    "(SELECT coalesce(sum(h.quantity), 0) FROM stock_holds h"
    " WHERE h.variant_id = {v}.id AND h.expires_at > now())"
)


def held_sql(alias: str) -> str:
    return HELD_SQL.format(v=alias)


def sellable_sql(alias: str) -> str:
    return f"greatest({alias}.stock - {held_sql(alias)}, 0)"


# The same sum for a statement that has just locked the variant row ``{v}`` and counts its holds
# in the same statement: ``HELD_SQL`` there would read the snapshot taken before the lock's wait
# and miss the holds its previous holder committed. The function (migration 0009) counts with a
# fresh snapshot; its body is ``HELD_SQL``'s, which a test checks.
HELD_AFTER_LOCK_SQL = "live_held_units({v}.id)"


def held_after_lock_sql(alias: str) -> str:
    return HELD_AFTER_LOCK_SQL.format(v=alias)
