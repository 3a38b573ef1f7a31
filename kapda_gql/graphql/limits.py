"""Query limits, checked before anything executes: tokens, depth, aliases, page size and cost.

Every limit is answered with ``QUERY_TOO_COMPLEX`` and the ``limit`` that was hit. The checks run
right after parsing (the parser itself stops at ``max_tokens``), so a hostile document costs us
neither validation nor execution. They cover introspection fields too.

Cost model: a field returning an object costs 1, a scalar or enum 0; a field with a ``first``
(or ``last``) argument multiplies the cost of what it selects by that page size, other lists by an
estimate (connection ``edges`` by 1 since their page size was counted, introspection lists by the
real average size in this schema, any other list by ``DEFAULT_LIST_SIZE``).

Page sizes given by variables are read after graphql-core's own variable coercion, so whatever
JSON number carries ``$n`` (``100``, ``100.0``) costs what execution will use; a page size that is
not a whole number is refused here as well.

In production (unless introspection is configured on) ``__schema``/``__type`` are refused and
"Did you mean ...?" suggestions are stripped from error messages, since both reveal the schema.

Longer than ~400 lines for a stated reason: the cost walk and its rules are one piece, and
splitting the walk from the limits would scatter one decision over two modules.
"""

from __future__ import annotations

import math
import re
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import get_variable_values
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from kapda_gql.config import Settings

CODE = "QUERY_TOO_COMPLEX"
DEFAULT_LIST_SIZE = 10
PAGE_ARGUMENTS = ("first", "last")
CONNECTION_LISTS = frozenset({"edges", "nodes"})
_TOKEN_LIMIT_MESSAGE = re.compile(r"Document contains more than \d+ tokens")
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_DEFAULTS = Settings()


def too_complex(message: str, limit: int) -> GraphQLError:
    """graphql/errors.py keeps a preset code, so this is all it takes to be QUERY_TOO_COMPLEX."""
    return GraphQLError(message, extensions={"code": CODE, "limit": limit})


@dataclass(frozen=True, slots=True)
class Limits:
    depth: int
    aliases: int
    page_size: int
    cost: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_query_depth, settings.max_aliases, settings.max_page_size, settings.max_cost)


# --- what introspection lists hold in this schema ---------------------------------------------


def _mean(counts: list[int]) -> int:
    counts = [c for c in counts if c > 0]
    return max(1, math.ceil(sum(counts) / len(counts))) if counts else 1


def _introspection_sizes(schema: GraphQLSchema) -> dict[str, int]:
    types = list(schema.type_map.values())
    composite = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    fields = [f for t in composite for f in t.fields.values()]
    return {
        "types": len(types),
        "directives": max(1, len(schema.directives)),
        "fields": _mean([len(t.fields) for t in composite]),
        "inputFields": _mean([len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)]),
        "enumValues": _mean([len(getattr(t, "values", {})) for t in types if hasattr(t, "values")]),
        "interfaces": _mean([len(t.interfaces) for t in composite]),
        "possibleTypes": _mean([len(schema.get_possible_types(t)) for t in types if is_abstract_type(t)]),
        "args": _mean([len(f.args) for f in fields] + [len(d.args) for d in schema.directives]),
    }


_SIZES: weakref.WeakKeyDictionary[GraphQLSchema, dict[str, int]] = weakref.WeakKeyDictionary()


def introspection_sizes(schema: GraphQLSchema) -> dict[str, int]:
    sizes = _SIZES.get(schema)
    if sizes is None:
        sizes = _SIZES[schema] = _introspection_sizes(schema)
    return sizes


# --- the analysis ----------------------------------------------------------------------------


