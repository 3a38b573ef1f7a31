"""orders / order visibility, reorder, designerStats, auditLog."""

from __future__ import annotations

from typing import Any

from tests.support.documents import PARCEL, TRANSITION
from tests.support.flows import set_on_hand

ORDER = "query($id: ID!) { order(id: $id) { id number total { amount } items { sku quantity } } }"
ORDERS = """query($status: OrderStatus, $first: Int, $after: String) {
  orders(status: $status, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status } } } }"""
REORDER = """mutation($id: ID!, $add: Boolean) { reorder(orderId: $id, addToCart: $add) {
  available { variant { sku } requestedQuantity quantity }
  unavailable { productTitle sku requestedQuantity reason }
  cart { itemCount items { variant { sku } quantity } } } }"""
STATS = """{ designerStats { ordersCount unitsSold grossSales { amount } commissionPending { amount }
  commissionEarned { amount } } }"""
AUDIT = """query($f: AuditFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { action actor { id } targetType targetId changes requestId ip userAgent at } } } }"""


async def test_order_visibility(api: Any, shop: dict[str, Any], place_order: Any) -> None:
    mixed = await place_order(
        shop["alice"], [(shop["product"]["variant_ids"][0], 1), (shop["other"]["variant_ids"][0], 1)]
    )
    oid = mixed["id"]
    assert (await api.ok(ORDER, {"id": oid}, token=shop["alice"].token))["order"]["total"]["amount"] == 150000
    assert len((await api.ok(ORDER, {"id": oid}, token=shop["admin"].token))["order"]["items"]) == 2
    # A designer with a line in it does not see the order (its view of a sale is designerOrders).
    for token in (shop["bob"].token, shop["designer"].token):
        error = await api.error(ORDER, {"id": oid}, token=token)
        assert error["extensions"]["code"] == "NOT_FOUND"
    missing = await api.error(ORDER, {"id": "999999"}, token=shop["bob"].token)
    assert missing["extensions"]["code"] == "NOT_FOUND"
    assert missing["message"] == (await api.error(ORDER, {"id": oid}, token=shop["bob"].token))["message"]
    assert (await api.error(ORDER, {"id": oid}))["extensions"]["code"] == "UNAUTHENTICATED"


