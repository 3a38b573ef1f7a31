from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kapda_gql.domain import validation as v
from kapda_gql.domain.errors import BadUserInput


def fields_of(error: BadUserInput) -> set[str]:
    return {f["field"] for f in error.extensions["fields"]}


def test_account_is_stripped_and_checked_all_at_once() -> None:
    assert v.validate_account(" a@b.in ", "12345678", " Asha ") == ("a@b.in", "Asha")
    with pytest.raises(BadUserInput) as raised:
        v.validate_account("not-an-email", "short", "")
    assert fields_of(raised.value) == {"email", "password", "name"}
    with pytest.raises(BadUserInput) as raised:
        v.validate_account("a@b.in", "x" * 257, "A\x00")
    assert fields_of(raised.value) == {"password", "name"}
    assert not v.could_be_email("a" * 255) and not v.could_be_email("a\n@b.in") and v.could_be_email("a@b.in")


ADDRESS: dict[str, Any] = {
    "name": " Asha ",
    "line1": "1 MG Road",
    "line2": "",
    "city": "Pune",
    "state": "MH",
    "postal_code": "411001",
    "country": "in",
    "phone": "+91 98765 43210",
}


def test_address_is_normalised() -> None:
    clean = v.validate_address(ADDRESS)
    assert clean["name"] == "Asha" and clean["country"] == "IN" and clean["line2"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"postal_code": "011001"}, "shippingAddress.postalCode"),
        ({"country": "USA"}, "shippingAddress.country"),
        ({"country": "US", "postal_code": ""}, "shippingAddress.postalCode"),
        ({"phone": "12"}, "shippingAddress.phone"),
        ({"city": ""}, "shippingAddress.city"),
        ({"line2": "x" * 201}, "shippingAddress.line2"),
        ({"line1": "a\x07b"}, "shippingAddress.line1"),
        ({"postal_code": "4110\x0001"}, "shippingAddress.postalCode"),
    ],
)
def test_address_problems(change: dict[str, str], field: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        v.validate_address({**ADDRESS, **change})
    assert field in fields_of(raised.value)


def test_a_foreign_postal_code_needs_no_pin() -> None:
    assert v.validate_address({**ADDRESS, "country": "US", "postal_code": "94105"})["postal_code"] == "94105"


@dataclass
class Spec:
    sku: str
    size: str | None = None
    color: str | None = None
    price: int | None = None
    stock: int = 0


def test_variant_problems() -> None:
    assert v.variant_problems([Spec("A-1", "M", "red", 100, 5)]) == []
    problems = dict(
        v.variant_problems(
            [
                Spec("A-1"),
                Spec("a-1"),
                Spec("-bad"),
                Spec("B", stock=-1),
                Spec("C", price=v.MAX_PRICE + 1),
                Spec("D", size=" "),
            ],
            prefix="addVariants",
        )
    )
    assert set(problems) == {
        "addVariants[1].sku",
        "addVariants[2].sku",
        "addVariants[3].stock",
        "addVariants[4].price",
        "addVariants[5].size",
    }
    assert problems["addVariants[1].sku"] == "is repeated"


def test_product_field_problems() -> None:
    assert v.product_field_problems("T", "D", "C", 100, ["https://x.test/a.jpg"]) == []
    assert v.product_field_problems(None, None, None, None, None) == []
    problems = dict(
        v.product_field_problems(" ", "\x00", "c" * 81, -1, ["ftp://x", *(["https://x.test"] * 12)])
    )
    assert set(problems) == {"title", "description", "category", "price", "images", "images[0]"}
    assert v.product_field_problems(None, "tabs\tand\nnewlines are fine", None, None, None) == []


def test_notes_and_quantities() -> None:
    assert v.optional_note("  ", "note") is None
    assert v.optional_note(" ok ", "note") == "ok"
    with pytest.raises(BadUserInput):
        v.optional_note("x" * 1001, "note")
    with pytest.raises(BadUserInput):
        v.optional_note("a\x00", "reason")
    v.check_quantity(1, allow_zero=False)
    v.check_quantity(0, allow_zero=True)
    for quantity, zero in ((0, False), (-1, True), (101, True)):
        with pytest.raises(BadUserInput):
            v.check_quantity(quantity, allow_zero=zero)
    assert v.stock_problems(v.MAX_STOCK) == [] and v.stock_problems(-1)
