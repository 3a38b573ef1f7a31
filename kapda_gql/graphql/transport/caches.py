"""Parser and validation caches bounded by document size as well as by count.

Strawberry's caches bound only the number of entries, so 512 one-megabyte documents (one comment
and `{ __typename }` parse in a handful of tokens) would be half a gigabyte kept for good. Here a
document over ``MAX_CACHED_CHARS`` is parsed and validated every time and never kept, and all
entries together stay under ``MAX_TOTAL_CHARS`` of query text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any, Generic, TypeVar

from graphql import GraphQLError
from graphql.language.parser import parse
from strawberry.extensions import SchemaExtension

MAX_ENTRIES = 512
MAX_CACHED_CHARS = 32 * 1024
MAX_TOTAL_CHARS = 4 * 1024 * 1024

V = TypeVar("V")


class SizedLru(Generic[V]):
    """An LRU map whose entries each weigh their query text's length."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        max_entry: int = MAX_CACHED_CHARS,
        max_total: int = MAX_TOTAL_CHARS,
    ) -> None:
        self.max_entries = max_entries
        self.max_entry = max_entry
        self.max_total = max_total
        self.total = 0
        self._items: OrderedDict[Hashable, tuple[int, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: Hashable, weight: int, value: V) -> None:
        if weight > self.max_entry or key in self._items:
            return
        self._items[key] = (weight, value)
        self.total += weight
        while len(self._items) > self.max_entries or self.total > self.max_total:
            _, (dropped, _) = self._items.popitem(last=False)
            self.total -= dropped


# Shared by every request and every schema of the process, as Strawberry's are.
parsed: SizedLru[Any] = SizedLru()
validated: SizedLru[list[GraphQLError]] = SizedLru()


class BoundedParserCache(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if query is not None and ctx.graphql_document is None:
            key = (query, tuple(sorted(ctx.parse_options.items())))
            document = parsed.get(key)
            if document is None:
                document = parse(query, **ctx.parse_options)
                parsed.put(key, len(query), document)
            ctx.graphql_document = document
        yield


class BoundedValidationCache(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if query is not None and ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            from strawberry.schema.schema import validate_document  # late: strawberry's own import cycle

            key = (query, ctx.schema._schema, ctx.validation_rules)
            errors = validated.get(key)
            if errors is None:
                errors = validate_document(ctx.schema._schema, ctx.graphql_document, ctx.validation_rules)
                validated.put(key, len(query), errors)
            ctx.pre_execution_errors = errors
        yield


__all__ = ["BoundedParserCache", "BoundedValidationCache", "SizedLru", "parsed", "validated"]
