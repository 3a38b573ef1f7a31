"""The body of an error that ends a whole HTTP request before GraphQL runs (bad JSON, wrong content
type, too large, too slow), in the GraphQL error shape every client already reads. It lives here, not
in the GraphQL layer, because the ASGI middleware answers such requests too and depends on nothing in
``kapda_gql.graphql``."""

from __future__ import annotations

from typing import Any


def request_error(code: str, message: str, request_id: str, **extensions: Any) -> dict[str, Any]:
    """A whole-request error body (bad JSON, wrong content type, too large) in the GraphQL shape."""
    return {
        "errors": [{"message": message, "extensions": {"code": code, "requestId": request_id, **extensions}}]
    }
