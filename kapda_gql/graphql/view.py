"""Strawberry's ASGI view, adapted: our context, authentication before execution, our error shape."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from kapda_gql.domain.errors import DomainError
from kapda_gql.graphql.context import Context, bearer_token
from kapda_gql.graphql.dataloaders import Loaders
from kapda_gql.graphql.errors import format_error, request_error
from kapda_gql.graphql.ratelimit import count_rejected
from kapda_gql.graphql.schema import KapdaSchema
from kapda_gql.http.request_id import request_id_of
from kapda_gql.runtime import Runtime

_HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: KapdaSchema, runtime: Runtime) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if runtime.settings.graphiql else None,
            allow_queries_via_get=True,
        )
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await JSONResponse({"error": "only HTTP is served here"}, status_code=400)(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            status = 415 if "content type" in error.reason.lower() else error.status_code
            code = _HTTP_CODES.get(status, "BAD_REQUEST")
            scope.setdefault("state", {})["error_codes"] = [code]  # for the access log and metrics
            response = JSONResponse(
                request_error(code, error.reason, request_id_of(scope)), status_code=status
            )
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        """Only a JSON object (or a batch list) is a request: anything else is a 400, never a 500."""
        try:
            value = self.decode_json(data)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, or nesting deep enough to recurse out
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        client = request.client
        return Context(
            runtime=self.runtime,
            request=request,
            response=response,
            request_id=request_id_of(request.scope),
            ip=client.host if client else None,
            user_agent=request.headers.get("user-agent"),
            token=bearer_token(request),
            loaders=Loaders(self.runtime.db),
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        try:
            await context.authenticate()
        except DomainError as rejected:
            error: DomainError = await count_rejected(context) or rejected  # bad tokens count per IP
            return ExecutionResult(
                data=None, errors=[StrawberryGraphQLError(error.message, original_error=error)]
            )
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            request_id = request_id_of(request.scope)
            production = self.runtime.settings.production
            body["errors"] = [
                format_error(e, request_id=request_id, production=production) for e in result.errors
            ]
            # For the access log and metrics (http/middleware.py): which codes this request answered.
            codes = request.scope.setdefault("state", {}).setdefault("error_codes", [])
            codes.extend(e["extensions"]["code"] for e in body["errors"])
        if result.extensions:
            body["extensions"] = result.extensions
        return body  # type: ignore[return-value]


__all__ = ["GraphQLError", "GraphQLView"]
