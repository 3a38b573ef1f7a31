"""Price protection: the lower of the remembered and the current price is charged, every changed line is a
PriceAdjustment, and changes over 10 % are logged and audited — whichever way the price moved."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.support.assertions import code
from tests.support.documents import ADD, START_WITH
from tests.support.flows import ADDRESS, finish, pay

ORDER_ADJUSTMENTS = """query($id: ID!) { order(id: $id) { total { amount } items { sku unitPrice { amount } }
  priceAdjustments { variantId cartPrice { amount } currentPrice { amount } chargedPrice { amount } } } }"""


def _adjustment(variant_id: int, cart: int, current: int, charged: int) -> dict[str, Any]:
    return {
        "variantId": str(variant_id),
        "cartPrice": {"amount": cart},
        "currentPrice": {"amount": current},
        "chargedPrice": {"amount": charged},
    }


async def _mismatch_audits(db: Any) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT changes FROM audit_entries WHERE action = 'checkout.price_mismatch' ORDER BY id"
    )
    return [json.loads(r["changes"]) if isinstance(r["changes"], str) else r["changes"] for r in rows]


async def _cart_at(
    api: Any, make_user: Any, make_product: Any, prices: list[int]
) -> tuple[Any, list[int], int]:
    """A customer with one unit of each of len(prices) variants, added at those prices."""
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(
        designer.designer_id,
        price=prices[0],
        variants=[(f"PP-{i}", str(i), None, 10, price) for i, price in enumerate(prices)],
    )
    for vid in product["variant_ids"]:
        await api.ok(ADD, {"v": vid, "q": 1}, token=customer.token)
    return customer, product["variant_ids"], product["id"]


async def test_price_raised_charges_the_remembered_price_and_audits_the_jump(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    customer, (a, _), _ = await _cart_at(api, make_user, make_product, [100000, 50000])
    await db.execute("UPDATE variants SET price = 120000 WHERE id = $1", a)

    with caplog.at_level(logging.WARNING, logger="kapda_gql.checkout"):
        session = (await api.ok(START_WITH, {"a": ADDRESS}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 100000 + 50000
    assert session["priceAdjustments"] == [_adjustment(a, 100000, 120000, 100000)]
    assert [line["unitPrice"]["amount"] for line in session["lines"]] == [100000, 50000]
    assert sandbox.state.orders[session["razorpayOrderId"]]["amount"] == 150000
    audits = await _mismatch_audits(db)
    assert len(audits) == 1
    assert [line["variant_id"] for line in audits[0]["lines"]] == [a]
    assert any("price changed" in r.getMessage() for r in caplog.records)

    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    body = await finish(api, customer.token, session, payment)
    assert code(body) is None
    order_id = body["data"]["checkout"]["id"]
    order = (await api.ok(ORDER_ADJUSTMENTS, {"id": order_id}, token=customer.token))["order"]
    assert order["total"] == {"amount": 150000}
    assert sorted(i["unitPrice"]["amount"] for i in order["items"]) == [50000, 100000]
    assert order["priceAdjustments"] == [_adjustment(a, 100000, 120000, 100000)]


async def test_price_lowered_charges_the_new_price(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, (a, b), _ = await _cart_at(api, make_user, make_product, [100000, 50000])
    await db.execute("UPDATE variants SET price = 70000 WHERE id = $1", a)
    await db.execute("UPDATE variants SET price = 48000 WHERE id = $1", b)  # 4 %: adjusted, not audited

    session = (await api.ok(START_WITH, {"a": ADDRESS}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 70000 + 48000
    assert session["priceAdjustments"] == [
        _adjustment(a, 100000, 70000, 70000),
        _adjustment(b, 50000, 48000, 48000),
    ]
    audits = await _mismatch_audits(db)
    assert [[line["variant_id"] for line in x["lines"]] for x in audits] == [[a]]

    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    body = await finish(api, customer.token, session, payment)
    assert body["data"]["checkout"]["total"] == {"amount": 118000}


async def test_unchanged_price_has_no_adjustment(
    api: Any, make_user: Any, make_product: Any, db: Any, sandbox: Any
) -> None:
    customer, _, _ = await _cart_at(api, make_user, make_product, [100000, 50000])
    session = (await api.ok(START_WITH, {"a": ADDRESS}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 150000
    assert session["priceAdjustments"] == []
    assert await _mismatch_audits(db) == []
    payment = await pay(sandbox.base_url, session["razorpayOrderId"])
    order_id = (await finish(api, customer.token, session, payment))["data"]["checkout"]["id"]
    order = (await api.ok(ORDER_ADJUSTMENTS, {"id": order_id}, token=customer.token))["order"]
    assert order["priceAdjustments"] == []


@pytest.mark.parametrize(
    ("new_price", "audited"),
    [(110000, False), (110001, True), (90000, False), (89999, True)],
)
async def test_audit_threshold_is_strictly_over_ten_percent(
    api: Any, make_user: Any, make_product: Any, db: Any, new_price: int, audited: bool
) -> None:
    customer, (a,), _ = await _cart_at(api, make_user, make_product, [100000])
    await db.execute("UPDATE variants SET price = $2 WHERE id = $1", a, new_price)
    session = (await api.ok(START_WITH, {"a": ADDRESS}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == min(100000, new_price)
    assert session["priceAdjustments"] == [_adjustment(a, 100000, new_price, min(100000, new_price))]
    assert len(await _mismatch_audits(db)) == (1 if audited else 0)


async def test_product_price_change_counts_for_variants_without_their_own_price(
    api: Any, make_user: Any, make_product: Any, db: Any
) -> None:
    designer = await make_user("DESIGNER")
    customer = await make_user()
    product = await make_product(designer.designer_id, price=40000, variants=[("PP-X", "M", None, 10, None)])
    vid = product["variant_ids"][0]
    await api.ok(ADD, {"v": vid, "q": 3}, token=customer.token)
    await db.execute("UPDATE products SET price = 60000 WHERE id = $1", product["id"])
    session = (await api.ok(START_WITH, {"a": ADDRESS}, token=customer.token))["startCheckout"]
    assert session["amount"]["amount"] == 3 * 40000
    assert session["priceAdjustments"] == [_adjustment(vid, 40000, 60000, 40000)]
