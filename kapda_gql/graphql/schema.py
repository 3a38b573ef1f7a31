"""The schema, assembled from one Query and one Mutation part per capability."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import operator
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import strawberry
from graphql import (
    GraphQLBoolean,
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.utils.await_maybe import await_maybe

from kapda_gql.domain.errors import ServiceUnavailable
from kapda_gql.graphql.audit.queries import AuditQuery
from kapda_gql.graphql.auth.mutations import AuthMutation
from kapda_gql.graphql.auth.queries import AuthQuery
from kapda_gql.graphql.cart.mutations import CartMutation
from kapda_gql.graphql.cart.queries import CartQuery
from kapda_gql.graphql.catalog.mutations import CatalogMutation
from kapda_gql.graphql.catalog.queries import CatalogQuery
from kapda_gql.graphql.checkout.mutations import CheckoutMutation
from kapda_gql.graphql.common import SCALARS
from kapda_gql.graphql.errors import error_code, is_unexpected
from kapda_gql.graphql.orders.mutations import OrdersMutation
from kapda_gql.graphql.orders.queries import OrdersQuery
from kapda_gql.graphql.stock.queries import StockQuery
from kapda_gql.graphql.transport.caches import BoundedParserCache, BoundedValidationCache
from kapda_gql.graphql.transport.caching import DocumentRecorder

log = logging.getLogger("kapda_gql.graphql")

QUERY_PARTS = (AuthQuery, CatalogQuery, CartQuery, OrdersQuery, AuditQuery, StockQuery)
MUTATION_PARTS = (AuthMutation, CatalogMutation, CartMutation, CheckoutMutation, OrdersMutation)

Query = merge_types("Query", QUERY_PARTS)
Mutation = merge_types("Mutation", MUTATION_PARTS)


Factory = Callable[[SchemaExtension], AbstractContextManager[None] | AbstractAsyncContextManager[None]]


_HOOKS: dict[tuple[type, str], tuple[Factory, bool] | None] = {}
_RESULTS: dict[type, bool] = {}


def _hooks(kind: type[SchemaExtension], name: str) -> tuple[Factory, bool] | None:
    """The context-manager factory of one hook of an extension class, and whether it is async.

    Strawberry works this out for every extension and every hook of every request (inspecting
    the function and wrapping a bound method each time); it depends on the class only.
    """
    key = (kind, name)
    if key not in _HOOKS:
        _HOOKS[key] = _factory(kind, name)
    return _HOOKS[key]


def _factory(kind: type[SchemaExtension], name: str) -> tuple[Factory, bool] | None:
    fn: Any = getattr(kind, name)
    if fn is getattr(SchemaExtension, name):
        return None
    if inspect.isgeneratorfunction(fn):
        return contextlib.contextmanager(fn), False
    if inspect.isasyncgenfunction(fn):
        return contextlib.asynccontextmanager(fn), True
    if inspect.iscoroutinefunction(fn):

        @contextlib.asynccontextmanager
        async def awaited(extension: SchemaExtension) -> AsyncIterator[None]:
            await fn(extension)
            yield

        return awaited, True

    @contextlib.contextmanager
    def called(extension: SchemaExtension) -> Iterator[None]:
        fn(extension)
        yield

    return called, False


class _Hooks:
    """One lifecycle stage's hooks, entered in the extensions' order and left in reverse, with
    the exceptions passed through them: what Strawberry's own context managers do."""

    __slots__ = ("async_stack", "hooks", "name", "stack")

    def __init__(self, extensions: list[SchemaExtension], name: str) -> None:
        self.name = name
        self.hooks = [
            (found[0], found[1], extension)
            for extension in extensions
            if (found := _hooks(type(extension), name)) is not None
        ]

    def __enter__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.stack.__enter__()
        for factory, is_async, extension in self.hooks:
            if is_async:
                raise RuntimeError(
                    f"SchemaExtension hook {extension}.{self.name} failed to complete synchronously."
                )
            self.stack.enter_context(factory(extension))  # type: ignore[arg-type]

    def __exit__(self, *exc: Any) -> bool:
        return bool(self.stack.__exit__(*exc))

    async def __aenter__(self) -> None:
        self.async_stack = contextlib.AsyncExitStack()
        await self.async_stack.__aenter__()
        for factory, is_async, extension in self.hooks:
            if is_async:
                await self.async_stack.enter_async_context(factory(extension))  # type: ignore[arg-type]
            else:
                self.async_stack.enter_context(factory(extension))  # type: ignore[arg-type]

    async def __aexit__(self, *exc: Any) -> bool:
        return bool(await self.async_stack.__aexit__(*exc))


