"""12.8: text PostgreSQL cannot store (a lone UTF-16 surrogate, NUL) is BAD_USER_INPUT naming the
field, before the database; no SQL text or parameters ever reach an error message."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError

from kapda_gql.graphql.errors import format_error

REGISTER = "mutation($in: RegisterInput!) { register(input: $in) { token } }"
SEARCH = "query($q: String) { products(filter: {search: $q}) { totalCount } }"


async def raw(api: Any, query: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """Posted as ASCII JSON (\\ud800 escaped), the way any JSON encoder may send a lone surrogate."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    response = await api.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(body: dict[str, Any], fields: list[str]) -> None:
    assert body.get("data") is None, body
    errors = body["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], body
    assert [f["field"] for f in errors[0]["extensions"]["fields"]] == fields, body
    assert "\\ud800" not in json.dumps(body) and "\\u0000" not in json.dumps(body), body  # never echoed


async def test_a_lone_surrogate_in_register_is_bad_user_input_before_the_database(
    api: Any, db: asyncpg.Connection, logs: Any
) -> None:
    variables = {"in": {"email": "s@example.com", "password": "long enough pw", "name": "A\ud800"}}
    body = await raw(api, REGISTER, variables)
    refused(body, ["name"])
    assert (
        body["errors"][0]["extensions"]["fields"][0]["message"] == "must not contain lone UTF-16 surrogates"
    )
    assert "INSERT" not in body["errors"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    assert not [r for r in logs.records if r.levelno >= logging.ERROR], logs.text()


async def test_every_string_input_is_checked_literal_or_variable_any_depth(
    api: Any, make_user: Any, db: asyncpg.Connection
) -> None:
    refused(await raw(api, SEARCH, {"q": "\ud800"}), ["filter.search"])
    refused(await raw(api, SEARCH, {"q": "a\x00b"}), ["filter.search"])
    refused(
        await raw(api, '{ products(filter: {search: "a\\u0000b"}) { totalCount } }', {}), ["filter.search"]
    )
    # An Int variable holding such text, and an unknown field name made of it, are refused the same way.
    refused(
        await raw(api, "query($n: Int) { products(first: $n) { totalCount } }", {"n": "\udfff"}), ["first"]
    )
    refused(await raw(api, REGISTER, {"in": {"\ud800": "x"}}), ["input"])
    designer = await make_user("DESIGNER")
    create = "mutation($in: CreateProductInput!) { createProduct(input: $in) { id } }"
    product = {
        "title": "Kurta",
        "description": "Fine",
        "category": "Kurta",
        "price": 1000,
        "images": ["https://img.example/a.jpg", "https://img.example/\ud800.jpg"],
        "variants": [{"sku": "SKU\x00", "stock": 1}],
    }
    refused(await raw(api, create, {"in": product}, token=designer.token), ["images[1]", "variants[0].sku"])
    assert await db.fetchval("SELECT count(*) FROM products") == 0


async def test_clean_text_still_goes_through(api: Any) -> None:
    body = await raw(api, SEARCH, {"q": "kurta \U0001f600 ✓"})
    assert body == {"data": {"products": {"totalCount": 0}}}, body


def test_a_database_error_never_shows_its_sql_or_parameters_in_development() -> None:
    driver = DBAPIError(
        "INSERT INTO users (email, password_hash) VALUES ($1, $2)",
        ("a@example.com", "$argon2id$v=19$secret"),
        Exception("invalid byte sequence"),
    )
    error = GraphQLError(str(driver), original_error=driver)
    assert "INSERT" in error.message  # what graphql-core would have shown
    for production in (False, True):
        shown = format_error(error, request_id="r-1", production=production)
        assert shown["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert "INSERT" not in shown["message"] and "argon2" not in shown["message"], shown
