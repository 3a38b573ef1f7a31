"""Input objects are built from a plan made once per schema (graphql/schema.py ``_builder``): the
same Python values Strawberry's own conversion gives, for every kind of field an input can have."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import strawberry
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition

from kapda_gql.graphql.schema import KapdaSchema, build_schema

pytestmark = pytest.mark.unit


@strawberry.enum
class Fit(enum.Enum):
    SLIM = "slim"
    LOOSE = "loose"


@strawberry.input
class Measure:
    chest: int
    note: str | None = None


@strawberry.input
class Order:
    id: strawberry.ID
    fit: Fit
    sizes: list[str]
    measures: list[Measure] | None = None
    main: Measure | None = None
    tags: list[str] | None = strawberry.field(default_factory=list)
    country: str = "IN"
    gift: bool | None = None
    wrap: strawberry.Maybe[str | None] = None
    gift_note: str | None = strawberry.UNSET


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, order: Order) -> str:
        return repr(order)


@contextmanager
def strawberrys_own(definitions: list[StrawberryObjectDefinition]) -> Iterator[None]:
    """Strawberry's own conversion: the definitions without our builders, for a moment."""
    saved = [d.from_input for d in definitions]
    for d in definitions:
        d.from_input = None
    try:
        yield
    finally:
        for d, builder in zip(definitions, saved, strict=True):
            d.from_input = builder


VALUES: list[dict[str, Any]] = [
    {"id": "7", "fit": Fit.SLIM, "sizes": ["M"], "tags": [], "country": "IN"},
    {
        "id": "8",
        "fit": Fit.LOOSE,
        "sizes": [],
        "measures": [{"chest": 96}, {"chest": 100, "note": "long"}],
        "main": {"chest": 90, "note": None},
        "tags": ["a", "b"],
        "country": "FR",
        "gift": True,
        "wrap": None,
        "giftNote": "for Asha",
    },
    {"id": "9", "fit": Fit.SLIM, "sizes": ["S", "L"], "main": None, "measures": None, "wrap": "red"},
]


@pytest.mark.parametrize("value", VALUES)
def test_built_values_are_strawberrys_own(value: dict[str, Any]) -> None:
    schema = KapdaSchema(query=Query)
    field = schema.get_type_by_name("Query").fields[0]  # type: ignore[union-attr]
    definitions = [Order.__strawberry_definition__, Measure.__strawberry_definition__]  # type: ignore[attr-defined]
    assert all(d.from_input is not None for d in definitions)
    registry, config = schema.schema_converter.scalar_registry, schema.config
    ours = convert_arguments({"order": value}, field.arguments, registry, config)
    with strawberrys_own(definitions):
        theirs = convert_arguments({"order": value}, field.arguments, registry, config)
    assert ours == theirs
    # a list the client sent is the request's own copy, as Strawberry makes it
    assert ours["order"].sizes is not value["sizes"]


def test_a_query_gets_the_same_input_either_way() -> None:
    query = '{ echo(order: {id: "1", fit: LOOSE, sizes: ["M"], main: {chest: 88}, wrap: null}) }'
    ours = KapdaSchema(query=Query).execute_sync(query)
    definitions = [Order.__strawberry_definition__, Measure.__strawberry_definition__]  # type: ignore[attr-defined]
    with strawberrys_own(definitions):
        theirs = strawberry.Schema(query=Query).execute_sync(query)
    assert ours.errors is None and theirs.errors is None
    assert ours.data == theirs.data
    assert "Measure(chest=88, note=None)" in ours.data["echo"]


def test_every_input_of_the_api_has_a_builder() -> None:
    schema = build_schema()
    inputs = [t for t in schema._schema.type_map.values() if type(t).__name__ == "GraphQLInputObjectType"]
    assert len(inputs) > 10
    for kind in inputs:
        definition = kind.extensions["strawberry-definition"]
        assert definition.from_input is not None, kind.name
