"""schema.graphql is exported from the code, and the foundation's part of it keeps API.md's shapes."""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    print_ast,
)

from kapda_gql.graphql.schema import export_sdl
from tests.support.apps import ROOT

SCHEMA_FILE = ROOT / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    exported = export_sdl()
    assert exported == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "schema.graphql is out of date: run `kapda-gql export-schema` and commit the result"
    )
    assert exported.endswith("\n") and not exported.endswith("\n\n")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


# The contract of API.md for what the foundation serves: every name and its exact type (nullability
# included). The schema may add fields and arguments; it may not drop, rename or retype these.
OBJECTS: dict[str, dict[str, str]] = {
    "Money": {"amount": "Long!", "currency": "String!", "formatted": "String!"},
    "User": {"id": "ID!", "email": "String!", "name": "String!", "role": "Role!"},
    "AuthPayload": {"token": "String!", "expiresAt": "DateTime!", "user": "User!"},
    "LogoutPayload": {"ok": "Boolean!", "clearLocalStorage": "Boolean!"},
    "Designer": {"id": "ID!", "name": "String!"},
    "Product": {
        "id": "ID!",
        "slug": "String!",
        "title": "String!",
        "description": "String!",
        "category": "String!",
        "price": "Money!",
        "images": "[String!]!",
        "status": "ProductStatus!",
        "designer": "Designer!",
        "variants": "[Variant!]!",
        "inStock": "Boolean!",
    },
    "Variant": {
        "id": "ID!",
        "sku": "String!",
        "size": "String",
        "color": "String",
        "price": "Money!",
        "stock": "Int!",
        "inStock": "Boolean!",
    },
    "ProductConnection": {"edges": "[ProductEdge!]!", "pageInfo": "PageInfo!", "totalCount": "Int!"},
    "ProductEdge": {"cursor": "String!", "node": "Product!"},
    "PageInfo": {"hasNextPage": "Boolean!", "endCursor": "String"},
}
INPUTS: dict[str, dict[str, str]] = {
    "RegisterInput": {"email": "String!", "password": "String!", "name": "String!"},
    "LoginInput": {"email": "String!", "password": "String!"},
    "ProductFilter": {
        "search": "String",
        "category": "String",
        "designerId": "ID",
        "minPrice": "Int",
        "maxPrice": "Int",
        "size": "String",
        "color": "String",
        "inStock": "Boolean",
    },
    "CreateProductInput": {
        "title": "String!",
        "description": "String!",
        "category": "String!",
        "price": "Int!",
        "images": "[String!]",
        "variants": "[VariantInput!]!",
    },
    "VariantInput": {"sku": "String!", "size": "String", "color": "String", "price": "Int", "stock": "Int!"},
    "ReviewProductInput": {"productId": "ID!", "decision": "ReviewDecision!", "reason": "String"},
    "SetStockInput": {"variantId": "ID!", "stock": "Int!"},
    "UpdateProductInput": {"productId": "ID!"},
}
ENUMS = {
    "ProductSort": {"NEWEST", "PRICE_ASC", "PRICE_DESC", "RELEVANCE"},
    "ProductStatus": {"DRAFT", "PENDING_REVIEW", "APPROVED", "REJECTED"},
    "Role": {"CUSTOMER", "DESIGNER", "ADMIN"},
    "UserStatus": {"ACTIVE", "SUSPENDED"},
    "ReviewDecision": {"APPROVE", "REJECT"},
}
# (root, field): (result type, {argument: type})
OPERATIONS: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("Query", "me"): ("User", {}),
    ("Query", "products"): (
        "ProductConnection!",
        {"filter": "ProductFilter", "sort": "ProductSort", "first": "Int", "after": "String"},
    ),
    ("Query", "product"): ("Product", {"id": "ID", "slug": "String"}),
    ("Mutation", "register"): ("AuthPayload!", {"input": "RegisterInput!"}),
    ("Mutation", "login"): ("AuthPayload!", {"input": "LoginInput!"}),
    ("Mutation", "logout"): ("LogoutPayload!", {}),
    ("Mutation", "createProduct"): ("Product!", {"input": "CreateProductInput!"}),
    ("Mutation", "updateProduct"): ("Product!", {"input": "UpdateProductInput!"}),
    ("Mutation", "submitProduct"): ("Product!", {"productId": "ID!"}),
    ("Mutation", "reviewProduct"): ("Product!", {"input": "ReviewProductInput!"}),
    ("Mutation", "deleteProduct"): ("Boolean!", {"productId": "ID!"}),
    ("Mutation", "setStock"): ("Variant!", {"input": "SetStockInput!"}),
    ("Mutation", "setUserStatus"): ("User!", {"userId": "ID!", "status": "UserStatus!"}),
}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_object_types_keep_the_contract(schema: GraphQLSchema, name: str) -> None:
    gql_type = schema.get_type(name)
    assert isinstance(gql_type, GraphQLObjectType), name
    actual = {field: str(f.type) for field, f in gql_type.fields.items()}
    for field, expected in OBJECTS[name].items():
        assert actual.get(field) == expected, f"{name}.{field}: {actual.get(field)} != {expected}"


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_input_types_keep_the_contract(schema: GraphQLSchema, name: str) -> None:
    gql_type = schema.get_type(name)
    assert isinstance(gql_type, GraphQLInputObjectType), name
    fields: dict[str, GraphQLInputField] = gql_type.fields
    for field, expected in INPUTS[name].items():
        assert field in fields, f"{name}.{field} is missing"
        assert str(fields[field].type) == expected, f"{name}.{field}"
    # Anything the schema adds to an input must be optional, or existing clients' requests break.
    for field, value in fields.items():
        if field not in INPUTS[name] and name != "UpdateProductInput":
            assert not str(value.type).endswith("!") or _default(value) is not None, f"{name}.{field}"


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enums_keep_the_contract(schema: GraphQLSchema, name: str) -> None:
    gql_type = schema.get_type(name)
    assert gql_type is not None
    assert set(gql_type.values) == ENUMS[name]  # type: ignore[union-attr]


@pytest.mark.parametrize(("root", "field"), sorted(OPERATIONS))
def test_operations_keep_the_contract(schema: GraphQLSchema, root: str, field: str) -> None:
    root_type = schema.query_type if root == "Query" else schema.mutation_type
    assert root_type is not None
    gql_field: GraphQLField | None = root_type.fields.get(field)
    assert gql_field is not None, f"{root}.{field} is missing"
    result, args = OPERATIONS[(root, field)]
    assert str(gql_field.type) == result
    actual: dict[str, GraphQLArgument] = gql_field.args
    for arg, expected in args.items():
        assert arg in actual and str(actual[arg].type) == expected, f"{root}.{field}({arg})"
    for arg, value in actual.items():
        if arg not in args:
            assert not str(value.type).endswith("!"), f"{root}.{field}({arg}) would break existing callers"


def _default(value: GraphQLArgument | GraphQLInputField) -> str | None:
    node = value.ast_node
    return print_ast(node.default_value) if node is not None and node.default_value is not None else None


def test_defaults_follow_the_contract(schema: GraphQLSchema) -> None:
    assert schema.query_type is not None
    args = schema.query_type.fields["products"].args
    assert _default(args["sort"]) == "NEWEST"
    # "first 20 when neither is given": a default of 20 would make `last` alone ask for both.
    assert _default(args["first"]) in (None, "null") and _default(args["last"]) in (None, "null")
    create = schema.get_type("CreateProductInput")
    assert isinstance(create, GraphQLInputObjectType)
    assert _default(create.fields["images"]) == "[]"
