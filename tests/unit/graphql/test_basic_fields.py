"""Fields without a resolver of their own read their attribute directly (graphql/schema.py): the
same values as Strawberry's own resolver, and only where Strawberry made the field basic."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from kapda_gql.graphql.schema import KapdaSchema, build_schema

pytestmark = pytest.mark.unit


@strawberry.type
class Thing:
    name: str
    count: int = 0

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(name="kurta", count=3)


def test_answers_are_strawberrys_own() -> None:
    query = "{ thing { name count shout } }"
    ours = KapdaSchema(query=Query).execute_sync(query)
    theirs = strawberry.Schema(query=Query).execute_sync(query)
    assert ours.errors is None and ours.data == theirs.data == {
        "thing": {"name": "kurta", "count": 3, "shout": "KURTA"}
    }


def test_only_basic_fields_are_replaced() -> None:
    schema: Any = build_schema()._schema
    product = schema.type_map["Product"]
    assert isinstance(product, GraphQLObjectType)
    assert product.fields["title"].resolve.__name__ == "resolve"
    assert product.fields["title"].resolve._is_default is True
    # a field with a resolver of its own keeps Strawberry's
    assert product.fields["rejectionReason"].resolve.__name__ != "resolve"
    # reading the attribute, as getattr does: a missing one fails the field, never reads as null
    missing = Thing(name="x", count=1)
    del missing.name
    fields = KapdaSchema(query=Query)._schema.type_map["Thing"].fields
    assert fields["count"].resolve(missing, None) == 1
    with pytest.raises(AttributeError):
        fields["name"].resolve(missing, None)
