"""Who sees whom in an order (issue 12 item 3): the history's actors, order(id), designerOrders."""

from __future__ import annotations

import json
from typing import Any

from tests.support.documents import PARCEL, TRANSITION
from tests.support.flows import ADDRESS

HISTORY = """query($id: ID!) { order(id: $id) { id statusHistory { from to note actor { role name } } } }"""
ORDER = "query($id: ID!) { order(id: $id) { id items { sku } } }"
DESIGNER_ORDERS = """query($d: ID, $status: OrderStatus, $first: Int, $after: String, $last: Int, $before: String) {
  designerOrders(designerId: $d, status: $status, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id number status createdAt shippedAt deliveredAt
      items { sku quantity unitPrice { amount } lineTotal { amount } }
      itemsTotal { amount } commission { amount } } } } }"""


async def _name(db: Any, user_id: int) -> str:
    return str(await db.fetchval("SELECT name FROM users WHERE id = $1", user_id))


async def test_a_customer_sees_staff_by_role_and_itself_by_name(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    alice, admin = shop["alice"], shop["admin"]
    order = await place_order(alice, [(shop["product"]["variant_ids"][0], 1)])
    await api.ok(TRANSITION, {"id": order["id"], "to": "PROCESSING", "note": "packed"}, token=admin.token)
    await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=alice.token)

    body = await api(HISTORY, {"id": order["id"]}, token=alice.token)
    history = body["data"]["order"]["statusHistory"]
    assert [(h["to"], h["actor"]) for h in history] == [
        ("PENDING", {"role": "CUSTOMER", "name": await _name(db, alice.id)}),
        ("PROCESSING", {"role": "ADMIN", "name": "Kapda Co."}),
        ("CANCELED", {"role": "CUSTOMER", "name": await _name(db, alice.id)}),
    ]
    # Nothing of the admin's account reaches the customer: not its e-mail, not its name.
    raw = json.dumps(body)
    assert admin.email not in raw
    assert await _name(db, admin.id) not in raw

    # An admin sees which staff member it was.
    as_admin = (await api.ok(HISTORY, {"id": order["id"]}, token=admin.token))["order"]["statusHistory"]
    assert as_admin[1]["actor"] == {"role": "ADMIN", "name": await _name(db, admin.id)}

    # The actor is no account: asking for its id or e-mail does not validate.
    for field in ("id", "email"):
        bad = await api.error(
            "query($id: ID!) { order(id: $id) { statusHistory { actor { %s } } } }" % field,
            {"id": order["id"]},
            token=alice.token,
        )
        assert bad["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_order_is_for_its_customer_and_admins_only(
    api: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(
        shop["alice"], [(shop["product"]["variant_ids"][0], 1), (shop["other"]["variant_ids"][0], 1)]
    )
    assert len((await api.ok(ORDER, {"id": order["id"]}, token=shop["alice"].token))["order"]["items"]) == 2
    assert len((await api.ok(ORDER, {"id": order["id"]}, token=shop["admin"].token))["order"]["items"]) == 2
    missing = await api.error(ORDER, {"id": "999999"}, token=shop["designer"].token)
    for token in (shop["designer"].token, shop["other_designer"].token, shop["bob"].token):
        # A designer with a line in it learns as much as of a missing order: nothing.
        error = await api.error(ORDER, {"id": order["id"]}, token=token)
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert error["message"] == missing["message"]


async def test_designer_orders_show_own_lines_and_figures_and_nothing_of_the_customer(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    alice, designer, other = shop["alice"], shop["designer"], shop["other_designer"]
    s_id, m_id = shop["product"]["variant_ids"]
    mixed = await place_order(alice, [(s_id, 2), (m_id, 1), (shop["other"]["variant_ids"][0], 3)])
    await place_order(shop["bob"], [(shop["other"]["variant_ids"][0], 1)])  # not this designer's

    body = await api(DESIGNER_ORDERS, {}, token=designer.token)
    assert "errors" not in body, body
    data = body["data"]["designerOrders"]
    assert data["totalCount"] == 1
    node = data["edges"][0]["node"]
    assert node["id"] == mixed["id"] and node["number"] == mixed["number"] and node["status"] == "PENDING"
    assert sorted((i["sku"], i["quantity"], i["lineTotal"]["amount"]) for i in node["items"]) == [
        ("KUR-M", 1, 120000),
        ("KUR-S", 2, 200000),
    ]
    assert node["itemsTotal"] == {"amount": 320000}
    expected_commission = await db.fetchval(
        "SELECT sum(amount) FROM commissions WHERE order_id = $1 AND designer_id = $2",
        int(mixed["id"]),
        designer.designer_id,
    )
    assert node["commission"] == {"amount": expected_commission} and expected_commission > 0
    raw = json.dumps(body)
    for secret in (
        alice.email,
        await _name(db, alice.id),
        ADDRESS["name"],
        ADDRESS["line1"],
        ADDRESS["phone"],
        "STO-1",  # the other designer's line
        str(mixed["total"]["amount"]),  # the whole order's total
    ):
        assert secret not in raw, secret
    # The customer, the address and the order's totals are not in the type at all.
    for field in ("shippingAddress { name }", "total { amount }", "priceAdjustments { variantId }"):
        bad = await api.error(
            "{ designerOrders { edges { node { %s } } } }" % field, {}, token=designer.token
        )
        assert bad["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", field

    # The other designer sees the same order with its own line only; both its sales.
    theirs = (await api.ok(DESIGNER_ORDERS, {}, token=other.token))["designerOrders"]
    assert theirs["totalCount"] == 2
    mine = next(e["node"] for e in theirs["edges"] if e["node"]["id"] == mixed["id"])
    assert [(i["sku"], i["quantity"]) for i in mine["items"]] == [("STO-1", 3)]
    assert mine["itemsTotal"] == {"amount": 150000}

    # Shipped and delivered show when they happened; a reversed commission no longer counts.
    await api.ok(TRANSITION, {"id": mixed["id"], "to": "PROCESSING"}, token=shop["admin"].token)
    await api.ok(
        TRANSITION, {"id": mixed["id"], "to": "SHIPPED", "tracking": PARCEL}, token=shop["admin"].token
    )
    shipped = (await api.ok(DESIGNER_ORDERS, {"status": "SHIPPED"}, token=designer.token))["designerOrders"]
    assert [e["node"]["id"] for e in shipped["edges"]] == [mixed["id"]]
    assert shipped["edges"][0]["node"]["shippedAt"] is not None
    assert (await api.ok(DESIGNER_ORDERS, {"status": "PENDING"}, token=designer.token))["designerOrders"][
        "totalCount"
    ] == 0
    await api.ok(TRANSITION, {"id": mixed["id"], "to": "CANCELED"}, token=shop["admin"].token)
    canceled = (await api.ok(DESIGNER_ORDERS, {}, token=designer.token))["designerOrders"]["edges"][0]["node"]
    assert canceled["status"] == "CANCELED" and canceled["commission"] == {"amount": 0}


async def test_designer_orders_who_may_ask(api: Any, shop: dict[str, Any], place_order: Any) -> None:
    designer, other = shop["designer"], shop["other_designer"]
    await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    as_admin = (await api.ok(DESIGNER_ORDERS, {"d": str(designer.designer_id)}, token=shop["admin"].token))[
        "designerOrders"
    ]
    assert as_admin["totalCount"] == 1
    assert [i["sku"] for i in as_admin["edges"][0]["node"]["items"]] == ["KUR-S"]
    named_own = await api.ok(DESIGNER_ORDERS, {"d": str(designer.designer_id)}, token=designer.token)
    assert named_own["designerOrders"]["totalCount"] == 1

    async def code(token: str | None, variables: dict[str, Any]) -> str:
        return str((await api.error(DESIGNER_ORDERS, variables, token=token))["extensions"]["code"])

    assert await code(shop["admin"].token, {}) == "BAD_USER_INPUT"  # whose sales?
    assert await code(other.token, {"d": str(designer.designer_id)}) == "FORBIDDEN"
    assert await code(shop["alice"].token, {}) == "FORBIDDEN"
    assert await code(None, {}) == "UNAUTHENTICATED"


async def test_designer_orders_page_both_ways(api: Any, shop: dict[str, Any], place_order: Any) -> None:
    designer = shop["designer"]
    vid = shop["product"]["variant_ids"][0]
    placed = [await place_order(shop["alice"], [(vid, 1)]) for _ in range(5)]
    newest_first = [o["id"] for o in reversed(placed)]

    first = (await api.ok(DESIGNER_ORDERS, {"first": 2}, token=designer.token))["designerOrders"]
    assert [e["node"]["id"] for e in first["edges"]] == newest_first[:2]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    rest = (
        await api.ok(
            DESIGNER_ORDERS, {"first": 10, "after": first["pageInfo"]["endCursor"]}, token=designer.token
        )
    )["designerOrders"]
    assert [e["node"]["id"] for e in rest["edges"]] == newest_first[2:]
    assert rest["pageInfo"]["hasNextPage"] is False and rest["pageInfo"]["hasPreviousPage"] is True

    back = (
        await api.ok(
            DESIGNER_ORDERS, {"last": 2, "before": rest["pageInfo"]["startCursor"]}, token=designer.token
        )
    )["designerOrders"]
    assert [e["node"]["id"] for e in back["edges"]] == newest_first[:2]
    assert back["pageInfo"]["hasNextPage"] is True and back["pageInfo"]["hasPreviousPage"] is False
    tail = (await api.ok(DESIGNER_ORDERS, {"last": 2}, token=designer.token))["designerOrders"]
    assert [e["node"]["id"] for e in tail["edges"]] == newest_first[-2:]
    too_many = await api.error(DESIGNER_ORDERS, {"first": 101}, token=designer.token)
    assert too_many["extensions"]["code"] == "QUERY_TOO_COMPLEX"
