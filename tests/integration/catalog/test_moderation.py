"""Catalog moderation (issue 12 item 4): an approved product's content edits wait for review as
pendingChanges while the approved content stays live; price changes apply at once, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

UPDATE = """mutation($i: UpdateProductInput!) { updateProduct(input: $i) {
  id title description category images status price { amount } variants { sku }
  pendingChanges { title description category images submittedAt
                   addVariants { sku size color stock price { amount } } } } }"""
REVIEW = """mutation($id: ID!, $d: ReviewDecision!, $r: String) {
  reviewProduct(input: {productId: $id, decision: $d, reason: $r}) {
    id title description status rejectionReason variants { sku } pendingChanges { title } } }"""
PRODUCT = """query($id: ID!) { product(id: $id) { id title description category images status
  price { amount } variants { sku } pendingChanges { title addVariants { sku } } } }"""
PRODUCTS = "{ products { edges { node { id title variants { sku } } } } }"


@pytest.fixture
async def live(make_user: Any, make_product: Any) -> dict[str, Any]:
    designer = await make_user("DESIGNER")
    product = await make_product(
        designer.designer_id,
        title="Indigo kurta",
        description="Handwoven cotton",
        category="Kurta",
        price=100000,
        status="APPROVED",
        variants=[("IND-M", "M", "Indigo", 5, None)],
    )
    return {
        "designer": designer,
        "other": await make_user("DESIGNER"),
        "admin": await make_user("ADMIN"),
        "customer": await make_user(),
        "id": str(product["id"]),
    }


EDIT = {
    "title": "Indigo kurta — now with pockets",
    "description": "Pockets!",
    "category": "Kurtas",
    "images": ["https://img.example.com/new.jpg"],
    "addVariants": [{"sku": "IND-XL", "size": "XL", "color": "Indigo", "stock": 3, "price": 110000}],
}


async def _live_view(api: Any, pid: str) -> dict[str, Any]:
    product = (await api.ok(PRODUCT, {"id": pid}))["product"]
    listed = (await api.ok(PRODUCTS))["products"]["edges"]
    assert [e["node"]["id"] for e in listed] == [pid]
    return {**product, "listedTitle": listed[0]["node"]["title"]}


async def test_content_edits_wait_for_review_and_the_approved_content_stays_live(
    api: Any, db: Any, live: dict[str, Any]
) -> None:
    pid, designer = live["id"], live["designer"]
    result = (await api.ok(UPDATE, {"i": {"productId": pid, **EDIT}}, token=designer.token))["updateProduct"]
    assert result["status"] == "APPROVED"
    assert result["title"] == "Indigo kurta" and result["variants"] == [{"sku": "IND-M"}]
    pending = result["pendingChanges"]
    assert pending["title"] == EDIT["title"]
    assert pending["description"] == "Pockets!" and pending["category"] == "Kurtas"
    assert pending["images"] == EDIT["images"]
    assert pending["addVariants"] == [
        {"sku": "IND-XL", "size": "XL", "color": "Indigo", "stock": 3, "price": {"amount": 110000}}
    ]
    assert pending["submittedAt"]

    # Anonymous callers (and the catalog page) still see exactly what was approved.
    seen = await _live_view(api, pid)
    assert seen["title"] == seen["listedTitle"] == "Indigo kurta"
    assert (seen["description"], seen["category"], seen["images"]) == ("Handwoven cotton", "Kurta", [])
    assert seen["variants"] == [{"sku": "IND-M"}] and seen["status"] == "APPROVED"
    assert seen["pendingChanges"] is None
    assert await db.fetchval("SELECT count(*) FROM variants WHERE sku = 'IND-XL'") == 0

    # A second edit joins the first: a field given again replaces its pending value.
    again = await api.ok(
        UPDATE,
        {"i": {"productId": pid, "title": "Indigo kurta II", "addVariants": [{"sku": "IND-S", "stock": 1}]}},
        token=designer.token,
    )
    pending = again["updateProduct"]["pendingChanges"]
    assert pending["title"] == "Indigo kurta II" and pending["description"] == "Pockets!"
    assert [v["sku"] for v in pending["addVariants"]] == ["IND-XL", "IND-S"]
    # The same new SKU twice, or one a variant has already, is refused at once.
    for sku in ("IND-XL", "IND-M"):
        bad = await api.error(
            UPDATE, {"i": {"productId": pid, "addVariants": [{"sku": sku, "stock": 1}]}}, token=designer.token
        )
        assert bad["extensions"]["code"] == "BAD_USER_INPUT"
        assert bad["extensions"]["fields"][0]["field"] == "addVariants[0].sku"

    # The admin approves: the edits go live, the product stays APPROVED, nothing waits any more.
    approved = (await api.ok(REVIEW, {"id": pid, "d": "APPROVE"}, token=live["admin"].token))["reviewProduct"]
    assert approved["status"] == "APPROVED" and approved["pendingChanges"] is None
    seen = await _live_view(api, pid)
    assert seen["title"] == seen["listedTitle"] == "Indigo kurta II"
    assert (seen["description"], seen["category"], seen["images"]) == ("Pockets!", "Kurtas", EDIT["images"])
    assert [v["sku"] for v in seen["variants"]] == ["IND-M", "IND-XL", "IND-S"]
    assert await db.fetchval("SELECT price FROM variants WHERE sku = 'IND-XL'") == 110000
    actions = [
        r["action"]
        for r in await db.fetch("SELECT action FROM audit_entries WHERE target_type = 'Product' ORDER BY id")
    ]
    assert actions == ["product.updated", "product.updated", "product.changes_approved"]


async def test_rejecting_pending_changes_discards_them_and_keeps_the_product_listed(
    api: Any, db: Any, live: dict[str, Any]
) -> None:
    pid, admin = live["id"], live["admin"]
    await api.ok(UPDATE, {"i": {"productId": pid, **EDIT}}, token=live["designer"].token)
    missing = await api.error(REVIEW, {"id": pid, "d": "REJECT"}, token=admin.token)
    assert missing["extensions"]["code"] == "BAD_USER_INPUT"  # a reason is required

    rejected = (
        await api.ok(REVIEW, {"id": pid, "d": "REJECT", "r": "No pockets in the photos"}, token=admin.token)
    )["reviewProduct"]
    assert rejected["status"] == "APPROVED" and rejected["pendingChanges"] is None
    assert rejected["rejectionReason"] == "No pockets in the photos"
    seen = await _live_view(api, pid)
    assert seen["title"] == "Indigo kurta" and seen["variants"] == [{"sku": "IND-M"}]
    assert await db.fetchval("SELECT pending_changes FROM products WHERE id = $1", int(pid)) is None
    entry = await db.fetchrow(
        "SELECT action, changes FROM audit_entries WHERE target_type = 'Product' ORDER BY id DESC LIMIT 1"
    )
    assert entry["action"] == "product.changes_rejected"
    assert json.loads(entry["changes"]) == {"reason": "No pockets in the photos"}

    # With nothing pending, REJECT delists the approved product (as before).
    delisted = (await api.ok(REVIEW, {"id": pid, "d": "REJECT", "r": "Gone"}, token=admin.token))[
        "reviewProduct"
    ]
    assert delisted["status"] == "REJECTED"
    assert (await api.ok(PRODUCT, {"id": pid}))["product"] is None


async def test_price_changes_apply_at_once_audited_and_big_moves_flagged(
    api: Any, db: Any, live: dict[str, Any]
) -> None:
    pid, designer = live["id"], live["designer"]

    async def last_update() -> dict[str, Any]:
        raw = await db.fetchval(
            "SELECT changes FROM audit_entries WHERE action = 'product.updated' ORDER BY id DESC LIMIT 1"
        )
        return dict(json.loads(raw))

    small = (await api.ok(UPDATE, {"i": {"productId": pid, "price": 105000}}, token=designer.token))[
        "updateProduct"
    ]
    assert small["price"] == {"amount": 105000} and small["pendingChanges"] is None
    assert (await api.ok(PRODUCT, {"id": pid}))["product"]["price"] == {"amount": 105000}
    changes = await last_update()
    assert changes["price"] == {"from": 100000, "to": 105000} and "priceAlert" not in changes

    # A price with a content edit: the price goes live, the title waits.
    big = (
        await api.ok(
            UPDATE, {"i": {"productId": pid, "price": 60000, "title": "Sale!"}}, token=designer.token
        )
    )["updateProduct"]
    assert big["price"] == {"amount": 60000} and big["title"] == "Indigo kurta"
    assert big["pendingChanges"]["title"] == "Sale!"
    changes = await last_update()
    assert changes["price"] == {"from": 105000, "to": 60000} and changes["priceAlert"] is True
    assert changes["pendingChanges"] == {"title": "Sale!"}
    seen = (await api.ok(PRODUCT, {"id": pid}))["product"]
    assert seen["price"] == {"amount": 60000} and seen["title"] == "Indigo kurta"


async def test_pending_changes_are_seen_by_the_designer_and_admins_only(
    api: Any, live: dict[str, Any]
) -> None:
    pid = live["id"]
    await api.ok(UPDATE, {"i": {"productId": pid, "title": "Secret new title"}}, token=live["designer"].token)
    for who, sees in (
        ("designer", True),
        ("admin", True),
        ("other", False),
        ("customer", False),
    ):
        product = (await api.ok(PRODUCT, {"id": pid}, token=live[who].token))["product"]
        assert product["title"] == "Indigo kurta", who
        got = product["pendingChanges"]
        assert (got["title"] if got else None) == ("Secret new title" if sees else None), who
    anonymous = await api(PRODUCT, {"id": pid})
    assert anonymous["data"]["product"]["pendingChanges"] is None
    assert "Secret new title" not in json.dumps(anonymous)
    # Another designer may not change the approved product at all (FORBIDDEN, as before).
    other = await api.error(UPDATE, {"i": {"productId": pid, "title": "Mine"}}, token=live["other"].token)
    assert other["extensions"]["code"] == "FORBIDDEN"


async def test_edits_of_a_product_not_yet_approved_apply_at_once(
    api: Any, make_product: Any, live: dict[str, Any]
) -> None:
    draft = await make_product(live["designer"].designer_id, title="Draft", status="DRAFT")
    result = (
        await api.ok(
            UPDATE, {"i": {"productId": str(draft["id"]), "title": "Draft 2"}}, token=live["designer"].token
        )
    )["updateProduct"]
    assert result["title"] == "Draft 2" and result["pendingChanges"] is None
