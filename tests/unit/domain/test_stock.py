from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kapda_gql.domain.stock import UnavailableReason, is_sellable, unavailable_reason, unsellable_reason

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "product_deleted", "variant_deleted", "reason"),
    [
        ("APPROVED", None, None, None),
        ("APPROVED", NOW, None, UnavailableReason.PRODUCT_REMOVED),
        ("APPROVED", None, NOW, UnavailableReason.PRODUCT_REMOVED),
        ("DRAFT", NOW, None, UnavailableReason.PRODUCT_REMOVED),  # removal wins over status
        ("DRAFT", None, None, UnavailableReason.NOT_APPROVED),
        ("PENDING_REVIEW", None, None, UnavailableReason.NOT_APPROVED),
        ("REJECTED", None, None, UnavailableReason.NOT_APPROVED),
    ],
)
def test_sellable_means_approved_and_nothing_deleted(
    status: str,
    product_deleted: datetime | None,
    variant_deleted: datetime | None,
    reason: UnavailableReason | None,
) -> None:
    kwargs = {
        "product_status": status,
        "product_deleted_at": product_deleted,
        "variant_deleted_at": variant_deleted,
    }
    assert unsellable_reason(**kwargs) is reason
    assert is_sellable(**kwargs) is (reason is None)


def test_a_missing_variant_or_product_counts_as_removed() -> None:
    assert (
        unavailable_reason(
            product_status=None, product_deleted_at=None, variant_deleted_at=None, stock=None, exists=False
        )
        is UnavailableReason.PRODUCT_REMOVED
    )


@pytest.mark.parametrize(
    ("stock", "reason"),
    [(0, UnavailableReason.OUT_OF_STOCK), (-1, UnavailableReason.OUT_OF_STOCK), (1, None)],
)
def test_stock_matters_only_for_a_sellable_variant(stock: int, reason: UnavailableReason | None) -> None:
    assert (
        unavailable_reason(
            product_status="APPROVED", product_deleted_at=None, variant_deleted_at=None, stock=stock
        )
        is reason
    )
    # Not approved explains more than "no stock" does.
    assert (
        unavailable_reason(
            product_status="DRAFT", product_deleted_at=None, variant_deleted_at=None, stock=stock
        )
        is UnavailableReason.NOT_APPROVED
    )
