"""The cart: quantities add up, updates set, 0 removes; availability, stock and sane sizes are checked;
prices (remembered, raised, lapsed) are in test_prices.py; concurrent edits of one cart do not lose updates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.assertions import code
from tests.support.documents import ADD_FULL, CART, REMOVE, UPDATE
from tests.support.flows import set_on_hand


async def _cart_lines(db: Any, user_id: int) -> list[tuple[int, int, int]]:
    rows = await db.fetch(
        "SELECT l.variant_id, l.quantity, l.unit_price FROM cart_lines l JOIN carts c ON c.id = l.cart_id "
        "WHERE c.user_id = $1 ORDER BY l.variant_id",
        user_id,
    )
    return [tuple(r) for r in rows]


async def test_add_adds_to_quantity_update_sets_zero_removes_and_remove(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id,
        price=50000,
        variants=[("C-S", "S", "Red", 20, None), ("C-L", "L", "Red", 20, 55000)],
    )
    small, large = product["variant_ids"]

    await api.ok(ADD_FULL, {"v": small, "q": 2}, token=customer.token)
    data = await api.ok(ADD_FULL, {"v": small, "q": 3}, token=customer.token)
    assert data["addToCart"]["items"][0]["quantity"] == 5
    data = await api.ok(ADD_FULL, {"v": large, "q": 1}, token=customer.token)
    assert data["addToCart"]["itemCount"] == 6
    assert await _cart_lines(db, customer.id) == [(small, 5, 50000), (large, 1, 55000)]

    data = await api.ok(UPDATE, {"v": small, "q": 2}, token=customer.token)
    assert data["updateCartItem"]["itemCount"] == 3
    assert await _cart_lines(db, customer.id) == [(small, 2, 50000), (large, 1, 55000)]

    data = await api.ok(UPDATE, {"v": small, "q": 0}, token=customer.token)
    assert data["updateCartItem"]["items"] == [{"quantity": 1, "variant": {"id": str(large)}}]
    assert await _cart_lines(db, customer.id) == [(large, 1, 55000)]

    data = await api.ok(REMOVE, {"v": large}, token=customer.token)
    assert data["removeFromCart"] == {"itemCount": 0, "items": []}
    assert await _cart_lines(db, customer.id) == []

    cart = (await api.ok(CART, token=customer.token))["cart"]
    assert cart == {"itemCount": 0, "subtotal": {"amount": 0}, "items": []}


async def test_cart_query_totals(api: Any, make_user: Any, make_product: Any) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id,
        price=10000,
        variants=[("T-1", "S", None, 9, None), ("T-2", "M", None, 9, 12000)],
    )
    a, b = product["variant_ids"]
    await api.ok(ADD_FULL, {"v": a, "q": 2}, token=customer.token)
    await api.ok(ADD_FULL, {"v": b, "q": 3}, token=customer.token)
    cart = (await api.ok(CART, token=customer.token))["cart"]
    assert cart["itemCount"] == 5
    assert cart["subtotal"] == {"amount": 2 * 10000 + 3 * 12000}
    assert [(i["variant"]["id"], i["lineTotal"]["amount"]) for i in cart["items"]] == [
        (str(a), 20000),
        (str(b), 36000),
    ]


async def test_unavailable_variants_are_refused(api: Any, make_user: Any, make_product: Any, db: Any) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    cases: dict[str, int] = {}
    for how, status in [
        ("draft", "DRAFT"),
        ("pending", "PENDING_REVIEW"),
        ("rejected", "REJECTED"),
        ("deleted_product", "APPROVED"),
        ("deleted_variant", "APPROVED"),
    ]:
        product = await make_product(
            designer.designer_id, status=status, variants=[(how, "M", None, 10, None)]
        )
        cases[how] = product["variant_ids"][0]
        if how == "deleted_product":
            await db.execute("UPDATE products SET deleted_at = now() WHERE id = $1", product["id"])
        elif how == "deleted_variant":
            await db.execute("UPDATE variants SET deleted_at = now() WHERE id = $1", cases[how])
    cases["missing"] = max(cases.values()) + 1000

    for how, vid in cases.items():
        for query in (ADD_FULL, UPDATE):
            error = await api.error(query, {"v": vid, "q": 1}, token=customer.token)
            assert error["extensions"]["code"] == "PRODUCT_UNAVAILABLE", how
            assert error["extensions"]["variantId"] == str(vid), how
    assert await _cart_lines(db, customer.id) == []


async def test_a_line_whose_product_went_away_can_still_be_removed(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("G-1", "M", None, 10, None)])
    vid = product["variant_ids"][0]
    await api.ok(ADD_FULL, {"v": vid, "q": 2}, token=customer.token)
    await db.execute("UPDATE products SET status = 'REJECTED' WHERE id = $1", product["id"])

    cart = (await api.ok(CART, token=customer.token))["cart"]
    assert cart["items"][0]["available"] is False
    assert cart["itemCount"] == 0 and cart["subtotal"] == {"amount": 0}
    error = await api.error(ADD_FULL, {"v": vid, "q": 1}, token=customer.token)
    assert error["extensions"]["code"] == "PRODUCT_UNAVAILABLE"
    assert (await api.ok(UPDATE, {"v": vid, "q": 0}, token=customer.token))["updateCartItem"]["items"] == []


async def test_more_than_in_stock_is_insufficient_stock(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("S-1", "M", None, 3, None)])
    vid = product["variant_ids"][0]

    error = await api.error(ADD_FULL, {"v": vid, "q": 4}, token=customer.token)
    assert error["extensions"]["code"] == "INSUFFICIENT_STOCK"
    assert error["extensions"]["variantId"] == str(vid)
    assert (error["extensions"]["requested"], error["extensions"]["available"]) == (4, 3)
    assert await _cart_lines(db, customer.id) == []

    await api.ok(ADD_FULL, {"v": vid, "q": 2}, token=customer.token)
    # The resulting quantity counts, not just what this call adds.
    error = await api.error(ADD_FULL, {"v": vid, "q": 2}, token=customer.token)
    assert error["extensions"]["code"] == "INSUFFICIENT_STOCK"
    assert (error["extensions"]["requested"], error["extensions"]["available"]) == (4, 3)
    error = await api.error(UPDATE, {"v": vid, "q": 5}, token=customer.token)
    assert error["extensions"]["code"] == "INSUFFICIENT_STOCK"
    assert (error["extensions"]["requested"], error["extensions"]["available"]) == (5, 3)
    assert await _cart_lines(db, customer.id) == [(vid, 2, 129900)]

    await set_on_hand(db, vid, 0)
    error = await api.error(UPDATE, {"v": vid, "q": 1}, token=customer.token)
    assert (error["extensions"]["code"], error["extensions"]["available"]) == ("INSUFFICIENT_STOCK", 0)


async def test_bad_quantities_are_bad_user_input(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("Q-1", "M", None, 10**6, None)])
    vid = product["variant_ids"][0]
    cases = [(ADD_FULL, q) for q in (0, -1, -(2**31), 101, 10**9)] + [(UPDATE, q) for q in (-1, 101, 10**9)]
    for query, quantity in cases:
        error = await api.error(query, {"v": vid, "q": quantity}, token=customer.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (query, quantity)
        assert [f["field"] for f in error["extensions"]["fields"]] == ["quantity"]
    assert await _cart_lines(db, customer.id) == []


async def test_adding_up_past_the_line_limit_is_bad_user_input(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("Q-2", "M", None, 10**6, None)])
    vid = product["variant_ids"][0]
    await api.ok(ADD_FULL, {"v": vid, "q": 60}, token=customer.token)
    error = await api.error(ADD_FULL, {"v": vid, "q": 41}, token=customer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["quantity"]
    assert await _cart_lines(db, customer.id) == [(vid, 60, 129900)]


@pytest.mark.parametrize("variant_id", ["abc", "-3", "0", ""])
async def test_malformed_variant_id_is_bad_user_input(api: Any, make_user: Any, variant_id: str) -> None:
    customer = await make_user()
    error = await api.error(ADD_FULL, {"v": variant_id, "q": 1}, token=customer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["variantId"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [(CART, None), (ADD_FULL, {"v": 1, "q": 1}), (UPDATE, {"v": 1, "q": 1}), (REMOVE, {"v": 1})],
)
async def test_anonymous_is_unauthenticated(api: Any, query: str, variables: dict[str, Any] | None) -> None:
    error = await api.error(query, variables)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_carts_are_per_user(api: Any, make_user: Any, make_product: Any) -> None:
    designer = await make_user("DESIGNER")
    alice, bob = await make_user(), await make_user()
    product = await make_product(designer.designer_id, variants=[("P-1", "M", None, 10, None)])
    vid = product["variant_ids"][0]
    await api.ok(ADD_FULL, {"v": vid, "q": 2}, token=alice.token)
    await api.ok(REMOVE, {"v": vid}, token=bob.token)
    assert (await api.ok(CART, token=alice.token))["cart"]["itemCount"] == 2
    assert (await api.ok(CART, token=bob.token))["cart"]["itemCount"] == 0


async def test_concurrent_adds_to_one_cart_lose_nothing(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, variants=[("K-1", "M", None, 100, None), ("K-2", "L", None, 100, None)]
    )
    a, b = product["variant_ids"]
    results = await asyncio.gather(
        *(api(ADD_FULL, {"v": a if i % 2 else b, "q": 1}, token=customer.token) for i in range(20))
    )
    assert [code(r) for r in results] == [None] * 20
    assert await _cart_lines(db, customer.id) == [(a, 10, 129900), (b, 10, 129900)]


async def test_concurrent_adds_never_exceed_stock(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, variants=[("K-3", "M", None, 5, None)])
    vid = product["variant_ids"][0]
    results = await asyncio.gather(
        *(api(ADD_FULL, {"v": vid, "q": 1}, token=customer.token) for _ in range(12))
    )
    codes = sorted(code(r) or "OK" for r in results)
    assert codes == ["INSUFFICIENT_STOCK"] * 7 + ["OK"] * 5
    assert await _cart_lines(db, customer.id) == [(vid, 5, 129900)]
