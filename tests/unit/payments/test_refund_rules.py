"""The refund rules a settlement follows, without a database."""

from __future__ import annotations

import pytest

from kapda_gql.domain.enums import PaymentStatus, RefundStatus
from kapda_gql.domain.errors import InvalidTransition
from kapda_gql.domain.lifecycles import PAYMENT_WHILE_REFUNDING, REFUND
from kapda_gql.payments.store import RefundRow


def test_only_a_pending_refund_settles_and_only_once() -> None:
    REFUND.check(RefundStatus.PENDING, RefundStatus.PROCESSED)
    REFUND.check(RefundStatus.PENDING, RefundStatus.FAILED)
    for done in (RefundStatus.PROCESSED, RefundStatus.FAILED):
        with pytest.raises(InvalidTransition):
            REFUND.check(done, RefundStatus.PROCESSED)


def test_a_payment_waits_as_refund_pending() -> None:
    assert PAYMENT_WHILE_REFUNDING is PaymentStatus.REFUND_PENDING


def test_a_refund_row_reads_the_lock_functions_columns_in_order() -> None:
    row = RefundRow.of((3, 8, None, 500, "PENDING", None))
    assert row == RefundRow(
        id=3, payment_id=8, order_id=None, amount=500, status="PENDING", razorpay_refund_id=None
    )
    assert RefundRow.of(None) is None
