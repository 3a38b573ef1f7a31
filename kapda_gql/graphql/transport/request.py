"""Turning an HTTP request into GraphQL requests: the JSON body of a POST, the parameters of a GET.

Anything that is not a usable GraphQL request is a ``Rejected`` with the status the
GraphQL-over-HTTP specification asks for; the view renders it in the API's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from kapda_gql.graphql.schema import MAX_BATCH


@dataclass
class Rejected(Exception):
    """The HTTP request carries no GraphQL request we can run: answered with ``status``."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def bad_request(message: str) -> Rejected:
    return Rejected(400, "BAD_REQUEST", message)


@dataclass
class GraphQLRequest:
    query: str | None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


def _decode_json(data: str | bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, or nesting deep enough to recurse out
        raise bad_request(f"Unable to parse {what} as JSON") from None


def _request_of(params: Mapping[str, Any]) -> GraphQLRequest:
    query = params.get("query")
    if query is not None and not isinstance(query, str):
        raise bad_request("`query` must be a string")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise bad_request("`variables` must be a JSON object")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise bad_request("`operationName` must be a string")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise bad_request("`extensions` must be a JSON object")
    return GraphQLRequest(query or None, variables, operation_name or None, extensions)


def _content_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    kind, *params = (p.strip() for p in raw.split(";"))
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.lower(), parsed


async def from_post(
    request: Request, body: bytes, *, batching: bool
) -> list[GraphQLRequest] | GraphQLRequest:
    kind, params = _content_type(request)
    if kind != "application/json":
        raise Rejected(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported content type: send application/json")
    if params.get("charset", "utf-8") not in {"utf-8", "utf8"}:
        raise Rejected(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported charset: send UTF-8")
    if not body:
        raise bad_request("The request has no body: send a JSON object with `query`")
    value = _decode_json(body, "request body")
    if isinstance(value, list):
        if not batching:
            raise bad_request("Batching is not enabled: send one operation per request")
        if not value or len(value) > MAX_BATCH:
            raise bad_request(f"A batch holds 1 to {MAX_BATCH} operations")
        if not all(isinstance(item, dict) for item in value):
            raise bad_request("Each operation of a batch must be a JSON object")
        return [_request_of(item) for item in value]
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object")
    return _request_of(value)


def from_get(request: Request) -> GraphQLRequest:
    params: dict[str, Any] = dict(request.query_params)
    for name, what in (("variables", "`variables`"), ("extensions", "`extensions`")):
        if params.get(name):
            params[name] = _decode_json(params[name], what)
        else:
            params.pop(name, None)
    return _request_of(params)


def require_document(request: GraphQLRequest) -> str:
    if request.query is None:
        raise bad_request("No GraphQL query found in the request")
    return request.query


__all__ = ["MAX_BATCH", "GraphQLRequest", "Rejected", "bad_request", "from_get", "from_post"]
