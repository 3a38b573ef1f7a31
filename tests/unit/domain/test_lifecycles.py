"""The lifecycles as tables: every pair of states, checked without a database."""

from __future__ import annotations

import itertools

import pytest

from kapda_gql.domain import lifecycles as lc
from kapda_gql.domain.enums import CheckoutStatus, CommissionStatus, OrderStatus, ProductStatus, RefundStatus
from kapda_gql.domain.errors import InvalidTransition

OS = OrderStatus
ORDER_MOVES = {
    (OS.PENDING, OS.PROCESSING),
    (OS.PENDING, OS.CANCELED),
    (OS.PROCESSING, OS.SHIPPED),
    (OS.PROCESSING, OS.CANCELED),
    (OS.SHIPPED, OS.DELIVERED),
    (OS.SHIPPED, OS.CANCELED),
    (OS.DELIVERED, OS.REFUNDED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OS, OS)))
def test_every_pair_of_the_order_table(current: OrderStatus, target: OrderStatus) -> None:
    expected = {t for c, t in ORDER_MOVES if c is current}
    assert set(lc.ORDER.allowed(current)) == expected
    if (current, target) in ORDER_MOVES:
        assert lc.ORDER.can(current, target)
        lc.ORDER.check(current, target)
    else:
        assert not lc.ORDER.can(current, target)
        with pytest.raises(InvalidTransition) as raised:
            lc.ORDER.check(current, target)
        ext = raised.value.extensions
        assert ext["from"] == current.value and ext["to"] == target.value
        assert set(ext["allowed"]) == {s.value for s in expected}
        assert raised.value.message == f"An order that is {current.value} cannot become {target.value}"


def test_allowed_moves_come_in_lifecycle_order() -> None:
    assert lc.ORDER.allowed(OS.PENDING) == (OS.PROCESSING, OS.CANCELED)
    assert lc.ORDER.terminal == {OS.CANCELED, OS.REFUNDED}


def test_within_narrows_what_is_allowed_and_reported() -> None:
    with pytest.raises(InvalidTransition) as raised:
        lc.ORDER.check(OS.PENDING, OS.DELIVERED, within={OS.CANCELED})
    assert raised.value.extensions["allowed"] == ["CANCELED"]
    with pytest.raises(InvalidTransition):
        lc.ORDER.check(OS.PENDING, OS.PROCESSING, within={OS.CANCELED})


@pytest.mark.parametrize(("current", "target"), sorted(ORDER_MOVES))
def test_every_order_move_stamps_its_target(current: OrderStatus, target: OrderStatus) -> None:
    step = lc.order_step(current, target)
    # refunded_at is the refund's confirmation, written by the refund outbox, not the move's time.
    expected = None if target is OS.REFUNDED else f"{target.value.lower()}_at"
    assert step.timestamp == expected


def test_order_side_effects() -> None:
    canceled_early = lc.order_step(OS.PROCESSING, OS.CANCELED)
    assert canceled_early.restock and canceled_early.refund_if_paid
    assert canceled_early.audit_action == "order.cancelled"
    assert canceled_early.commission == lc.CommissionMove(
        CommissionStatus.REVERSED, frozenset({CommissionStatus.PENDING, CommissionStatus.EARNED})
    )
    shipped_then_canceled = lc.order_step(OS.SHIPPED, OS.CANCELED)
    assert not shipped_then_canceled.restock and shipped_then_canceled.refund_if_paid
    delivered = lc.order_step(OS.SHIPPED, OS.DELIVERED)
    assert delivered.commission == lc.CommissionMove(
        CommissionStatus.EARNED, frozenset({CommissionStatus.PENDING})
    )
    assert not delivered.restock and not delivered.refund_if_paid
    assert delivered.audit_action == "order.transitioned"
    refunded = lc.order_step(OS.DELIVERED, OS.REFUNDED)
    assert refunded.refund_if_paid and not refunded.restock and refunded.audit_action == "order.refunded"
    assert refunded.commission is not None and refunded.commission.to is CommissionStatus.REVERSED
    processing = lc.order_step(OS.PENDING, OS.PROCESSING)
    assert processing.commission is None and not processing.refund_if_paid
    assert {OS.CANCELED, OS.REFUNDED} == lc.NOT_LIVE


P = ProductStatus
PRODUCT_MOVES = {
    (P.DRAFT, P.PENDING_REVIEW),
    (P.REJECTED, P.PENDING_REVIEW),
    (P.PENDING_REVIEW, P.APPROVED),
    (P.PENDING_REVIEW, P.REJECTED),
    (P.APPROVED, P.REJECTED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(P, P)))
def test_every_pair_of_the_product_table(current: ProductStatus, target: ProductStatus) -> None:
    assert lc.PRODUCT.can(current, target) is ((current, target) in PRODUCT_MOVES)


@pytest.mark.parametrize("current", list(P))
def test_submitting(current: ProductStatus) -> None:
    if current in (P.DRAFT, P.REJECTED):
        lc.check_submit(current)
        assert current in lc.SUBMITTABLE
        return
    with pytest.raises(InvalidTransition) as raised:
        lc.check_submit(current)
    assert raised.value.message == f"A {current.value} product cannot be submitted for review"
    assert raised.value.extensions["to"] == "PENDING_REVIEW"
    assert raised.value.extensions["allowed"] == [s.value for s in lc.PRODUCT.allowed(current)]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(P, [P.APPROVED, P.REJECTED])))
def test_reviewing(current: ProductStatus, target: ProductStatus) -> None:
    ok = (current, target) in PRODUCT_MOVES
    if ok:
        lc.check_review(current, target)
        return
    with pytest.raises(InvalidTransition) as raised:
        lc.check_review(current, target)
    # A review never offers "submit" as a way out: that is the designer's move.
    assert "PENDING_REVIEW" not in raised.value.extensions["allowed"]
    assert raised.value.message.startswith(f"A {current.value} product cannot be ")


def test_checkout_and_refund_lifecycles() -> None:
    assert lc.CHECKOUT.allowed(CheckoutStatus.OPEN) == (CheckoutStatus.COMPLETED, CheckoutStatus.FAILED)
    assert lc.CHECKOUT.terminal == {CheckoutStatus.COMPLETED, CheckoutStatus.FAILED}
    assert lc.REFUND.allowed(RefundStatus.PENDING) == (RefundStatus.PROCESSED, RefundStatus.FAILED)
    with pytest.raises(InvalidTransition):
        lc.REFUND.check(RefundStatus.PROCESSED, RefundStatus.FAILED)
    assert lc.PAYMENT_WHILE_REFUNDING.value == "REFUND_PENDING"