def _has_results(kind: type[SchemaExtension]) -> bool:
    found = _RESULTS.get(kind)
    if found is None:
        found = _RESULTS[kind] = kind.get_results is not SchemaExtension.get_results
    return found


class ExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's runner with each class's hooks worked out once (``_hooks``) rather than per
    request: about a third of what seven extensions cost a request."""

    def operation(self) -> Any:
        return _Hooks(self.extensions, "on_operation")

    def validation(self) -> Any:
        return _Hooks(self.extensions, "on_validate")

    def parsing(self) -> Any:
        return _Hooks(self.extensions, "on_parse")

    def executing(self) -> Any:
        return _Hooks(self.extensions, "on_execute")

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self.extensions:
            if _has_results(type(extension)):
                data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


def _attribute(get: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any) -> Any:
        return get(source)

    resolve._is_default = True  # type: ignore[attr-defined]  # what Strawberry marks its own with
    return resolve


def _read_attributes_directly(schema: GraphQLSchema) -> None:
    """A field without a resolver of its own reads its attribute; Strawberry's resolver for such a
    field is three Python calls (its closure, ``get_result``, the default resolver), this is one.
    A catalog page resolves ~700 of them. Only fields Strawberry itself made basic are touched,
    and only while the default resolver is ``getattr``, so what they return is unchanged."""
    for kind in schema.type_map.values():
        if not isinstance(kind, GraphQLObjectType) or kind.name.startswith("__"):
            continue
        for field in kind.fields.values():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            resolve = field.resolve
            if (
                definition is not None
                and resolve is not None
                and getattr(resolve, "__name__", None) == "_get_basic_result"
                and definition.is_basic_field
                and definition.default_resolver is getattr
            ):
                read = operator.attrgetter(definition.python_name)
                field.resolve = _attribute(read)
                of = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
                if is_leaf_type(of):
                    unchanged = next((t for scalar, t in _UNCHANGED if of is scalar), None)
                    leaf = (read, of, of is not field.type, unchanged)
                    field.extensions = {**(field.extensions or {}), _LEAF: leaf}


# A basic field of a scalar or enum type: (read its attribute, its named type, whether non-null,
# the Python type its serializer returns as it is, if any).
_LEAF = "kapda-leaf"
# What graphql-core's own serializers give back unchanged: a str for String and ID, a bool for
# Boolean (an exact type: an enum member that is also a str is serialized as the enum).
_UNCHANGED = ((GraphQLString, str), (GraphQLID, str), (GraphQLBoolean, bool))


class _Executor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with one shortcut: a basic leaf field (an attribute of a scalar or
    enum type, ~2/3 of a catalog page's 705 fields) is read and completed here, without the
    resolve info, argument values and type dispatch graphql-core builds for every field. Its value,
    its errors and where they are located are graphql-core's own (``complete_leaf_value``,
    ``handle_field_error``); anything else, and every field once an extension wraps resolvers
    (field middleware), takes graphql-core's path."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        middleware = self.middleware_manager
        leaf = field_def.extensions.get(_LEAF) if field_def is not None and field_def.extensions else None
        if (
            field_def is None
            or leaf is None
            or node.arguments
            or (middleware is not None and middleware.middlewares)
        ):
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        read, kind, non_null, unchanged = leaf
        try:
            result = read(source)
            if type(result) is unchanged:  # what complete_leaf_value would return; never when None
                return result
            if self.is_awaitable(result):
                return super().execute_field(parent_type, source, field_details_list, path, position_context)
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                if non_null:
                    raise TypeError(
                        f"Cannot return null for non-nullable field {parent_type}.{node.name.value}."
                    )
                return None
            return self.complete_leaf_value(kind, result)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_def.type, field_details_list, path)
            return None


def _leaf(kind: StrawberryType | type, scalars: Any) -> bool:
    """Whether graphql-core's coerced value is already the Python value (a scalar or an enum, or
    an optional one); a Maybe, a list, an input object or a GlobalID still needs converting."""
    if isinstance(kind, StrawberryOptional) and not isinstance(kind, StrawberryMaybe):
        kind = kind.of_type
    if kind is GlobalID:
        return False
    return (
        bool(is_scalar(kind, scalars))
        or isinstance(kind, StrawberryEnumDefinition)
        or has_enum_definition(kind)
    )


def _builder(definition: StrawberryObjectDefinition, config: StrawberryConfig, scalars: Any) -> Any:
    """Builds an input object the way Strawberry does (``convert_argument``), from a plan made once:
    Strawberry re-derives each field's GraphQL name and type on every value it converts."""
    plan = [
        (config.name_converter.from_field(f), f.python_name, kind, _leaf(kind, scalars))
        for f in definition.fields
        for kind in [f.resolve_type(type_definition=definition)]
    ]
    # What Strawberry does too: a field with no default the client left out is None.
    unset: dict[str, Any] = {
        f.python_name: None
        for f in definition.fields
        if f.default_value is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }

    def build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        fields: dict[str, Any] = dict(unset)
        for name, python_name, kind, leaf in plan:
            if name in value:
                given = value[name]
                fields[python_name] = given if leaf else context.convert(given, kind, name)
        return cls(**fields)

    return build