@dataclass
class _Walk:
    """One operation's walk; fragment results are memoised, so fragment bombs cost linear time."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]  # as graphql-core coerced them (defaults included)
    raw_variables: Mapping[str, Any]  # as the client sent them
    limits: Limits
    depth_memo: dict[str, int] = field(default_factory=dict)
    cost_memo: dict[str, int] = field(default_factory=dict)
    visiting: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)  # the variables the walk read (page sizes)

    def depth(self, selection_set: SelectionSetNode | None) -> int:
        deepest = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                # `ofType` only unwraps List/NonNull wrappers (null after a few levels, never a list),
                # and introspection clients nest it ~9 deep: it does not count as depth.
                step = 0 if selection.name.value == "ofType" else 1
                deepest = max(deepest, step + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value, self.depth_memo, self._depth_of))
            if deepest > self.limits.depth:
                break  # already too deep: no need to see the rest
        return deepest

    def _depth_of(self, fragment: FragmentDefinitionNode) -> int:
        return self.depth(fragment.selection_set)

    def _fragment(self, name: str, memo: dict[str, int], compute: Any) -> int:
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:
            return 0  # unknown or cyclic: validation rejects the document
        self.visiting.add(name)
        try:
            memo[name] = int(compute(fragment))
        finally:
            self.visiting.discard(name)
        return memo[name]

    def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self.cost_memo, self._cost_of)
            if total > self.limits.cost:
                break
        return total

    def _cost_of(self, fragment: FragmentDefinitionNode) -> int:
        return self.cost(fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value))

    def _field_def(self, node: FieldNode, parent: GraphQLNamedType | None) -> GraphQLField | None:
        name = node.name.value
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is not None and parent is self.schema.query_type:
            if name == "__schema":
                return SchemaMetaFieldDef
            if name == "__type":
                return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None

    def _field_cost(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        definition = self._field_def(node, parent)
        if definition is None:
            return 0  # not in the schema: validation will say so
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        multiplier = self._multiplier(node, definition, parent)
        # Introspection is answered from memory: only its lists (which multiply) cost anything.
        own = 0 if parent is not None and parent.name.startswith("__") and multiplier == 1 else 1
        return own + multiplier * self.cost(node.selection_set, named)

    def _multiplier(self, node: FieldNode, definition: GraphQLField, parent: GraphQLNamedType | None) -> int:
        pages = [
            self._page_size(node, definition, name) for name in PAGE_ARGUMENTS if name in definition.args
        ]
        if pages:
            return max(pages)
        output = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        if not isinstance(output, GraphQLList):
            return 1
        name = node.name.value
        if parent is not None and parent.name.startswith("__"):
            return introspection_sizes(self.schema).get(name, DEFAULT_LIST_SIZE)
        return 1 if name in CONNECTION_LISTS else DEFAULT_LIST_SIZE

    def _page_size(self, node: FieldNode, definition: GraphQLField, name: str) -> int:
        limit = self.limits.page_size
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            literal = argument.value
            if isinstance(literal, IntValueNode):
                value = int(literal.value)
            elif isinstance(literal, FloatValueNode):
                value = float(literal.value)
            elif isinstance(literal, VariableNode):
                variable = literal.name.value
                self.read.add(variable)
                if _not_whole(self.raw_variables.get(variable)):
                    raise too_complex(f"`{name}` must be a whole number", limit)
                value = self.variables.get(variable)
            elif isinstance(literal, NullValueNode):
                value = None
        if value is None:
            value = definition.args[name].default_value
        if _not_whole(value):
            raise too_complex(f"`{name}` must be a whole number", limit)
        if isinstance(value, float):
            value = int(value)  # a whole-number literal such as 100.0: validation refuses it anyway
        if not isinstance(value, int) or isinstance(value, bool):
            return 1  # not a number at all: variable coercion or validation will refuse it
        if value > limit:
            raise too_complex(f"`{name}` may be at most {limit}", limit)
        return max(value, 0)


def _not_whole(value: Any) -> bool:
    return isinstance(value, float) and not value.is_integer()


def _coerced_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, given: Mapping[str, Any]
) -> dict[str, Any]:
    """The variables as execution will see them: graphql-core's own coercion, defaults included.

    When they do not coerce, execution refuses the request before running anything, so nothing
    of theirs needs counting: the page sizes fall back to the arguments' defaults.
    """
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(given))
    if isinstance(coerced, list):
        return {}
    values = cast(Mapping[str, Any], getattr(coerced, "coerced", coerced))  # 3.3 wraps; 3.2 does not
    return dict(values)


def _walk(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> _Walk:
    given = variables if isinstance(variables, Mapping) else {}
    return _Walk(schema, fragments, _coerced_variables(schema, operation, given), given, limits)


def count_aliases(document: DocumentNode) -> int:
    count = 0
    stack: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode) and selection.alias is not None:
                count += 1
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)
    return count


@dataclass(slots=True)
class _Passed:
    """A document that passed its checks: for which schema, limits and values of the variables the
    walk read (the page sizes; nothing else in the variables moves the outcome)."""

    document: weakref.ref[DocumentNode]
    names: tuple[str, ...]
    passed: set[Hashable]


# Parsed documents are shared by every request that sends the same text (graphql/transport/
# caches.py), so a document that passed once passes again for the same page sizes: its walk is
# skipped. Keyed by identity (a node's hash walks the whole tree); bounded like the parser cache.
_PASSED: OrderedDict[int, _Passed] = OrderedDict()
MAX_PASSED_DOCUMENTS = 512
MAX_PASSED_PER_DOCUMENT = 64
_ABSENT = object()


def _signature(
    schema: GraphQLSchema, limits: Limits, names: tuple[str, ...], variables: Mapping[str, Any] | None
) -> Hashable | None:
    given = variables if isinstance(variables, Mapping) else {}
    values = []
    for name in names:
        value = given.get(name, _ABSENT)
        # The type too: 20, 20.0 and True hash alike but are not checked alike.
        values.append((name, type(value), value))
    key = (id(schema), limits, tuple(values))
    try:
        hash(key)
    except TypeError:  # a list or object where a page size goes: checked every time
        return None
    return key


def check_document(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None, limits: Limits
) -> None:
    """Raise QUERY_TOO_COMPLEX for the first limit the document exceeds; otherwise return."""
    known = _PASSED.get(id(document))
    if known is not None and known.document() is document:
        signature = _signature(schema, limits, known.names, variables)
        if signature is not None and signature in known.passed:
            return
    read = _check(schema, document, variables, limits)
    if known is None or known.document() is not document:
        known = _Passed(weakref.ref(document), tuple(sorted(read)), set())
        _PASSED[id(document)] = known
        while len(_PASSED) > MAX_PASSED_DOCUMENTS:
            _PASSED.popitem(last=False)
    _PASSED.move_to_end(id(document))
    signature = _signature(schema, limits, known.names, variables)
    if signature is not None and len(known.passed) < MAX_PASSED_PER_DOCUMENT:
        known.passed.add(signature)


def _check(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None, limits: Limits
) -> set[str]:
    """The checks themselves; the variables they read, when all passed."""
    aliases = count_aliases(document)
    if aliases > limits.aliases:
        raise too_complex(
            f"The query uses {aliases} aliases; at most {limits.aliases} are allowed", limits.aliases
        )
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    read: set[str] = set()
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        walk = _walk(schema, fragments, operation, variables, limits)
        depth = walk.depth(operation.selection_set)
        if depth > limits.depth:
            raise too_complex(f"The query is nested too deeply; at most {limits.depth} levels", limits.depth)
        root = schema.get_root_type(operation.operation)
        cost = walk.cost(operation.selection_set, root)
        if cost > limits.cost:
            raise too_complex(
                f"The query would cost more than {limits.cost} (lists count by their size); ask for less",
                limits.cost,
            )
        read |= walk.read
    return read


def estimate_cost(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None = None
) -> int:
    """The cost of the document's costliest operation (for tests and tuning)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    limits = Limits(depth=10**9, aliases=10**9, page_size=10**9, cost=10**12)
    costs = [
        _walk(schema, fragments, op, variables, limits).cost(
            op.selection_set, schema.get_root_type(op.operation)
        )
        for op in document.definitions
        if isinstance(op, OperationDefinitionNode)
    ]
    return max(costs, default=0)


