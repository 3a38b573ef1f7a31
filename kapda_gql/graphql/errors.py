"""The one mapping from errors to API error codes, with the request id on every error.

Domain errors carry their code; parse and validation failures get the GraphQL
codes; a database that is down or past its time bounds is SERVICE_UNAVAILABLE
(retryable, never the driver's text); anything else is INTERNAL_SERVER_ERROR,
masked in production and logged with its traceback under the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import DBAPIError, StatementError

from kapda_gql.db.uow import is_outage, sqlstate
from kapda_gql.domain.errors import DomainError, ServiceUnavailable

log = logging.getLogger("kapda_gql.domain.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
_COERCION_MARKERS = ("Variable '$", "got invalid value", "of required type", "was not provided")


def domain_error(error: GraphQLError) -> DomainError | None:
    original: BaseException | None = error.original_error
    while original is not None and not isinstance(original, DomainError):
        original = getattr(original, "original_error", None) or original.__cause__
    if isinstance(original, DomainError):
        return original
    if error.original_error is not None and is_outage(error.original_error):
        # The database is down or frozen past its bounds: retryable, and never the driver's text.
        return ServiceUnavailable()
    return None


# Data the client sent that PostgreSQL cannot store (NUL bytes, over-long values): the client's
# mistake, whatever check upstream missed it, so never an internal error.
_CLIENT_DATA_SQLSTATES = frozenset({"22021", "22001", "22P05"})


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """The API's error for a failure raised outside execution (authentication), if it is an outage."""
    return ServiceUnavailable() if is_outage(error) else None


def error_code(error: GraphQLError) -> str:
    if error.original_error is not None and sqlstate(error.original_error) in _CLIENT_DATA_SQLSTATES:
        return "BAD_USER_INPUT"
    domain = domain_error(error)
    if domain is not None:
        return domain.code
    preset = (error.extensions or {}).get("code")
    if isinstance(preset, str):
        return preset
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if isinstance(error.original_error, GraphQLError) and error.path is None:
        # graphql-core wraps a variable it could not coerce (a bad enum value, "x" for an Int).
        return "BAD_USER_INPUT"
    if error.original_error is None:
        # Raised by graphql-core itself before or while coercing: the document or its variables are wrong.
        if error.path is None and any(m in error.message for m in _COERCION_MARKERS):
            return "BAD_USER_INPUT"
        return "GRAPHQL_VALIDATION_FAILED" if error.path is None else "BAD_USER_INPUT"
    return INTERNAL


def _from_database(error: GraphQLError) -> bool:
    """Whether the failure came from SQLAlchemy or the PostgreSQL driver, however it was wrapped."""
    seen: BaseException | None = error.original_error
    for _ in range(20):  # a cycle of causes must not hang error formatting
        if seen is None:
            return False
        if isinstance(seen, StatementError | DBAPIError) or type(seen).__module__.startswith("asyncpg"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def is_unexpected(error: GraphQLError) -> bool:
    return error_code(error) == INTERNAL


def format_error(error: GraphQLError, *, request_id: str, production: bool) -> dict[str, Any]:
    code = error_code(error)
    domain = domain_error(error)
    extensions: dict[str, Any] = {}
    if domain is not None:
        extensions.update(domain.extensions)
    elif error.extensions:
        extensions.update({k: v for k, v in error.extensions.items() if k != "code"})
    extensions["code"] = code
    extensions["requestId"] = request_id
    if code == INTERNAL and production:
        return {"message": "Internal server error", "extensions": {"code": INTERNAL, "requestId": request_id}}
    message = domain.message if domain is not None else error.message
    if code == "BAD_USER_INPUT" and domain is None and error.original_error is not None:
        message = "The input contains characters or lengths that cannot be stored"  # not the SQL text
    elif code == INTERNAL and _from_database(error):
        # The driver's message carries the statement and its parameters (a password hash, an
        # address): those go to the log under the request id, never to a client, in development too.
        message = "A database operation failed; the log has the details under this request id"
    body: dict[str, Any] = {"message": message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    body["extensions"] = extensions
    return body


def request_error(code: str, message: str, request_id: str, **extensions: Any) -> dict[str, Any]:
    """A whole-request error body (bad JSON, wrong content type, too large) in the GraphQL shape."""
    return {
        "errors": [{"message": message, "extensions": {"code": code, "requestId": request_id, **extensions}}]
    }
