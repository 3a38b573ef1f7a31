"""Every string a request carries is checked once, here, before anything executes.

PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone UTF-16 surrogate (JSON's
``"\\ud800"``), so such a string would fail deep in the driver as an internal error. Both are
refused up front as ``BAD_USER_INPUT`` naming the field, for string literals in the document and
for every value inside the variables, whatever type they are declared with; the offending value
is never echoed.

Field names follow the services' convention: the argument path with list positions in brackets,
and a top-level ``input`` argument left out (``shippingAddress.name``, ``images[2]``). A value
given by a variable is named where the variable is used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from kapda_gql.domain.errors import BadUserInput
from kapda_gql.domain.text import unstorable

MAX_REPORTED = 20  # one hostile request need not list a thousand fields


def _join(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step


@dataclass
class _Scan:
    fragments: Mapping[str, FragmentDefinitionNode]
    found: list[tuple[str, str]] = field(default_factory=list)
    variable_paths: dict[str, str] = field(default_factory=dict)  # first place each variable is used
    seen_fragments: set[str] = field(default_factory=set)

    def full(self) -> bool:
        return len(self.found) >= MAX_REPORTED

    # --- the document's literals, and where variables go --------------------------------------

    def selections(self, selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                self.arguments(selection.arguments or ())
                self.selections(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in self.seen_fragments:
                    self.seen_fragments.add(name)  # each fragment once: spreads cannot multiply the work
                    self.selections(fragment.selection_set)

    def arguments(self, arguments: Collection[ArgumentNode]) -> None:
        for argument in arguments:
            name = argument.name.value
            self.literal(argument.value, "" if name == "input" else name)

    def literal(self, node: ValueNode, path: str) -> None:
        if self.full():
            return
        if isinstance(node, StringValueNode):
            reason = unstorable(node.value)
            if reason:
                self.found.append((path or "input", reason))
        elif isinstance(node, VariableNode):
            self.variable_paths.setdefault(node.name.value, path)
        elif isinstance(node, ListValueNode):
            for index, item in enumerate(node.values):
                self.literal(item, f"{path}[{index}]")
        elif isinstance(node, ObjectValueNode):
            for entry in node.fields:
                self.literal(entry.value, _join(path, entry.name.value))

    # --- the variables, as the client sent them ------------------------------------------------

    def value(self, value: Any, path: str) -> None:
        if self.full():
            return
        if isinstance(value, str):
            reason = unstorable(value)
            if reason:
                self.found.append((path or "input", reason))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.value(item, f"{path}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and unstorable(key):
                    # The name itself cannot be shown; coercion would refuse an unknown name anyway.
                    self.found.append((path or "input", "contains a field name that cannot be stored"))
                    continue
                self.value(item, _join(path, str(key)))


def unstorable_inputs(
    document: DocumentNode, variables: Mapping[str, Any] | None, operation_name: str | None = None
) -> list[tuple[str, str]]:
    """(field, reason) for each string of the operation that cannot be stored; empty when all can."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    scan = _Scan(fragments)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        scan.selections(definition.selection_set)
    for name, value in (variables or {}).items():
        if isinstance(name, str) and unstorable(name):
            scan.found.append(("variables", "contains a variable name that cannot be stored"))
            continue
        scan.value(value, scan.variable_paths.get(name, name))
    return scan.found[:MAX_REPORTED]


class InputHygiene(SchemaExtension):
    """Registered in kapda_gql.extensions; answers the request itself when a string is unstorable."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        variables = ctx.variables if isinstance(ctx.variables, Mapping) else None
        if document is not None and ctx.result is None:
            found = unstorable_inputs(document, variables, ctx.operation_name)
            if found:
                refusal = BadUserInput(found)
                # A result set here is what strawberry answers instead of executing anything.
                ctx.result = ExecutionResult(
                    data=None, errors=[GraphQLError(refusal.message, original_error=refusal)]
                )
        yield


__all__ = ["InputHygiene", "unstorable_inputs"]