def strip_suggestions(errors: list[GraphQLError] | None) -> None:
    """Drop "Did you mean X?" from messages: it hands out the schema that introspection refuses to."""
    for error in errors or ():
        if "Did you mean" in error.message:
            error.message = _SUGGESTION.sub("", error.message) or error.message


# --- the extension ---------------------------------------------------------------------------


def _settings_of(context: Any) -> Settings:
    runtime = getattr(context, "runtime", None)
    settings = getattr(runtime, "settings", None)
    return settings if isinstance(settings, Settings) else _DEFAULTS


class QueryLimits(SchemaExtension):
    """Registered in kapda_gql.extensions; settings come from the request context's runtime."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        settings = _settings_of(ctx.context)
        ctx.parse_options["max_tokens"] = settings.max_tokens
        hide_schema = not settings.introspection
        if hide_schema:
            ctx.validation_rules = (*ctx.validation_rules, NoSchemaIntrospectionCustomRule)
        try:
            yield
        except GraphQLSyntaxError as error:
            if _TOKEN_LIMIT_MESSAGE.search(error.message):
                raise too_complex(
                    f"The query has more than {settings.max_tokens} tokens", settings.max_tokens
                ) from None
            raise
        finally:
            if hide_schema:
                strip_suggestions(ctx.pre_execution_errors)
                result = ctx.result
                if result is not None:
                    strip_suggestions(getattr(result, "errors", None))

    def on_parse(self) -> Iterator[None]:
        yield
        ctx = self.execution_context
        if ctx.graphql_document is None:
            return  # the parser failed; that error is already on its way
        check_document(
            ctx.schema._schema, ctx.graphql_document, ctx.variables, Limits.of(_settings_of(ctx.context))
        )

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if not _settings_of(ctx.context).introspection and ctx.pre_execution_errors is None:
            # Validate here (the cache usually did already) so suggestions can be stripped before the
            # errors are handed on.
            from strawberry.schema.schema import validate_document

            assert ctx.graphql_document is not None
            ctx.pre_execution_errors = validate_document(
                ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
            )
        if not _settings_of(ctx.context).introspection:
            strip_suggestions(ctx.pre_execution_errors)
        yield


__all__ = ["CODE", "Limits", "QueryLimits", "check_document", "estimate_cost", "too_complex"]
