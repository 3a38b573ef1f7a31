"""12.11 (smaller): setStock answers a variant the caller cannot see exactly as a missing one, and a
designer calling transitionOrder hears nothing of the lifecycle: since 12.3 an order is not a
designer's to see at all, so it is NOT_FOUND, the missing order's answer (the policy still puts
FORBIDDEN before INVALID_TRANSITION for a caller who sees an order and may not move it)."""

from __future__ import annotations

from typing import Any

import asyncpg

SET_STOCK = "mutation($v: ID!) { setStock(input: {variantId: $v, stock: 5}) { id stock } }"
TRANSITION = (
    "mutation($id: ID!, $to: OrderStatus!) { transitionOrder(input: {orderId: $id, to: $to}) { id } }"
)


async def test_set_stock_on_another_designers_hidden_variant_is_the_missing_variant_answer(
    api: Any, make_user: Any, make_product: Any, db: asyncpg.Connection
) -> None:
    me, other = await make_user("DESIGNER"), await make_user("DESIGNER")
    missing = await api.error(SET_STOCK, {"v": "999999"}, token=me.token)
    assert missing["extensions"]["code"] == "NOT_FOUND"
    for status in ("DRAFT", "PENDING_REVIEW", "REJECTED"):
        hidden = await make_product(other.designer_id, status=status)
        theirs = await api.error(SET_STOCK, {"v": str(hidden["variant_ids"][0])}, token=me.token)
        assert theirs["message"] == missing["message"], (status, theirs)
        assert theirs["extensions"] == {
            **missing["extensions"],
            "requestId": theirs["extensions"]["requestId"],
        }
    # An approved variant is public: changing it is FORBIDDEN (API.md), which reveals nothing new.
    approved = await make_product(other.designer_id, status="APPROVED")
    forbidden = await api.error(SET_STOCK, {"v": str(approved["variant_ids"][0])}, token=me.token)
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT array_agg(DISTINCT stock) FROM variants") == [10]
    own = await make_product(me.designer_id, status="DRAFT")
    changed = await api.ok(SET_STOCK, {"v": str(own["variant_ids"][0])}, token=me.token)
    assert changed["setStock"]["stock"] == 5


async def test_a_designer_hears_nothing_of_the_lifecycle(
    api: Any, shop: dict[str, Any], place_order: Any
) -> None:
    order = await place_order(shop["alice"], [(shop["product"]["variant_ids"][0], 1)])
    designer = shop["designer"]
    missing = await api.error(TRANSITION, {"id": "999999", "to": "PROCESSING"}, token=designer.token)
    # PENDING -> DELIVERED is no move of the lifecycle; PENDING -> PROCESSING is one, but not theirs.
    for target in ("DELIVERED", "PROCESSING", "REFUNDED"):
        error = await api.error(TRANSITION, {"id": order["id"], "to": target}, token=designer.token)
        assert error["extensions"]["code"] == "NOT_FOUND", (target, error)
        assert error["message"] == missing["message"]
        assert "allowed" not in error["extensions"]
    # The lifecycle still answers those who may move the order.
    admin = await api.error(TRANSITION, {"id": order["id"], "to": "DELIVERED"}, token=shop["admin"].token)
    assert admin["extensions"]["code"] == "INVALID_TRANSITION"
