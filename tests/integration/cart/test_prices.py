"""Cart prices (issue 12 item 6): a line remembers the price its units were put in at; raising it
prices the whole line afresh; a remembered price lapses after KAPDA_CART_PRICE_TTL_SECONDS; the
checkout quote follows the same rule."""

from __future__ import annotations

from typing import Any

from tests.support.documents import ADD_FULL, CART, REMOVE, START, UPDATE


async def _line(db: Any, user_id: int) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT l.quantity, l.unit_price FROM cart_lines l JOIN carts c ON c.id = l.cart_id WHERE c.user_id = $1",
        user_id,
    )
    return int(row[0]), int(row[1])


async def _item(api: Any, token: str) -> dict[str, Any]:
    cart = (await api.ok(CART, token=token))["cart"]
    assert len(cart["items"]) == 1
    return {**cart["items"][0], "subtotal": cart["subtotal"]["amount"]}


async def _set_price(db: Any, product_id: int, price: int) -> None:
    await db.execute("UPDATE products SET price = $2 WHERE id = $1", product_id, price)


async def test_units_added_after_a_sale_are_charged_today_s_price(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=100000, variants=[("SALE-1", "M", None, 20, None)]
    )
    vid = product["variant_ids"][0]

    await _set_price(db, product["id"], 80000)  # the sale
    await api.ok(ADD_FULL, {"v": vid, "q": 1}, token=customer.token)
    await _set_price(db, product["id"], 100000)  # the sale is over
    item = await _item(api, customer.token)
    assert item["unitPrice"] == {"amount": 80000}  # the unit put in during the sale keeps its price

    # Raised to 10 after the price went up: the line is priced afresh, all 10 at today's price.
    await api.ok(UPDATE, {"v": vid, "q": 10}, token=customer.token)
    item = await _item(api, customer.token)
    assert item["addedPrice"] == {"amount": 100000}
    assert item["unitPrice"] == {"amount": 100000}
    assert item["subtotal"] == 1000000
    assert await _line(db, customer.id) == (10, 100000)
    session = (await api.ok(START, {"key": None}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 1000000  # the quote agrees: not 10 x 80000


async def test_adding_to_a_line_prices_it_afresh_and_lowering_keeps_its_price(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=100000, variants=[("SALE-2", "M", None, 20, None)]
    )
    vid = product["variant_ids"][0]

    await api.ok(ADD_FULL, {"v": vid, "q": 3}, token=customer.token)
    await _set_price(db, product["id"], 150000)
    # Fewer units: they were all put in at the remembered price, which still holds.
    await api.ok(UPDATE, {"v": vid, "q": 2}, token=customer.token)
    assert (await _item(api, customer.token))["unitPrice"] == {"amount": 100000}
    # The same quantity again changes nothing.
    await api.ok(UPDATE, {"v": vid, "q": 2}, token=customer.token)
    assert await _line(db, customer.id) == (2, 100000)
    # addToCart on the line raises it: priced afresh.
    data = await api.ok(ADD_FULL, {"v": vid, "q": 1}, token=customer.token)
    assert data["addToCart"]["items"][0]["unitPrice"] == {"amount": 150000}
    assert await _line(db, customer.id) == (3, 150000)

    # A price drop reaches the line at once, whatever it remembers.
    await _set_price(db, product["id"], 90000)
    item = await _item(api, customer.token)
    assert (item["addedPrice"], item["unitPrice"]) == ({"amount": 150000}, {"amount": 90000})

    # Removed and added again: a new line, remembered at today's price.
    await api.ok(REMOVE, {"v": vid}, token=customer.token)
    await api.ok(ADD_FULL, {"v": vid, "q": 1}, token=customer.token)
    assert await _line(db, customer.id) == (1, 90000)


async def test_a_remembered_price_lapses_after_seven_days(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=100000, variants=[("OLD-1", "M", None, 20, None)]
    )
    vid = product["variant_ids"][0]
    await _set_price(db, product["id"], 70000)
    await api.ok(ADD_FULL, {"v": vid, "q": 2}, token=customer.token)
    await _set_price(db, product["id"], 100000)

    # Six days on, the sale price still holds; in the cart and in the quote.
    await db.execute("UPDATE cart_lines SET priced_at = now() - interval '6 days'")
    assert (await _item(api, customer.token))["unitPrice"] == {"amount": 70000}

    await db.execute("UPDATE cart_lines SET priced_at = now() - interval '7 days 1 minute'")
    item = await _item(api, customer.token)
    assert item["addedPrice"] == {"amount": 100000}
    assert item["unitPrice"] == {"amount": 100000}
    session = (await api.ok(START, {"key": None}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 200000
    assert session["lines"][0]["unitPrice"] == {"amount": 100000}


async def test_the_price_ttl_is_a_setting(
    serve: Any, settings: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    served = serve(settings.with_overrides(cart_price_ttl_seconds=60))
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id, price=100000, variants=[("TTL-1", "M", None, 20, None)]
    )
    vid = product["variant_ids"][0]
    headers = {"Authorization": f"Bearer {customer.token}"}
    async with served.client() as client:

        async def unit_price() -> int:
            r = await client.post("/graphql", json={"query": CART}, headers=headers)
            return int(r.json()["data"]["cart"]["items"][0]["unitPrice"]["amount"])

        await _set_price(db, product["id"], 70000)
        r = await client.post(
            "/graphql", json={"query": ADD_FULL, "variables": {"v": vid, "q": 1}}, headers=headers
        )
        assert "errors" not in r.json(), r.json()
        await _set_price(db, product["id"], 100000)
        assert await unit_price() == 70000
        await db.execute("UPDATE cart_lines SET priced_at = now() - interval '61 seconds'")
        assert await unit_price() == 100000
