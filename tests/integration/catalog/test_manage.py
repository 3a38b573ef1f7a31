"""createProduct, updateProduct, submitProduct, reviewProduct, deleteProduct, setStock: rules and audit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.support.assertions import audit_rows, bad_fields
from tests.support.documents import PRODUCT_FIELDS

CREATE = "mutation($input: CreateProductInput!) { createProduct(input: $input) { %s } }" % PRODUCT_FIELDS
UPDATE = "mutation($input: UpdateProductInput!) { updateProduct(input: $input) { %s } }" % PRODUCT_FIELDS
SUBMIT = "mutation($id: ID!) { submitProduct(productId: $id) { id status } }"
REVIEW = (
    "mutation($input: ReviewProductInput!) { reviewProduct(input: $input) { id status rejectionReason } }"
)
DELETE = "mutation($id: ID!) { deleteProduct(productId: $id) }"
SET_STOCK = (
    "mutation($input: SetStockInput!) { setStock(input: $input) { id sku stock inStock price { amount } } }"
)
PRODUCT = "query($id: ID!) { product(id: $id) { id title status rejectionReason } }"
PRODUCTS = (
    "query($f: ProductFilter) { products(filter: $f, first: 100) { totalCount edges { node { id } } } }"
)


def product_input(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Chanderi Kurta",
        "description": "Light chanderi\nwith zari border",
        "category": "Kurta",
        "price": 249900,
        "images": ["https://cdn.example.com/k1.jpg"],
        "variants": [
            {"sku": f"CK-S-{uuid.uuid4().hex[:6]}", "size": "S", "color": "Ivory", "stock": 4},
            {
                "sku": f"CK-M-{uuid.uuid4().hex[:6]}",
                "size": "M",
                "color": "Ivory",
                "stock": 0,
                "price": 259900,
            },
        ],
    }
    return {**base, **over}


async def call(
    api: Any, query: str, variables: dict[str, Any], token: str | None, rid: str
) -> dict[str, Any]:
    body: dict[str, Any] = await api(query, variables, token=token, X_Request_Id=rid)
    return body


def assert_audited(entry: dict[str, Any], *, actor: Any, target: tuple[str, int], rid: str, ip: str) -> None:
    assert entry["actor_id"] == actor.id
    assert (entry["target_type"], entry["target_id"]) == (target[0], str(target[1]))
    assert entry["request_id"] == rid
    assert entry["ip"] == ip
    assert entry["user_agent"].startswith("python-httpx/")


# --- createProduct --------------------------------------------------------------------------------


async def test_designer_creates_a_draft_of_its_own(api: Any, db: Any, make_user: Any, client_ip: str) -> None:
    designer = await make_user("DESIGNER", name="Weaver's Loom")
    other = await make_user("DESIGNER")
    spec = product_input()
    body = await call(api, CREATE, {"input": spec}, designer.token, "req-create-1")
    assert not body.get("errors"), body
    product = body["data"]["createProduct"]
    assert product["status"] == "DRAFT"
    assert product["designer"] == {"id": str(designer.designer_id), "name": "Weaver's Loom"}
    assert product["slug"] == "chanderi-kurta"
    assert product["price"]["amount"] == 249900
    assert product["images"] == spec["images"]
    assert [(v["sku"], v["size"], v["stock"], v["price"]["amount"]) for v in product["variants"]] == [
        (spec["variants"][0]["sku"], "S", 4, 249900),
        (spec["variants"][1]["sku"], "M", 0, 259900),
    ]
    assert product["inStock"] is True

    [entry] = await audit_rows(db, "product.created")
    assert_audited(
        entry, actor=designer, target=("Product", int(product["id"])), rid="req-create-1", ip=client_ip
    )
    assert entry["changes"]["title"] == "Chanderi Kurta"
    assert entry["changes"]["price"] == 249900
    assert entry["changes"]["variants"] == [v["sku"] for v in spec["variants"]]

    # A draft is the designer's own business until approved.
    assert (await api.ok(PRODUCT, {"id": product["id"]}))["product"] is None
    assert (await api.ok(PRODUCT, {"id": product["id"]}, token=other.token))["product"] is None
    assert (await api.ok(PRODUCT, {"id": product["id"]}, token=designer.token))["product"][
        "status"
    ] == "DRAFT"

    # The same title again gets a slug of its own.
    again = await api.ok(CREATE, {"input": product_input()}, token=designer.token)
    assert again["createProduct"]["slug"].startswith("chanderi-kurta-")
    assert again["createProduct"]["slug"] != product["slug"]


async def test_a_designer_cannot_create_for_another_designer(api: Any, make_user: Any) -> None:
    designer = await make_user("DESIGNER")
    other = await make_user("DESIGNER")
    error = await api.error(
        CREATE, {"input": product_input(designerId=str(other.designer_id))}, token=designer.token
    )
    assert bad_fields(error) == {"designerId"}
    # Naming itself is fine.
    data = await api.ok(
        CREATE, {"input": product_input(designerId=str(designer.designer_id))}, token=designer.token
    )
    assert data["createProduct"]["designer"]["id"] == str(designer.designer_id)


async def test_admin_must_name_the_designer(api: Any, db: Any, make_user: Any, client_ip: str) -> None:
    admin = await make_user("ADMIN")
    designer = await make_user("DESIGNER")
    error = await api.error(CREATE, {"input": product_input()}, token=admin.token)
    assert bad_fields(error) == {"designerId"}
    error = await api.error(CREATE, {"input": product_input(designerId="424242")}, token=admin.token)
    assert bad_fields(error) == {"designerId"}
    assert await db.fetchval("SELECT count(*) FROM products") == 0

    body = await call(
        api,
        CREATE,
        {"input": product_input(designerId=str(designer.designer_id))},
        admin.token,
        "req-admin-create",
    )
    product = body["data"]["createProduct"]
    assert product["designer"]["id"] == str(designer.designer_id)
    assert product["status"] == "DRAFT"
    [entry] = await audit_rows(db, "product.created")
    assert_audited(
        entry, actor=admin, target=("Product", int(product["id"])), rid="req-admin-create", ip=client_ip
    )


async def test_customers_and_anonymous_cannot_create(api: Any, db: Any, make_user: Any) -> None:
    customer = await make_user()
    error = await api.error(CREATE, {"input": product_input()}, token=customer.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(CREATE, {"input": product_input()})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await db.fetchval("SELECT count(*) FROM products") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_entries") == 0


@pytest.mark.parametrize(
    ("over", "fields"),
    [
        ({"title": "   "}, {"title"}),
        ({"title": "x" * 201}, {"title"}),
        ({"category": ""}, {"category"}),
        ({"description": "d" * 5001}, {"description"}),
        ({"price": -1}, {"price"}),
        ({"images": ["javascript:alert(1)"]}, {"images[0]"}),
        ({"variants": []}, {"variants"}),
        ({"variants": [{"sku": "bad sku!", "stock": 1}]}, {"variants[0].sku"}),
        ({"variants": [{"sku": "OK-1", "stock": -1}]}, {"variants[0].stock"}),
        ({"variants": [{"sku": "OK-1", "stock": 1, "price": -100}]}, {"variants[0].price"}),
        ({"variants": [{"sku": "OK-1", "stock": 1, "size": " "}]}, {"variants[0].size"}),
        ({"variants": [{"sku": "DUP-1", "stock": 1}, {"sku": "dup-1", "stock": 1}]}, {"variants[1].sku"}),
        ({"title": "", "price": -5, "variants": []}, {"title", "price", "variants"}),
        # PostgreSQL refuses NUL in text: each must be a validation error, not a 500.
        ({"title": "Kurta\x00"}, {"title"}),
        ({"category": "Ku\x00rta"}, {"category"}),
        ({"description": "nul \x00 here"}, {"description"}),
        ({"images": ["https://cdn.example.com/\x00.jpg"]}, {"images[0]"}),
        (
            {"variants": [{"sku": "OK-1", "stock": 1, "size": "M\x00", "color": "\x00"}]},
            {"variants[0].size", "variants[0].color"},
        ),
    ],
)
async def test_create_validation(
    api: Any, db: Any, make_user: Any, over: dict[str, Any], fields: set[str]
) -> None:
    designer = await make_user("DESIGNER")
    error = await api.error(CREATE, {"input": product_input(**over)}, token=designer.token)
    assert bad_fields(error) == fields
    assert await db.fetchval("SELECT count(*) FROM products") == 0


async def test_duplicate_sku_is_bad_user_input_and_creates_nothing(
    api: Any, db: Any, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, variants=[("TAKEN-1", "M", "Blue", 1, None)])
    error = await api.error(
        CREATE, {"input": product_input(variants=[{"sku": "TAKEN-1", "stock": 2}])}, token=designer.token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert {f["field"] for f in error["extensions"]["fields"]} <= {"variants.sku", "variants[0].sku"}
    assert await db.fetchval("SELECT count(*) FROM products") == 1
    assert await audit_rows(db, "product.created") == []


# --- updateProduct --------------------------------------------------------------------------------


@pytest.fixture
async def owned(make_user: Any, make_product: Any) -> dict[str, Any]:
    designer = await make_user("DESIGNER")
    other = await make_user("DESIGNER")
    admin = await make_user("ADMIN")
    customer = await make_user()
    product = await make_product(
        designer.designer_id,
        title="Ajrakh Kurta",
        price=150000,
        status="DRAFT",
        variants=[("AJ-M", "M", "Indigo", 3, None)],
    )
    return {"designer": designer, "other": other, "admin": admin, "customer": customer, "product": product}


async def test_update_own_product(api: Any, db: Any, owned: dict[str, Any], client_ip: str) -> None:
    designer, pid = owned["designer"], owned["product"]["id"]
    body = await call(
        api,
        UPDATE,
        {
            "input": {
                "productId": str(pid),
                "title": "Ajrakh Angrakha",
                "price": 175000,
                "addVariants": [{"sku": "AJ-L", "size": "L", "color": "Indigo", "stock": 2}],
            }
        },
        designer.token,
        "req-update-1",
    )
    assert not body.get("errors"), body
    product = body["data"]["updateProduct"]
    assert product["title"] == "Ajrakh Angrakha"
    assert product["price"]["amount"] == 175000
    assert product["description"] == "Handwoven cotton"  # untouched fields stay
    assert [v["sku"] for v in product["variants"]] == ["AJ-M", "AJ-L"]

    [entry] = await audit_rows(db, "product.updated")
    assert_audited(entry, actor=designer, target=("Product", pid), rid="req-update-1", ip=client_ip)
    assert entry["changes"]["title"] == {"from": "Ajrakh Kurta", "to": "Ajrakh Angrakha"}
    assert entry["changes"]["price"] == {"from": 150000, "to": 175000}
    assert "description" not in entry["changes"]
    assert entry["changes"]["addedVariants"] == ["AJ-L"]

    # The search vector follows the new title.
    found = await api.ok(PRODUCTS, {"f": {"search": "angrakha"}}, token=designer.token)
    assert [e["node"]["id"] for e in found["products"]["edges"]] == [str(pid)]


async def test_update_permissions(api: Any, db: Any, owned: dict[str, Any]) -> None:
    pid = str(owned["product"]["id"])
    error = await api.error(
        UPDATE, {"input": {"productId": pid, "title": "Mine now"}}, token=owned["other"].token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(
        UPDATE, {"input": {"productId": pid, "title": "Mine now"}}, token=owned["customer"].token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(UPDATE, {"input": {"productId": pid, "title": "Mine now"}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error(
        UPDATE, {"input": {"productId": "99999", "title": "x"}}, token=owned["designer"].token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await db.fetchval("SELECT title FROM products WHERE id = $1", int(pid)) == "Ajrakh Kurta"

    data = await api.ok(
        UPDATE, {"input": {"productId": pid, "category": "Angrakha"}}, token=owned["admin"].token
    )
    assert data["updateProduct"]["category"] == "Angrakha"
    [entry] = await audit_rows(db, "product.updated")
    assert entry["actor_id"] == owned["admin"].id


async def test_update_validation_and_duplicate_sku(api: Any, db: Any, owned: dict[str, Any]) -> None:
    pid, token = str(owned["product"]["id"]), owned["designer"].token
    error = await api.error(UPDATE, {"input": {"productId": pid, "title": " ", "price": -1}}, token=token)
    assert bad_fields(error) == {"title", "price"}
    error = await api.error(
        UPDATE, {"input": {"productId": pid, "addVariants": [{"sku": "AJ-M", "stock": 1}]}}, token=token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert {f["field"] for f in error["extensions"]["fields"]} <= {"addVariants.sku", "addVariants[0].sku"}
    assert await db.fetchval("SELECT count(*) FROM variants WHERE product_id = $1", int(pid)) == 1
    assert await audit_rows(db, "product.updated") == []


# --- the review workflow ----------------------------------------------------------------------------


async def test_submit_review_approve_and_delist(
    api: Any, db: Any, owned: dict[str, Any], client_ip: str
) -> None:
    designer, admin, pid = owned["designer"], owned["admin"], owned["product"]["id"]
    body = await call(api, SUBMIT, {"id": str(pid)}, designer.token, "req-submit")
    assert body["data"]["submitProduct"] == {"id": str(pid), "status": "PENDING_REVIEW"}
    [entry] = await audit_rows(db, "product.submitted")
    assert_audited(entry, actor=designer, target=("Product", pid), rid="req-submit", ip=client_ip)
    assert entry["changes"]["status"] == {"from": "DRAFT", "to": "PENDING_REVIEW"}

    error = await api.error(SUBMIT, {"id": str(pid)}, token=designer.token)
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["from"] == "PENDING_REVIEW"
    assert error["extensions"]["to"] == "PENDING_REVIEW"
    assert isinstance(error["extensions"]["allowed"], list)

    assert (await api.ok(PRODUCT, {"id": str(pid)}))["product"] is None
    body = await call(
        api, REVIEW, {"input": {"productId": str(pid), "decision": "APPROVE"}}, admin.token, "req-ok"
    )
    assert body["data"]["reviewProduct"]["status"] == "APPROVED"
    [entry] = await audit_rows(db, "product.approved")
    assert_audited(entry, actor=admin, target=("Product", pid), rid="req-ok", ip=client_ip)
    assert entry["changes"]["status"] == {"from": "PENDING_REVIEW", "to": "APPROVED"}
    assert (await api.ok(PRODUCT, {"id": str(pid)}))["product"]["status"] == "APPROVED"

    error = await api.error(SUBMIT, {"id": str(pid)}, token=designer.token)
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["from"] == "APPROVED"
    error = await api.error(
        REVIEW, {"input": {"productId": str(pid), "decision": "APPROVE"}}, token=admin.token
    )
    assert error["extensions"]["code"] == "INVALID_TRANSITION"

    # Rejecting an approved product delists it.
    error = await api.error(
        REVIEW, {"input": {"productId": str(pid), "decision": "REJECT"}}, token=admin.token
    )
    assert bad_fields(error) == {"reason"}
    error = await api.error(
        REVIEW, {"input": {"productId": str(pid), "decision": "REJECT", "reason": "   "}}, token=admin.token
    )
    assert bad_fields(error) == {"reason"}
    error = await api.error(
        REVIEW,
        {"input": {"productId": str(pid), "decision": "REJECT", "reason": "bad\x00"}},
        token=admin.token,
    )
    assert bad_fields(error) == {"reason"}
    body = await call(
        api,
        REVIEW,
        {"input": {"productId": str(pid), "decision": "REJECT", "reason": "Photos are blurry"}},
        admin.token,
        "req-reject",
    )
    assert body["data"]["reviewProduct"] == {
        "id": str(pid),
        "status": "REJECTED",
        "rejectionReason": "Photos are blurry",
    }
    [entry] = await audit_rows(db, "product.rejected")
    assert_audited(entry, actor=admin, target=("Product", pid), rid="req-reject", ip=client_ip)
    assert entry["changes"] == {
        "status": {"from": "APPROVED", "to": "REJECTED"},
        "reason": "Photos are blurry",
    }
    assert (await api.ok(PRODUCT, {"id": str(pid)}))["product"] is None
    assert (await api.ok(PRODUCTS, {}))["products"]["totalCount"] == 0
    mine = (await api.ok(PRODUCT, {"id": str(pid)}, token=designer.token))["product"]
    assert mine["rejectionReason"] == "Photos are blurry"

    # A rejected product can be fixed and submitted again; approval clears the reason.
    assert (await api.ok(SUBMIT, {"id": str(pid)}, token=designer.token))["submitProduct"]["status"] == (
        "PENDING_REVIEW"
    )
    data = await api.ok(REVIEW, {"input": {"productId": str(pid), "decision": "APPROVE"}}, token=admin.token)
    assert data["reviewProduct"] == {"id": str(pid), "status": "APPROVED", "rejectionReason": None}


async def test_review_rules(api: Any, db: Any, owned: dict[str, Any]) -> None:
    pid = str(owned["product"]["id"])
    # Only PENDING_REVIEW (and APPROVED, to delist) can be reviewed: a DRAFT cannot be approved.
    error = await api.error(
        REVIEW, {"input": {"productId": pid, "decision": "APPROVE"}}, token=owned["admin"].token
    )
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["from"] == "DRAFT"
    await api.ok(SUBMIT, {"id": pid}, token=owned["designer"].token)
    for who in ("designer", "customer", "other"):
        error = await api.error(
            REVIEW, {"input": {"productId": pid, "decision": "APPROVE"}}, token=owned[who].token
        )
        assert error["extensions"]["code"] == "FORBIDDEN", who
    error = await api.error(REVIEW, {"input": {"productId": pid, "decision": "APPROVE"}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error(
        REVIEW, {"input": {"productId": "99999", "decision": "APPROVE"}}, token=owned["admin"].token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await db.fetchval("SELECT status FROM products WHERE id = $1", int(pid)) == "PENDING_REVIEW"
    assert await audit_rows(db, "product.approved") == []


async def test_submit_permissions(api: Any, owned: dict[str, Any]) -> None:
    pid = str(owned["product"]["id"])
    error = await api.error(SUBMIT, {"id": pid}, token=owned["other"].token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(SUBMIT, {"id": pid}, token=owned["customer"].token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(SUBMIT, {"id": pid})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # Admins manage every product, so they may submit a designer's draft too.
    data = await api.ok(SUBMIT, {"id": pid}, token=owned["admin"].token)
    assert data["submitProduct"]["status"] == "PENDING_REVIEW"


# --- deleteProduct --------------------------------------------------------------------------------


async def test_delete_is_soft_and_hides_everywhere(
    api: Any, db: Any, owned: dict[str, Any], make_product: Any, client_ip: str
) -> None:
    designer, admin = owned["designer"], owned["admin"]
    live = await make_product(designer.designer_id, title="Live Kurta")
    pid = str(live["id"])
    # The product is approved, so visible: another designer may see it but not delete it.
    for who, code in (("other", "FORBIDDEN"), ("customer", "FORBIDDEN")):
        error = await api.error(DELETE, {"id": pid}, token=owned[who].token)
        assert error["extensions"]["code"] == code, who
    error = await api.error(DELETE, {"id": pid})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.ok(PRODUCT, {"id": pid}))["product"] is not None

    body = await call(api, DELETE, {"id": pid}, designer.token, "req-delete")
    assert body["data"] == {"deleteProduct": True}
    row = await db.fetchrow("SELECT title, deleted_at FROM products WHERE id = $1", live["id"])
    assert row["title"] == "Live Kurta" and row["deleted_at"] is not None  # kept for order history
    [entry] = await audit_rows(db, "product.deleted")
    assert_audited(entry, actor=designer, target=("Product", live["id"]), rid="req-delete", ip=client_ip)

    for token in (None, owned["customer"].token, designer.token, admin.token):
        assert (await api.ok(PRODUCT, {"id": pid}, token=token))["product"] is None
        edges = (await api.ok(PRODUCTS, {}, token=token))["products"]["edges"]
        assert pid not in {e["node"]["id"] for e in edges}
    error = await api.error(DELETE, {"id": pid}, token=designer.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(UPDATE, {"input": {"productId": pid, "title": "Back"}}, token=admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    # Admins may delete any product.
    assert (await api.ok(DELETE, {"id": str(owned["product"]["id"])}, token=admin.token))[
        "deleteProduct"
    ] is True


# --- setStock -------------------------------------------------------------------------------------


async def test_set_stock_is_absolute_and_audited(
    api: Any, db: Any, owned: dict[str, Any], client_ip: str
) -> None:
    designer, vid = owned["designer"], owned["product"]["variant_ids"][0]
    body = await call(
        api, SET_STOCK, {"input": {"variantId": str(vid), "stock": 7}}, designer.token, "req-stock"
    )
    assert body["data"]["setStock"] == {
        "id": str(vid),
        "sku": "AJ-M",
        "stock": 7,
        "inStock": True,
        "price": {"amount": 150000},
    }
    body = await call(
        api, SET_STOCK, {"input": {"variantId": str(vid), "stock": 7}}, designer.token, "req-stock-2"
    )
    assert body["data"]["setStock"]["stock"] == 7  # absolute: the same call twice is not 14
    data = await api.ok(SET_STOCK, {"input": {"variantId": str(vid), "stock": 0}}, token=owned["admin"].token)
    assert data["setStock"]["inStock"] is False
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", vid) == 0

    entries = await audit_rows(db, "stock.set")
    assert len(entries) == 3
    assert_audited(entries[0], actor=designer, target=("Variant", vid), rid="req-stock", ip=client_ip)
    assert entries[0]["changes"] == {"stock": {"from": 3, "to": 7}, "sku": "AJ-M"}
    assert entries[2]["actor_id"] == owned["admin"].id
    assert entries[2]["changes"]["stock"] == {"from": 7, "to": 0}


async def test_set_stock_rules(api: Any, db: Any, owned: dict[str, Any]) -> None:
    vid = str(owned["product"]["variant_ids"][0])
    error = await api.error(
        SET_STOCK, {"input": {"variantId": vid, "stock": -1}}, token=owned["designer"].token
    )
    assert bad_fields(error) == {"stock"}
    error = await api.error(SET_STOCK, {"input": {"variantId": vid, "stock": 5}}, token=owned["other"].token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(
        SET_STOCK, {"input": {"variantId": vid, "stock": 5}}, token=owned["customer"].token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(SET_STOCK, {"input": {"variantId": vid, "stock": 5}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error(
        SET_STOCK, {"input": {"variantId": "99999", "stock": 5}}, token=owned["admin"].token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    await db.execute("UPDATE products SET deleted_at = now() WHERE id = $1", owned["product"]["id"])
    error = await api.error(
        SET_STOCK, {"input": {"variantId": vid, "stock": 5}}, token=owned["designer"].token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", int(vid)) == 3
    assert await audit_rows(db, "stock.set") == []


async def test_concurrent_creates_with_one_title_get_distinct_slugs(
    api: Any, db: Any, make_user: Any
) -> None:
    designer = await make_user("DESIGNER")
    bodies = await asyncio.gather(
        *(
            api(CREATE, {"input": product_input(title="Kalamkari Kurta")}, token=designer.token)
            for _ in range(6)
        )
    )
    assert all(not b.get("errors") for b in bodies), [b.get("errors") for b in bodies]
    slugs = [b["data"]["createProduct"]["slug"] for b in bodies]
    assert len(set(slugs)) == 6
    assert "kalamkari-kurta" in slugs
    assert await db.fetchval("SELECT count(*) FROM products") == 6
    assert len(await audit_rows(db, "product.created")) == 6


async def test_another_designers_visible_product_is_forbidden_an_invisible_one_not_found(
    api: Any, db: Any, owned: dict[str, Any], make_product: Any
) -> None:
    """API.md: FORBIDDEN when the object is visible but the caller may not change it (another
    designer's approved product); NOT_FOUND when it is not visible (another designer's draft)."""
    designer, other = owned["designer"], owned["other"]
    approved = await make_product(
        designer.designer_id, title="Approved Kurta", variants=[("AP-M", "M", "Red", 4, None)]
    )
    for product, code in ((approved, "FORBIDDEN"), (owned["product"], "NOT_FOUND")):
        pid, vid = str(product["id"]), str(product["variant_ids"][0])
        error = await api.error(UPDATE, {"input": {"productId": pid, "title": "Mine now"}}, token=other.token)
        assert error["extensions"]["code"] == code, product
        error = await api.error(SET_STOCK, {"input": {"variantId": vid, "stock": 99}}, token=other.token)
        assert error["extensions"]["code"] == code, product
    assert await db.fetchval("SELECT title FROM products WHERE id = $1", approved["id"]) == "Approved Kurta"
    assert await db.fetchval("SELECT stock FROM variants WHERE id = $1", approved["variant_ids"][0]) == 4
    assert await audit_rows(db, "stock.set") == []
    assert await audit_rows(db, "product.updated") == []
