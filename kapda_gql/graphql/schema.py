"""The schema, assembled from one Query and one Mutation part per capability."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

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


class KapdaSchema(strawberry.Schema):
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
