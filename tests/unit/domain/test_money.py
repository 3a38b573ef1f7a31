"""The money type: integer paise, half-up shares, Indian digit grouping, the cart ceiling."""

from __future__ import annotations

import pytest

from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.money import MAX_CART_TOTAL, Money, check_cart_total


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "₹0.00"),
        (5, "₹0.05"),
        (129900, "₹1,299.00"),
        (12999900, "₹1,29,999.00"),
        (1000000000, "₹1,00,00,000.00"),
        (-250, "-₹2.50"),
    ],
)
def test_rupees_are_grouped_the_indian_way(amount: int, text: str) -> None:
    assert Money(amount).formatted == text


def test_other_currencies_group_in_thousands() -> None:
    assert Money(12999900, "USD").formatted == "USD 129,999.00"


@pytest.mark.parametrize(
    ("amount", "bps", "share"),
    [(10000, 1500, 1500), (333, 1500, 50), (3, 5000, 2), (1, 4999, 0), (0, 2000, 0)],
)
def test_a_share_rounds_half_up_to_the_paisa(amount: int, bps: int, share: int) -> None:
    assert Money(amount).share(bps) == Money(share)


@pytest.mark.parametrize("bad", [1.5, True, "100"])
def test_an_amount_is_whole_paise_only(bad: object) -> None:
    with pytest.raises(TypeError):
        Money(bad)  # type: ignore[arg-type]


def test_the_cart_ceiling_is_inclusive_and_names_the_field() -> None:
    check_cart_total(MAX_CART_TOTAL, "cart")
    with pytest.raises(BadUserInput) as refused:
        check_cart_total(MAX_CART_TOTAL + 1, "quantity")
    assert refused.value.extensions["fields"][0]["field"] == "quantity"