def _build_inputs_directly(schema: GraphQLSchema, config: StrawberryConfig, scalars: Any) -> None:
    """Every input object of ours is built from a plan made here, once (``_builder``): a
    startCheckout spent ~5 % of its interpreter time in Strawberry converting its address."""
    for kind in schema.type_map.values():
        if not isinstance(kind, GraphQLInputObjectType) or kind.name.startswith("__"):
            continue
        definition = (kind.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if isinstance(definition, StrawberryObjectDefinition) and definition.from_input is None:
            definition.from_input = _builder(definition, config, scalars)


class KapdaSchema(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("execution_context_class", _Executor)
        super().__init__(*args, **kwargs)
        _read_attributes_directly(self._schema)
        _build_inputs_directly(self._schema, self.config, self.schema_converter.scalar_registry)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return ExtensionsRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only what is unexpected, with its traceback and request id; client errors are not news."""
        context: Any = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", None)
        for error in errors:
            if is_unexpected(error):
                log.error(
                    "unexpected error in %s",
                    ".".join(str(p) for p in error.path or []) or "operation",
                    exc_info=error.original_error or error,
                    extra={"request_id": request_id},
                )
            elif error_code(error) == ServiceUnavailable.code:
                # An outage is news to the operator, but one line each, not a traceback per field.
                log.warning(
                    "database unavailable in %s: %s",
                    ".".join(str(p) for p in error.path or []) or "operation",
                    type(error.original_error).__name__,
                    extra={"request_id": request_id},
                )


Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


MAX_BATCH = 10


def build_schema(extensions: Sequence[Extension] = (), *, batching: bool = False) -> KapdaSchema:
    """Batching (a JSON list of operations in one request) is off unless configured: a batch
    multiplies what one request may cost, so it is capped at MAX_BATCH operations."""
    return KapdaSchema(
        query=Query,
        mutation=Mutation,
        extensions=[BoundedParserCache, BoundedValidationCache, DocumentRecorder, *extensions],
        config=StrawberryConfig(
            auto_camel_case=True,
            batching_config={"max_operations": MAX_BATCH} if batching else None,
            scalar_map=SCALARS,
        ),
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
