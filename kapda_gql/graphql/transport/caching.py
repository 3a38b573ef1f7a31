"""HTTP caching of GraphQL answers: which GET answers shared caches may keep, and their ETags.

An answer is public only when the request is anonymous, came by GET, has no errors, and every
root field of its operation is one the schema marks public here: the catalog, which every
anonymous caller sees alike. Anything else is ``private, no-store``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

# The one list of public root fields: what an anonymous caller may be answered from a shared cache.
PUBLIC_QUERY_FIELDS = frozenset({"products", "product", "categories"})
# The catalog itself must be there; `categories` joins the schema with its own work.
_REQUIRED_PUBLIC = frozenset({"products", "product"})
PRIVATE = "private, no-store"
DOCUMENT_KEY = "graphql_document"


class DocumentRecorder(SchemaExtension):
    """Leaves the executed document in the request's scope state, for the view to judge it public."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        request = getattr(ctx.context, "request", None)
        if request is not None:
            request.scope.setdefault("state", {})[DOCUMENT_KEY] = ctx.graphql_document
        yield


def check_public_fields(schema: GraphQLSchema) -> None:
    """Refuse to start when a public field is gone from the schema (a rename would silently stop caching)."""
    query = schema.query_type
    missing = sorted(_REQUIRED_PUBLIC - set(query.fields if query else ()))
    if missing:
        raise RuntimeError(f"public root fields missing from the schema: {', '.join(missing)}")


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> set[str] | None:
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            inner = _root_fields(selection.selection_set, fragments, seen)
            if inner is None:
                return None
            names |= inner
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return None
            inner = _root_fields(fragment.selection_set, fragments, seen | {name})
            if inner is None:
                return None
            names |= inner
    return names


def is_public(document: DocumentNode | None, operation_name: str | None) -> bool:
    """Every root field of the operation is public (``__typename`` too: it says only "Query")."""
    if document is None:
        return False
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode) or operation.operation != OperationType.QUERY:
        return False
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names = _root_fields(operation.selection_set, fragments, set())
    return names is not None and bool(names) and names <= PUBLIC_QUERY_FIELDS | {"__typename"}


def public(seconds: int) -> str:
    return f"public, max-age={seconds}"


def etag_of(body: bytes) -> str:
    """A strong validator: the answer's own bytes, hashed."""
    return '"' + base64.urlsafe_b64encode(hashlib.sha256(body).digest()[:18]).decode() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): a W/ prefix does not matter."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


__all__ = [
    "DOCUMENT_KEY",
    "PRIVATE",
    "PUBLIC_QUERY_FIELDS",
    "DocumentRecorder",
    "check_public_fields",
    "etag_of",
    "is_public",
    "matches",
    "public",
]
