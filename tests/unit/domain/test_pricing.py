from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kapda_gql.domain import pricing


def test_a_variant_price_overrides_its_product_price() -> None:
    assert pricing.effective_price(1500, 1000) == 1500
    assert pricing.effective_price(0, 1000) == 0  # a free variant is a price, not "no price"
    assert pricing.effective_price(None, 1000) == 1000


@pytest.mark.parametrize(
    ("remembered", "current", "charged"),
    [(1000, 1200, 1000), (1000, 800, 800), (1000, 1000, 1000), (0, 50, 0)],
)
def test_the_charged_price_is_the_lower_of_remembered_and_current(
    remembered: int, current: int, charged: int
) -> None:
    assert pricing.charged_price(remembered, current) == charged


def test_line_total() -> None:
    assert pricing.line_total(1999, 3) == 5997


@pytest.mark.parametrize(
    ("line_total", "rate_bps", "share"),
    [
        (10000, 1500, 1500),
        (333, 1500, 50),  # 49.95 rounds up
        (330, 1500, 50),  # 49.5 rounds half up
        (329, 1500, 49),  # 49.35 rounds down
        (1, 4999, 0),
        (1, 5000, 1),
        (0, 1500, 0),
        (12345, 0, 0),
        (12345, 10000, 12345),
    ],
)
def test_commission_is_the_rate_of_the_line_rounded_half_up(
    line_total: int, rate_bps: int, share: int
) -> None:
    assert pricing.commission(line_total, rate_bps) == share


def test_commission_matches_the_order_statement_formula() -> None:
    # The formula the checkout SQL used before it received Python-computed values.
    for total in range(0, 5000, 7):
        for rate in (0, 1, 999, 1500, 2500, 9999):
            assert pricing.commission(total, rate) == (total * rate + 5000) // 10000


@pytest.mark.parametrize(
    ("remembered", "current", "alert"),
    [
        (1000, 1100, False),  # exactly 10 % is not over 10 %
        (1000, 1101, True),
        (1000, 900, False),
        (1000, 899, True),
        (1000, 1000, False),
        (0, 1, True),
        (0, 0, False),
    ],
)
def test_price_alert_on_changes_over_ten_percent(remembered: int, current: int, alert: bool) -> None:
    assert pricing.is_price_alert(remembered, current) is alert


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEEK = 7 * 24 * 3600


@pytest.mark.parametrize(
    ("age", "remembered_now"),
    [
        (timedelta(0), 1000),
        (timedelta(days=6, hours=23, minutes=59), 1000),
        (timedelta(days=7), 1500),  # lapsed: today's price applies
        (timedelta(days=30), 1500),
    ],
)
def test_a_remembered_price_lapses_after_its_ttl(age: timedelta, remembered_now: int) -> None:
    assert (
        pricing.remembered_price(1000, 1500, remembered_at=NOW - age, now=NOW, ttl_seconds=WEEK)
        == remembered_now
    )
    assert pricing.CART_PRICE_TTL_SECONDS == WEEK


def test_a_lapsed_price_is_charged_at_today_s_price_even_when_lower_was_remembered() -> None:
    old = pricing.remembered_price(
        800, 1200, remembered_at=NOW - timedelta(days=8), now=NOW, ttl_seconds=WEEK
    )
    assert pricing.charged_price(old, 1200) == 1200
    fresh = pricing.remembered_price(800, 1200, remembered_at=NOW, now=NOW, ttl_seconds=WEEK)
    assert pricing.charged_price(fresh, 1200) == 800


@pytest.mark.parametrize(
    ("old", "new", "reprices"),
    [(None, 1, True), (1, 10, True), (10, 1, False), (3, 3, False)],
)
def test_raising_a_line_prices_it_afresh(old: int | None, new: int, reprices: bool) -> None:
    assert pricing.reprices_line(old, new) is reprices
