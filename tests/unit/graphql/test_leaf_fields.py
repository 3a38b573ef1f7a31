"""Basic leaf fields are read and completed by our executor's shortcut (graphql/schema.py
``_Executor``): the same data, the same errors at the same paths and locations, as graphql-core's
own path gives, for every way such a field can go right or wrong."""

from __future__ import annotations

import asyncio
import datetime
import enum
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from kapda_gql.graphql.common import SCALARS
from kapda_gql.graphql.schema import KapdaSchema

pytestmark = pytest.mark.unit


@strawberry.enum
class Fit(enum.Enum):
    SLIM = "slim"
    LOOSE = "loose"


class Broken:
    """Attributes that fail in each way a read can."""

    def __getattr__(self, name: str) -> Any:
        if name == "title":
            raise ValueError("the title could not be read")
        raise AttributeError(name)


@strawberry.type
class Item:
    title: str
    count: int
    price: float
    live: bool
    fit: Fit
    code: strawberry.ID
    note: str | None
    made: datetime.datetime
    tags: list[str]

    @strawberry.field
    def shout(self) -> str:
        return self.title.upper()


@strawberry.type
class Holder:
    item: Item | None
    items: list[Item]


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


def _item(**overrides: Any) -> Item:
    values: dict[str, Any] = {
        "title": "kurta",
        "count": 3,
        "price": 12.5,
        "live": True,
        "fit": Fit.SLIM,
        "code": strawberry.ID("7"),
        "note": None,
        "made": datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC),
        "tags": ["a"],
    }
    values.update(overrides)
    return Item(**values)


@strawberry.type
class Query:
    @strawberry.field
    def good(self) -> Holder:
        return Holder(item=_item(), items=[_item(count=i) for i in range(3)])

    @strawberry.field
    def null_in_non_null(self) -> Holder:
        return Holder(item=_item(title=None), items=[_item(), _item(count=None)])

    @strawberry.field
    def not_an_int(self) -> Holder:
        return Holder(item=_item(count="many"), items=[])

    @strawberry.field
    def an_exception_as_value(self) -> Holder:
        return Holder(item=_item(note=RuntimeError("kept as a value")), items=[])

    @strawberry.field
    def awaitable_value(self) -> Holder:
        return Holder(item=_item(title=_later("later")), items=[])

    @strawberry.field
    def unreadable(self) -> Holder:
        return Holder(item=Broken(), items=[])  # type: ignore[arg-type]


DOCUMENTS = [
    "{ good { item { title count price live fit code note made tags shout __typename } } }",
    "{ good { items { a: title b: title count ...F } } } fragment F on Item { fit made }",
    "query($s: Boolean!) { good { item { title @skip(if: $s) count @include(if: $s) } } }",
    "{ nullInNonNull { item { title note } items { count title } } }",
    "{ notAnInt { item { count title } } }",
    "{ anExceptionAsValue { item { note title } } }",
    "{ awaitableValue { item { title count } } }",
    "{ unreadable { item { title } } }",
    "{ unreadable { item { count } } }",
]


def _plain(result: Any) -> Any:
    errors = [
        {"message": e.message, "path": e.path, "locations": [(x.line, x.column) for x in e.locations or []]}
        for e in result.errors or []
    ]
    return result.data, sorted(errors, key=repr)


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_shortcut_gives_graphql_cores_own_answer(document: str) -> None:
    ours = KapdaSchema(query=Query, scalar_overrides=SCALARS)
    theirs = KapdaSchema(
        query=Query, scalar_overrides=SCALARS, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    variables = {"s": True}
    got = _plain(await ours.execute(document, variable_values=variables))
    wanted = _plain(await theirs.execute(document, variable_values=variables))
    assert got == wanted
    assert got[0] is not None or got[1]  # every document answers something to compare


async def test_the_shortcut_really_answers_basic_leaves() -> None:
    """Not a tautology of the above: the shortcut is taken, and graphql-core's resolve info is
    never built for a basic leaf."""
    built: list[str] = []

    class Counting(StrawberryGraphQLCoreExecutionContext):
        def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
            built.append(field_nodes[0].name.value)
            return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    from kapda_gql.graphql import schema as schema_module

    class Shortcut(schema_module._Executor, Counting):
        pass

    schema = KapdaSchema(query=Query, execution_context_class=Shortcut)
    result = await schema.execute("{ good { item { title count shout } } }")
    assert result.errors is None
    assert result.data == {"good": {"item": {"title": "kurta", "count": 3, "shout": "KURTA"}}}
    assert built == ["good", "item", "shout"]


async def test_field_middleware_sees_every_field() -> None:
    """An extension that wraps resolvers (field middleware) turns the shortcut off: it must see
    basic fields too."""

    class Upper(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            value = _next(root, info, *args, **kwargs)
            return value.upper() if isinstance(value, str) else value

    schema = KapdaSchema(query=Query, extensions=[Upper])
    result = await schema.execute("{ good { item { title } } }")
    assert result.errors is None
    assert result.data == {"good": {"item": {"title": "KURTA"}}}


async def test_strings_ids_and_booleans_skip_the_serializer_they_would_pass_through() -> None:
    """A str of String or ID and a bool of Boolean are what graphql-core's serializer would return
    unchanged, so the shortcut returns them as they are; every other leaf is still completed."""
    from kapda_gql.graphql import schema as schema_module

    completed: list[Any] = []

    class Counting(schema_module._Executor):
        def complete_leaf_value(self, return_type: Any, result: Any) -> Any:
            completed.append(result)
            return super().complete_leaf_value(return_type, result)

    schema = KapdaSchema(query=Query, scalar_overrides=SCALARS, execution_context_class=Counting)
    result = await schema.execute("{ good { item { title code live count fit price } } }")
    assert result.errors is None
    assert result.data == {
        "good": {
            "item": {"title": "kurta", "code": "7", "live": True, "count": 3, "fit": "SLIM", "price": 12.5}
        }
    }
    assert completed == [3, Fit.SLIM, 12.5]