async def test_orders_lists_own_and_admin_all_with_pages(
    api: Any, shop: dict[str, Any], place_order: Any
) -> None:
    vid = shop["product"]["variant_ids"][0]
    mine = [await place_order(shop["alice"], [(vid, 1)]) for _ in range(3)]
    await place_order(shop["bob"], [(vid, 1)])
    await api.ok(TRANSITION, {"id": mine[0]["id"], "to": "CANCELED"}, token=shop["alice"].token)
    data = (await api.ok(ORDERS, {"first": 2}, token=shop["alice"].token))["orders"]
    assert data["totalCount"] == 3
    assert data["pageInfo"]["hasNextPage"] is True
    ids = [e["node"]["id"] for e in data["edges"]]
    rest = (
        await api.ok(ORDERS, {"first": 2, "after": data["pageInfo"]["endCursor"]}, token=shop["alice"].token)
    )["orders"]
    ids += [e["node"]["id"] for e in rest["edges"]]
    assert ids == [o["id"] for o in reversed(mine)]  # newest first, nothing twice, nothing missed
    assert rest["pageInfo"]["hasNextPage"] is False
    canceled = (await api.ok(ORDERS, {"status": "CANCELED"}, token=shop["alice"].token))["orders"]
    assert [e["node"]["id"] for e in canceled["edges"]] == [mine[0]["id"]]
    assert (await api.ok(ORDERS, {}, token=shop["admin"].token))["orders"]["totalCount"] == 4
    assert (await api.ok(ORDERS, {}, token=shop["bob"].token))["orders"]["totalCount"] == 1
    too_many = await api.error(ORDERS, {"first": 101}, token=shop["alice"].token)
    assert too_many["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_reorder_reasons_and_quantities(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any, make_product: Any
) -> None:
    designer = shop["designer"]
    kept = await make_product(designer.designer_id, title="Kept", variants=[("KEEP-1", "M", None, 10, None)])
    low = await make_product(designer.designer_id, title="Low", variants=[("LOW-1", "M", None, 10, None)])
    gone = await make_product(designer.designer_id, title="Gone", variants=[("GONE-1", "M", None, 10, None)])
    hidden = await make_product(
        designer.designer_id, title="Hidden", variants=[("HIDE-1", "M", None, 10, None)]
    )
    empty = await make_product(
        designer.designer_id, title="Empty", variants=[("EMPTY-1", "M", None, 10, None)]
    )
    order = await place_order(
        shop["alice"],
        [
            (kept["variant_ids"][0], 2),
            (low["variant_ids"][0], 5),
            (gone["variant_ids"][0], 1),
            (hidden["variant_ids"][0], 1),
            (empty["variant_ids"][0], 3),
        ],
    )
    await set_on_hand(db, low["variant_ids"][0], 2)
    await db.execute("UPDATE products SET deleted_at = now() WHERE id = $1", gone["id"])
    await db.execute("UPDATE products SET status = 'REJECTED' WHERE id = $1", hidden["id"])
    await set_on_hand(db, empty["variant_ids"][0], 0)

    result = (await api.ok(REORDER, {"id": order["id"]}, token=shop["alice"].token))["reorder"]
    assert result["available"] == [
        {"variant": {"sku": "KEEP-1"}, "requestedQuantity": 2, "quantity": 2},
        {"variant": {"sku": "LOW-1"}, "requestedQuantity": 5, "quantity": 2},
    ]
    assert {(u["sku"], u["reason"], u["requestedQuantity"]) for u in result["unavailable"]} == {
        ("GONE-1", "PRODUCT_REMOVED", 1),
        ("HIDE-1", "NOT_APPROVED", 1),
        ("EMPTY-1", "OUT_OF_STOCK", 3),
    }
    assert result["cart"]["itemCount"] == 0  # without addToCart nothing is added

    added = (await api.ok(REORDER, {"id": order["id"], "add": True}, token=shop["alice"].token))["reorder"]
    assert {(i["variant"]["sku"], i["quantity"]) for i in added["cart"]["items"]} == {
        ("KEEP-1", 2),
        ("LOW-1", 2),
    }
    error = await api.error(REORDER, {"id": order["id"]}, token=shop["bob"].token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_designer_stats(api: Any, shop: dict[str, Any], place_order: Any) -> None:
    s_id, m_id = shop["product"]["variant_ids"]
    first = await place_order(shop["alice"], [(s_id, 2), (shop["other"]["variant_ids"][0], 1)])
    second = await place_order(shop["bob"], [(m_id, 1)])
    for to in ("PROCESSING", "SHIPPED", "DELIVERED"):
        parcel = PARCEL if to == "SHIPPED" else None
        await api.ok(
            TRANSITION, {"id": second["id"], "to": to, "tracking": parcel}, token=shop["admin"].token
        )
    stats = (await api.ok(STATS, token=shop["designer"].token))["designerStats"]
    assert stats["ordersCount"] == 2
    assert stats["unitsSold"] == 3
    assert stats["grossSales"]["amount"] == 2 * 100000 + 120000
    assert stats["commissionEarned"]["amount"] == 120000 * 2000 // 10000
    assert stats["commissionPending"]["amount"] == 200000 * 2000 // 10000
    await api.ok(TRANSITION, {"id": first["id"], "to": "CANCELED"}, token=shop["admin"].token)
    after = (await api.ok(STATS, token=shop["designer"].token))["designerStats"]
    assert after["ordersCount"] == 1
    assert after["commissionPending"]["amount"] == 0
    assert (await api.error(STATS, token=shop["alice"].token))["extensions"]["code"] == "FORBIDDEN"


async def test_audit_log_tells_the_story_of_an_order(
    api: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    response = await api.post(
        TRANSITION,
        {"id": order["id"], "to": "PROCESSING", "note": "packed"},
        token=shop["admin"].token,
        x_request_id="req-audit-1",
        user_agent="ops-console/1.0",
    )
    assert response.status_code == 200
    await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED"}, token=shop["alice"].token)
    data = (
        await api.ok(
            AUDIT, {"f": {"targetType": "Order", "targetId": order["id"]}}, token=shop["admin"].token
        )
    )["auditLog"]
    actions = [e["node"]["action"] for e in data["edges"]]
    assert actions == ["order.cancelled", "order.transitioned", "order.created"]
    transitioned = data["edges"][1]["node"]
    assert transitioned["actor"] == {"id": str(shop["admin"].id)}
    assert transitioned["requestId"] == "req-audit-1"
    assert transitioned["ip"] == "203.0.113.7"
    assert transitioned["userAgent"] == "ops-console/1.0"
    assert transitioned["changes"]["status"] == {"from": "PENDING", "to": "PROCESSING"}
    assert transitioned["changes"]["note"] == "packed"
    cancelled = data["edges"][0]["node"]
    assert cancelled["changes"]["refund"] == {"amount": 100000}
    assert "restocked" in cancelled["changes"]
    refunds = (await api.ok(AUDIT, {"f": {"action": "refund.processed"}}, token=shop["admin"].token))[
        "auditLog"
    ]
    assert refunds["totalCount"] == 1
    page = (await api.ok(AUDIT, {"first": 2}, token=shop["admin"].token))["auditLog"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert (await api.error(AUDIT, {}, token=shop["alice"].token))["extensions"]["code"] == "FORBIDDEN"
    assert (await api.error(AUDIT, {}, token=shop["designer"].token))["extensions"]["code"] == "FORBIDDEN"


async def test_failed_transition_leaves_no_audit_entry(
    api: Any, db: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    before = await db.fetchval("SELECT count(*) FROM audit_entries")
    await api.error(TRANSITION, {"id": order["id"], "to": "DELIVERED"}, token=shop["admin"].token)
    await api.error(TRANSITION, {"id": order["id"], "to": "PROCESSING"}, token=shop["alice"].token)
    assert await db.fetchval("SELECT count(*) FROM audit_entries") == before
