"""Every stock change writes its movement, and ``stockMovements`` explains a variant's stock."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.support.documents import TRANSITION

MOVEMENTS = """query($v: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  stockMovements(variantId: $v, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { delta heldDelta reason stockAfter orderNumber note } }
    pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }"""
SET_STOCK = """mutation($v: ID!, $s: Int!, $note: String) {
  setStock(input: {variantId: $v, stock: $s, note: $note}) { stock } }"""
CREATE = """mutation($d: ID) { createProduct(input: {title: "Ledger kurta", description: "d", category: "Kurta",
  price: 50000, designerId: $d, variants: [{sku: "LED-1", size: "M", color: "Red", stock: 7}]}) {
  variants { id stock } } }"""


def reasons(body: Any) -> list[tuple[str, int, int]]:
    return [
        (e["node"]["reason"], e["node"]["delta"], e["node"]["stockAfter"])
        for e in body["stockMovements"]["edges"]
    ]


async def test_every_change_is_a_movement_and_the_sum_is_the_stock(
    api: Any, shop: dict[str, Any], place_order: Any, db: asyncpg.Connection
) -> None:
    designer, admin, alice = shop["designer"], shop["admin"], shop["alice"]
    made = await api.ok(CREATE, token=designer.token)
    new_variant = made["createProduct"]["variants"][0]["id"]
    assert reasons(await api.ok(MOVEMENTS, {"v": new_variant}, token=designer.token)) == [("INITIAL", 7, 7)]

    vid = shop["product"]["variant_ids"][0]
    await api.ok(SET_STOCK, {"v": str(vid), "s": 6, "note": "one damaged in the shop"}, token=designer.token)
    order = await place_order(alice, [(vid, 2)])
    await api.ok(TRANSITION, {"id": order["id"], "to": "CANCELED", "note": None}, token=admin.token)

    body = await api.ok(MOVEMENTS, {"v": str(vid)}, token=designer.token)
    # startCheckout held the two units (no change on hand), the sale sold them, the cancel put them back.
    assert reasons(body) == [
        ("CANCEL_RESTOCK", 2, 6),
        ("SALE", -2, 4),
        ("HOLD", 0, 6),
        ("SET", -4, 6),
        ("INITIAL", 10, 10),
    ]
    nodes = [e["node"] for e in body["stockMovements"]["edges"]]
    assert nodes[0]["orderNumber"] == nodes[1]["orderNumber"] == order["number"]
    assert nodes[3]["note"] == "one damaged in the shop"
    stock = await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid)
    assert stock == sum(n["delta"] for n in nodes) == nodes[0]["stockAfter"]


async def test_designer_of_the_variant_or_an_admin_only(api: Any, shop: dict[str, Any]) -> None:
    vid = str(shop["product"]["variant_ids"][0])
    assert reasons(await api.ok(MOVEMENTS, {"v": vid}, token=shop["admin"].token)) == [("INITIAL", 10, 10)]
    # Another designer and a customer can see the approved product, so they are refused, not misled.
    for who in ("other_designer", "alice"):
        error = await api.error(MOVEMENTS, {"v": vid}, token=shop[who].token)
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await api.error(MOVEMENTS, {"v": vid}))["extensions"]["code"] == "UNAUTHENTICATED"
    missing = await api.error(MOVEMENTS, {"v": "999999"}, token=shop["admin"].token)
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_pages_forward_and_back(api: Any, shop: dict[str, Any]) -> None:
    designer = shop["designer"]
    vid = str(shop["product"]["variant_ids"][0])
    for stock in (11, 12, 13, 14):
        await api.ok(SET_STOCK, {"v": vid, "s": stock}, token=designer.token)
    first = (await api.ok(MOVEMENTS, {"v": vid, "first": 2}, token=designer.token))["stockMovements"]
    assert [e["node"]["stockAfter"] for e in first["edges"]] == [14, 13]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    second = (
        await api.ok(
            MOVEMENTS, {"v": vid, "first": 5, "after": first["pageInfo"]["endCursor"]}, token=designer.token
        )
    )["stockMovements"]
    assert [e["node"]["stockAfter"] for e in second["edges"]] == [12, 11, 10]
    assert not second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    back = (
        await api.ok(
            MOVEMENTS,
            {"v": vid, "last": 2, "before": second["pageInfo"]["startCursor"]},
            token=designer.token,
        )
    )["stockMovements"]
    assert [e["node"]["stockAfter"] for e in back["edges"]] == [14, 13]


async def test_the_ledger_is_append_only(shop: dict[str, Any], db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute("UPDATE stock_movements SET delta = 99")
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute("DELETE FROM stock_movements")


async def test_a_movement_its_reason_does_not_allow_is_refused(
    shop: dict[str, Any], db: asyncpg.Connection
) -> None:
    vid = shop["product"]["variant_ids"][0]
    with pytest.raises(asyncpg.CheckViolationError, match="delta_fits_reason"):
        await db.execute(
            "INSERT INTO stock_movements (variant_id, reason, delta, stock_after) VALUES ($1, 'SALE', 3, 13)",
            vid,
        )
