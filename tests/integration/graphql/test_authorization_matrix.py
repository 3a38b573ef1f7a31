"""Every operation from every role's side: allowed, or refused with the right code and no change.

One row per operation: the document, its variables (built from a fresh world of users and
products), and what each role gets. Add a row when an operation lands (cart, checkout, orders…):
write its document and variables, and fill ``expect`` for the five roles.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.support.apps import PASSWORD, UserInfo

ROLES = ("anonymous", "customer", "designer", "other_designer", "admin")
OK = "ok"  # no error, the field has a value
NULL = "null"  # no error, the field is null (not visible to this caller)


@dataclass
class World:
    """Each role gets its own copy of every target, so one world serves all five roles in turn."""

    users: dict[str, UserInfo]
    victims: dict[str, UserInfo]
    approved: dict[str, Any]
    drafts: dict[str, dict[str, Any]]
    pending: dict[str, dict[str, Any]]
    # The customer's order, holding a line (three units) of the designer's approved product.
    order: dict[str, Any]
    order_item_id: str = ""

    def token(self, role: str) -> str | None:
        return None if role == "anonymous" else self.users[role].token


@dataclass(frozen=True)
class Row:
    document: str
    variables: Callable[[World, str], dict[str, Any]]
    expect: dict[str, str]
    # The root field whose value OK/NULL speak of.
    result: str = ""
    # Further checks of the answer: (data, world, role, db) -> awaitable of None.
    check: Callable[..., Any] | None = None


def everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


def signed_in(outcome: str) -> dict[str, str]:
    return {**everyone(outcome), "anonymous": "UNAUTHENTICATED"}


ADMIN_ONLY = {
    "anonymous": "UNAUTHENTICATED",
    "customer": "FORBIDDEN",
    "designer": "FORBIDDEN",
    "other_designer": "FORBIDDEN",
    "admin": OK,
}
OWNER_OR_ADMIN = {
    "anonymous": "UNAUTHENTICATED",
    "customer": "FORBIDDEN",
    "designer": OK,
    "other_designer": "NOT_FOUND",  # another designer's product: learns nothing about it
    "admin": OK,
}
CATALOG_MANAGERS = {**OWNER_OR_ADMIN, "other_designer": OK}


async def _product_counts(data: dict[str, Any], world: World, role: str, db: asyncpg.Connection) -> None:
    everything = 1 + len(world.drafts) + len(world.pending)
    expected = everything if role in ("designer", "admin") else 1
    assert data["products"]["totalCount"] == expected, (role, data)


async def _category_counts(data: dict[str, Any], world: World, role: str, db: asyncpg.Connection) -> None:
    everything = 1 + len(world.drafts) + len(world.pending)
    expected = everything if role in ("designer", "admin") else 1
    assert sum(c["productCount"] for c in data["categories"]) == expected, (role, data)


async def _victim_suspended(data: dict[str, Any], world: World, role: str, db: asyncpg.Connection) -> None:
    status = await db.fetchval("SELECT status FROM users WHERE id = $1", world.victims[role].id)
    assert status == ("SUSPENDED" if role == "admin" else "ACTIVE"), role


def _new_email(world: World, role: str) -> dict[str, Any]:
    return {
        "i": {
            "email": f"new-{role}-{uuid.uuid4().hex[:6]}@example.com",
            "password": "long enough pw",
            "name": "N",
        }
    }


def _new_product(designer_id: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "title": "New kurta",
        "description": "d",
        "category": "Kurta",
        "price": 1000,
        "variants": [{"sku": f"NEW-{uuid.uuid4().hex[:8]}", "stock": 1}],
    }
    if designer_id is not None:
        spec["designerId"] = str(designer_id)
    return spec


def _named_designer(world: World, role: str) -> dict[str, Any]:
    """Admins must say whose sales they want; the others ask for their own."""
    return {"d": str(world.users["designer"].designer_id)} if role == "admin" else {}


async def _designer_sales(data: dict[str, Any], world: World, role: str, db: asyncpg.Connection) -> None:
    if SALES_ROLES[role] != OK:
        return
    edges = data["designerOrders"]["edges"]
    assert len(edges) == (0 if role == "other_designer" else 1), (role, data)
    for edge in edges:
        assert edge["node"]["id"] == world.order["id"]


async def _order_moved(data: dict[str, Any], world: World, role: str, db: asyncpg.Connection) -> None:
    status = await db.fetchval("SELECT status FROM orders WHERE id = $1", int(world.order["id"]))
    assert status == ("PROCESSING" if role == "admin" else "PENDING"), role


DESIGNER_ORDERS = "query($d: ID) { designerOrders(designerId: $d) { edges { node { id items { sku } } } } }"
SALES_ROLES = {
    "anonymous": "UNAUTHENTICATED",
    "customer": "FORBIDDEN",
    "designer": OK,
    "other_designer": OK,
    "admin": OK,
}

MATRIX: dict[str, Row] = {
    "me": Row("{ me { id role } }", lambda w, r: {}, {**everyone(OK), "anonymous": NULL}, result="me"),
    "products": Row(
        "{ products(first: 50) { totalCount edges { node { id status } } } }",
        lambda w, r: {},
        everyone(OK),
        check=_product_counts,
        result="products",
    ),
    "categories": Row(
        "{ categories { name slug productCount } }",
        lambda w, r: {},
        everyone(OK),
        check=_category_counts,
        result="categories",
    ),
    "product (a draft)": Row(
        "query($id: ID!) { product(id: $id) { id status } }",
        lambda w, r: {"id": str(w.drafts[r]["id"])},
        {"anonymous": NULL, "customer": NULL, "designer": OK, "other_designer": NULL, "admin": OK},
        result="product",
    ),
    "register": Row(
        "mutation($i: RegisterInput!) { register(input: $i) { token user { id } } }",
        _new_email,
        everyone(OK),
        result="register",
    ),
    "login": Row(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
        lambda w, r: {"e": w.victims[r].email, "p": PASSWORD},
        everyone(OK),
        result="login",
    ),
    "logout": Row("mutation { logout { ok } }", lambda w, r: {}, signed_in(OK), result="logout"),
    "setUserStatus": Row(
        "mutation($id: ID!) { setUserStatus(userId: $id, status: SUSPENDED) { id status } }",
        lambda w, r: {"id": str(w.victims[r].id)},
        ADMIN_ONLY,
        check=_victim_suspended,
        result="setUserStatus",
    ),
    "createProduct": Row(
        "mutation($i: CreateProductInput!) { createProduct(input: $i) { id status } }",
        lambda w, r: {"i": _new_product(w.users["designer"].designer_id if r == "admin" else None)},
        CATALOG_MANAGERS,
        result="createProduct",
    ),
    "createProduct naming a designer": Row(
        "mutation($i: CreateProductInput!) { createProduct(input: $i) { id status } }",
        lambda w, r: {"i": _new_product(w.users["designer"].designer_id)},
        {**OWNER_OR_ADMIN, "other_designer": "BAD_USER_INPUT"},
        result="createProduct",
    ),
    "updateProduct": Row(
        'mutation($id: ID!) { updateProduct(input: {productId: $id, title: "Renamed"}) { id title } }',
        lambda w, r: {"id": str(w.drafts[r]["id"])},
        OWNER_OR_ADMIN,
        result="updateProduct",
    ),
    "submitProduct": Row(
        "mutation($id: ID!) { submitProduct(productId: $id) { status } }",
        lambda w, r: {"id": str(w.drafts[r]["id"])},
        OWNER_OR_ADMIN,
        result="submitProduct",
    ),
    "reviewProduct": Row(
        "mutation($id: ID!) { reviewProduct(input: {productId: $id, decision: APPROVE}) { status } }",
        lambda w, r: {"id": str(w.pending[r]["id"])},
        ADMIN_ONLY,
        result="reviewProduct",
    ),
    "deleteProduct": Row(
        "mutation($id: ID!) { deleteProduct(productId: $id) }",
        lambda w, r: {"id": str(w.drafts[r]["id"])},
        OWNER_OR_ADMIN,
        result="deleteProduct",
    ),
    "orders": Row("{ orders { totalCount } }", lambda w, r: {}, signed_in(OK), result="orders"),
    "order": Row(
        "query($id: ID!) { order(id: $id) { id shippingAddress { name } statusHistory { actor { role } } } }",
        lambda w, r: {"id": w.order["id"]},
        {
            "anonymous": "UNAUTHENTICATED",
            "customer": OK,
            # A designer with a line in the order does not see it: designerOrders is its view.
            "designer": "NOT_FOUND",
            "other_designer": "NOT_FOUND",
            "admin": OK,
        },
        result="order",
    ),
    "designerOrders": Row(
        DESIGNER_ORDERS, _named_designer, SALES_ROLES, check=_designer_sales, result="designerOrders"
    ),
    "designerOrders naming a designer": Row(
        DESIGNER_ORDERS,
        lambda w, r: {"d": str(w.users["designer"].designer_id)},
        {**SALES_ROLES, "other_designer": "FORBIDDEN"},
        result="designerOrders",
    ),
    "designerOrders as an admin naming nobody": Row(
        DESIGNER_ORDERS,
        lambda w, r: {},
        {**SALES_ROLES, "admin": "BAD_USER_INPUT"},
        result="designerOrders",
    ),
    "designerStats": Row(
        "query($d: ID) { designerStats(designerId: $d) { ordersCount } }",
        _named_designer,
        SALES_ROLES,
        result="designerStats",
    ),
    "transitionOrder": Row(
        "mutation($id: ID!) { transitionOrder(input: {orderId: $id, to: PROCESSING}) { status } }",
        lambda w, r: {"id": w.order["id"]},
        {
            "anonymous": "UNAUTHENTICATED",
            "customer": "FORBIDDEN",  # its own order, but customers only cancel
            "designer": "NOT_FOUND",
            "other_designer": "NOT_FOUND",
            "admin": OK,
        },
        check=_order_moved,
        result="transitionOrder",
    ),
    "reorder": Row(
        "mutation($id: ID!) { reorder(orderId: $id) { available { quantity } } }",
        lambda w, r: {"id": w.order["id"]},
        {
            "anonymous": "UNAUTHENTICATED",
            "customer": OK,
            "designer": "NOT_FOUND",
            "other_designer": "NOT_FOUND",
            "admin": "NOT_FOUND",
        },
        result="reorder",
    ),
    "cancelOrderItems": Row(
        "mutation($id: ID!, $line: ID!) { cancelOrderItems(input: {orderId: $id,"
        " lines: [{orderItemId: $line, quantity: 1}]}) { status } }",
        lambda w, r: {"id": w.order["id"], "line": w.order_item_id},
        {
            "anonymous": "UNAUTHENTICATED",
            "customer": OK,  # its own order, before shipment
            "designer": "NOT_FOUND",
            "other_designer": "NOT_FOUND",
            "admin": OK,
        },
        result="cancelOrderItems",
    ),
    "returnOrderItems": Row(
        "mutation($id: ID!, $line: ID!) { returnOrderItems(input: {orderId: $id,"
        " lines: [{orderItemId: $line, quantity: 1}], restock: true}) { status } }",
        lambda w, r: {"id": w.order["id"], "line": w.order_item_id},
        {
            "anonymous": "UNAUTHENTICATED",
            "customer": "FORBIDDEN",  # its own order, but staff record returns
            "designer": "NOT_FOUND",
            "other_designer": "NOT_FOUND",
            "admin": "INVALID_TRANSITION",  # allowed to, but the order is not delivered
        },
        result="returnOrderItems",
    ),
    "setStock": Row(
        "mutation($id: ID!) { setStock(input: {variantId: $id, stock: 7}) { stock } }",
        lambda w, r: {"id": str(w.drafts[r]["variant_ids"][0])},
        OWNER_OR_ADMIN,
        result="setStock",
    ),
}


@pytest.fixture
async def world(make_user: Any, make_product: Any, place_order: Any, db: asyncpg.Connection) -> World:
    users = {
        "customer": await make_user("CUSTOMER"),
        "designer": await make_user("DESIGNER"),
        "other_designer": await make_user("DESIGNER"),
        "admin": await make_user("ADMIN"),
    }
    owner = users["designer"].designer_id
    approved = await make_product(owner, status="APPROVED")
    return World(
        users=users,
        victims={role: await make_user("CUSTOMER") for role in ROLES},
        approved=approved,
        order=(order := await place_order(users["customer"], [(approved["variant_ids"][0], 3)])),
        order_item_id=str(
            await db.fetchval("SELECT id FROM order_items WHERE order_id = $1", int(order["id"]))
        ),
        drafts={role: await make_product(owner, status="DRAFT") for role in ROLES},
        pending={role: await make_product(owner, status="PENDING_REVIEW") for role in ROLES},
    )


async def snapshot(db: asyncpg.Connection) -> list[Any]:
    """What a refused operation must leave exactly as it was."""
    return [
        await db.fetch("SELECT id, email, status, role FROM users ORDER BY id"),
        await db.fetch("SELECT id, status, title, price, deleted_at FROM products ORDER BY id"),
        await db.fetch("SELECT id, stock FROM variants ORDER BY id"),
        await db.fetch("SELECT jti FROM revoked_tokens ORDER BY jti"),
        await db.fetch("SELECT id, status, payment_status FROM orders ORDER BY id"),
        await db.fetch("SELECT cart_id, variant_id, quantity FROM cart_lines ORDER BY cart_id, variant_id"),
        await db.fetchval("SELECT count(*) FROM audit_entries"),
    ]


@pytest.mark.parametrize("operation", list(MATRIX), ids=lambda v: v.replace(" ", "_"))
async def test_authorization(operation: str, api: Any, world: World, db: asyncpg.Connection) -> None:
    row = MATRIX[operation]
    wrong: list[str] = []
    for role in ROLES:
        expected = row.expect[role]
        before = await snapshot(db)
        body = await api(row.document, row.variables(world, role), token=world.token(role))
        got = [e["extensions"]["code"] for e in body.get("errors") or []]
        if expected in (OK, NULL):
            value = (body.get("data") or {}).get(row.result)
            if got or (value is None) != (expected == NULL):
                wrong.append(f"{role}: expected {expected}, got {body}")
                continue
        elif got != [expected]:
            wrong.append(f"{role}: expected {expected}, got {body}")
            continue
        elif await snapshot(db) != before:
            wrong.append(f"{role}: refused with {expected} but something changed")
        if row.check is not None:
            await row.check(body["data"], world, role, db)
    assert not wrong, f"{operation}:\n" + "\n".join(wrong)


def test_every_operation_of_auth_catalog_and_orders_has_a_row() -> None:
    from kapda_gql.graphql.auth.mutations import AuthMutation
    from kapda_gql.graphql.auth.queries import AuthQuery
    from kapda_gql.graphql.catalog.mutations import CatalogMutation
    from kapda_gql.graphql.catalog.queries import CatalogQuery
    from kapda_gql.graphql.orders.mutations import OrdersMutation
    from kapda_gql.graphql.orders.queries import OrdersQuery

    covered = {row.result for row in MATRIX.values()}
    for part in (AuthQuery, AuthMutation, CatalogQuery, CatalogMutation, OrdersQuery, OrdersMutation):
        for definition in part.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            assert definition.python_name and _camel(definition.python_name) in covered, (
                definition.python_name
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
