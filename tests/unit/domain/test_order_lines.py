"""Rules of part-order changes, without a database: where lines may change, who may change them,
how commissions come back unit by unit, what the input may be, and what a refund does to a payment."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kapda_gql.domain import lifecycles as lc
from kapda_gql.domain import pricing
from kapda_gql.domain.enums import OrderStatus, PaymentStatus, Role
from kapda_gql.domain.errors import Forbidden, InvalidTransition, NotFound
from kapda_gql.domain.ledger import StockReason
from kapda_gql.domain.lifecycles import LineChange
from kapda_gql.domain.policy import Actor, check_line_change
from kapda_gql.domain.validation import line_change_problems, tracking_problems

OS = OrderStatus


@pytest.mark.parametrize("status", list(OS))
def test_lines_are_cancelled_before_shipment_and_returned_after_delivery(status: OrderStatus) -> None:
    for change, allowed in (
        (LineChange.CANCEL, {OS.PENDING, OS.PROCESSING}),
        (LineChange.RETURN, {OS.DELIVERED}),
    ):
        if status in allowed:
            lc.check_line_change(change, status)
            continue
        with pytest.raises(InvalidTransition) as raised:
            lc.check_line_change(change, status)
        assert raised.value.extensions["from"] == status.value
        assert raised.value.extensions["allowed"] == [s.value for s in OS if s in allowed]


def test_what_a_line_change_does() -> None:
    cancel, ret = lc.LINE_CHANGES[LineChange.CANCEL], lc.LINE_CHANGES[LineChange.RETURN]
    assert (cancel.closes_to, cancel.restock_reason) == (OS.CANCELED, StockReason.CANCEL_RESTOCK)
    assert (ret.closes_to, ret.restock_reason) == (OS.REFUNDED, StockReason.RETURN_RESTOCK)
    # Closing to these statuses is a move the order table has from where the change may happen.
    assert all(lc.ORDER.can(s, cancel.closes_to) for s in cancel.from_)
    assert all(lc.ORDER.can(s, ret.closes_to) for s in ret.from_)
    assert lc.open_units(5, 2, 1) == 2


def test_who_may_change_lines() -> None:
    admin = Actor(user_id=1, role=Role.ADMIN)
    owner = Actor(user_id=2, role=Role.CUSTOMER)
    stranger = Actor(user_id=3, role=Role.CUSTOMER)
    designer = Actor(user_id=4, role=Role.DESIGNER, designer_id=9)
    for change in LineChange:
        check_line_change(admin, owner_id=2, change=change)
        for nobody in (stranger, designer, Actor()):
            with pytest.raises(NotFound):
                check_line_change(nobody, owner_id=2, change=change)
    check_line_change(owner, owner_id=2, change=LineChange.CANCEL)
    with pytest.raises(Forbidden):
        check_line_change(owner, owner_id=2, change=LineChange.RETURN)


@pytest.mark.parametrize(
    ("unit_price", "quantity", "rate"), [(100000, 3, 2000), (33333, 7, 1250), (99, 3, 3333)]
)
def test_commission_comes_back_unit_by_unit_and_all_of_it_at_the_end(
    unit_price: int, quantity: int, rate: int
) -> None:
    amount = pricing.commission(pricing.line_total(unit_price, quantity), rate)
    reversed_so_far = 0
    for left in range(quantity - 1, -1, -1):
        now = pricing.commission_reversal(
            amount=amount, unit_price=unit_price, open_units=left, rate_bps=rate
        )
        assert now >= reversed_so_far  # never gives back what was taken
        # What stays is exactly the commission on a line of the units still open.
        assert amount - now == pricing.commission(pricing.line_total(unit_price, left), rate)
        reversed_so_far = now
    assert reversed_so_far == amount


@dataclass
class _Line:
    order_item_id: int
    quantity: int


def test_line_input_problems_name_the_line() -> None:
    open_by_line = {10: 2, 11: 0}
    assert line_change_problems([_Line(10, 2)], open_by_line) == []
    assert line_change_problems([], open_by_line) == [("lines", "must name at least one line")]
    assert line_change_problems(
        [_Line(10, 1), _Line(11, 1), _Line(12, 1), _Line(10, 1), _Line(10, -1)], open_by_line
    ) == [
        ("lines[1].quantity", "only 0 of this line's units are open"),
        ("lines[2].orderItemId", "is not a line of this order"),
        ("lines[3].orderItemId", "is named twice"),
        ("lines[4].orderItemId", "is named twice"),
    ]
    assert line_change_problems([_Line(10, 0)], open_by_line) == [("lines[0].quantity", "must be at least 1")]
    assert line_change_problems([_Line(10, 3)], open_by_line) == [
        ("lines[0].quantity", "only 2 of this line's units are open")
    ]


def test_tracking_problems() -> None:
    assert tracking_problems("Delhivery", "DLV1", "https://t.example/DLV1") == []
    assert tracking_problems("Delhivery", "DLV1", None) == []
    assert tracking_problems("", "x" * 65, "ftp://x") == [
        ("tracking.carrier", "must be 1-80 characters"),
        ("tracking.number", "must be 1-64 characters"),
        ("tracking.url", "must be an http(s) URL"),
    ]
    assert tracking_problems("Blue\x00Dart", "1", "https://a.example/\x7f") == [
        ("tracking.carrier", "must not contain control characters"),
        ("tracking.url", "must be an http(s) URL"),
    ]


def test_what_is_left_to_refund_and_the_status_a_refund_leaves() -> None:
    assert lc.refundable(1000, 300) == 700
    assert lc.refundable(1000, 1000) == 0
    assert lc.refundable(1000, 1200) == 0
    status = lc.payment_status_after_refund
    assert status(captured=1000, refunded=300, others_pending=0) is PaymentStatus.PARTIALLY_REFUNDED
    assert status(captured=1000, refunded=1000, others_pending=0) is PaymentStatus.REFUNDED
    assert status(captured=1000, refunded=300, others_pending=1) is PaymentStatus.REFUND_PENDING
    # A payment with a refund on its way may still hold money for another one.
    assert PaymentStatus.REFUND_PENDING in lc.PAID and PaymentStatus.REFUNDED not in lc.PAID
