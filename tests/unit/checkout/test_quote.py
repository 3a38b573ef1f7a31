"""The quote's pure rules: prices, shortages, and a failed session's answer rebuilt from its row."""

from __future__ import annotations

from typing import Any

import pytest

from kapda_gql.checkout.quote import (
    GATEWAY_FAILURE,
    QuoteLine,
    adjustments,
    failure_detail,
    failure_error,
    insufficient,
    price_alerts,
    shortage,
)
from kapda_gql.domain.errors import CheckoutExpired, InsufficientStock


def line(variant_id: int, quantity: int, cart_price: int = 1000, current_price: int = 1000) -> QuoteLine:
    return QuoteLine(
        variant_id, 1, 1, "Kurta", f"SKU-{variant_id}", "M", None, quantity, cart_price, current_price
    )


def test_a_line_is_charged_the_lower_of_the_remembered_and_current_price() -> None:
    assert line(1, 3, cart_price=1000, current_price=900).unit_price == 900
    assert line(1, 3, cart_price=800, current_price=900).unit_price == 800
    assert line(1, 3, cart_price=800, current_price=900).line_total == 2400


def test_a_line_survives_its_json_round_trip() -> None:
    original = line(7, 2, 1200, 1100)
    data = original.to_json()
    assert data["unit_price"] == 1100 and data["line_total"] == 2200
    assert QuoteLine.from_json(data) == original


def test_adjustments_list_only_changed_prices_and_alerts_only_big_changes() -> None:
    lines = [line(1, 1, 1000, 1000), line(2, 1, 1000, 1050), line(3, 1, 1000, 1200)]
    changes = adjustments(lines)
    assert [c["variant_id"] for c in changes] == [2, 3]
    assert changes[1] == {"variant_id": 3, "cart_price": 1000, "current_price": 1200, "charged_price": 1000}
    assert [c["variant_id"] for c in price_alerts(changes)] == [3]


def test_shortage_names_every_line_the_stock_cannot_cover() -> None:
    lines = [line(1, 2), line(2, 5), line(3, 1)]
    assert shortage(lines, {1: 2, 2: 4}) == [
        {"variantId": "2", "requested": 5, "available": 4},
        {"variantId": "3", "requested": 1, "available": 0},
    ]
    assert shortage(lines, {1: 9, 2: 9, 3: 9}) == []


def test_insufficient_puts_the_first_short_line_up_front_and_all_in_lines() -> None:
    short = [
        {"variantId": "2", "requested": 5, "available": 4},
        {"variantId": "3", "requested": 1, "available": 0},
    ]
    error = insufficient(short)
    assert isinstance(error, InsufficientStock)
    assert (error.extensions["variantId"], error.extensions["requested"], error.extensions["available"]) == (
        "2",
        5,
        4,
    )
    assert error.extensions["lines"] == short


@pytest.mark.parametrize(
    ("code", "detail", "expected"),
    [
        (
            "INSUFFICIENT_STOCK",
            {"code": "INSUFFICIENT_STOCK", "lines": [{"variantId": "9", "requested": 2, "available": 1}]},
            1,
        ),
        ("INSUFFICIENT_STOCK", None, 0),
        (GATEWAY_FAILURE, {"code": GATEWAY_FAILURE}, None),
        (None, None, None),
    ],
)
def test_a_failed_sessions_answer_comes_from_its_own_row(
    code: str | None, detail: dict[str, Any] | None, expected: int | None
) -> None:
    error = failure_error(code, detail)
    if expected is None:
        assert isinstance(error, CheckoutExpired)
    else:
        assert isinstance(error, InsufficientStock)
        assert len(error.extensions["lines"]) == expected


def test_failure_detail_keeps_lines_only_when_there_are_some() -> None:
    assert failure_detail(GATEWAY_FAILURE) == {"code": GATEWAY_FAILURE}
    short = [{"variantId": "1", "requested": 2, "available": 0}]
    stored = failure_detail("INSUFFICIENT_STOCK", short)
    assert stored == {"code": "INSUFFICIENT_STOCK", "lines": short}
    assert failure_error("INSUFFICIENT_STOCK", stored).extensions["lines"] == short
