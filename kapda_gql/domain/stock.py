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
