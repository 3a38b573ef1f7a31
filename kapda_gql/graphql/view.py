"""GraphQL over HTTP, as the GraphQL-over-HTTP specification says, on Strawberry's executor.

POST runs any operation, GET only queries (a mutation is 405 with ``Allow: POST``). A client that
accepts ``application/graphql-response+json`` gets it, with the specification's status codes: a
request error (the document does not parse or validate, the variables do not coerce, nothing
ran) is 4xx with no ``data`` entry. A client that accepts only ``application/json`` gets 200 and
``data: null`` for those. Persisted queries, HTTP caching and GraphiQL hang off this one view.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError, StrawberryGraphQLError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from kapda_gql.core.ratelimit import Rule, strictest
from kapda_gql.domain.errors import DomainError, ServiceUnavailable
from kapda_gql.graphql import graphiql
from kapda_gql.graphql.context import Context, bearer_token
from kapda_gql.graphql.dataloaders import Loaders
from kapda_gql.graphql.errors import format_error, unavailable
from kapda_gql.graphql.ratelimit import count_rejected, limiter_of
from kapda_gql.graphql.schema import KapdaSchema
from kapda_gql.graphql.transport import caching, media
from kapda_gql.graphql.transport.fast import TRIED, FastPath, raw_key
from kapda_gql.graphql.transport.persisted import PersistedQueries
from kapda_gql.graphql.transport.request import (
    GraphQLRequest,
    Rejected,
    from_get,
    from_post,
    require_document,
)
from kapda_gql.graphql.transport.response_cache import Pending, ResponseCache, shares_cache
from kapda_gql.http.errors import request_error
from kapda_gql.http.request_id import request_id_of
from kapda_gql.runtime import Runtime

log = logging.getLogger("kapda_gql.graphql.view")

GET_OPERATIONS = frozenset({OperationType.QUERY})
POST_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION})
# A request error under application/graphql-response+json: 400, unless the specification names
# a better status for why nothing ran.
REQUEST_ERROR_STATUS = {"UNAUTHENTICATED": 401, ServiceUnavailable.code: 503}
VARY = "Accept, Authorization"
_PENDING = "catalog_cache_pending"  # scope state: the shared answer this request is computing


class Outcome:
    """One operation's result, and whether it is a request error (nothing executed)."""

    __slots__ = ("request_error", "result")

    def __init__(self, result: ExecutionResult, *, request_error: bool) -> None:
        self.result = result
        self.request_error = request_error


def _failed(error: DomainError | GraphQLError) -> Outcome:
    graphql_error = (
        error
        if isinstance(error, GraphQLError)
        else StrawberryGraphQLError(error.message, original_error=error)
    )
    return Outcome(ExecutionResult(data=None, errors=[graphql_error]), request_error=True)


def _is_request_error(result: ExecutionResult) -> bool:
    if isinstance(result, PreExecutionError):
        return True
    # Variable coercion fails inside graphql-core's execute: no data, and no error has a field path.
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


class GraphQLView:
    def __init__(self, schema: KapdaSchema, runtime: Runtime) -> None:
        self.schema = schema
        self.runtime = runtime
        self.settings = runtime.settings
        self.persisted = PersistedQueries(runtime.settings, runtime.db)
        self.cache = ResponseCache(runtime.settings, runtime.db)
        self.fast = FastPath(self)
        caching.check_public_fields(schema._schema)

    async def aclose(self) -> None:
        await self.persisted.aclose()
        await self.cache.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefetched: tuple[int, float] | None = None
        if scope["type"] != "http":
            response: Response = Response(status_code=400)
        else:
            state = scope.setdefault("state", {})
            if TRIED in state:
                prefetched = state.pop(TRIED)  # FastPathMiddleware saw it first
            elif self.cache.enabled:
                fast = await self.fast.serve(scope, receive, send)
                if fast.served:
                    return
                receive, prefetched = fast.receive, fast.version
            request = Request(scope, receive=receive)
            try:
                response = await self.handle(request, prefetched)
            except Rejected as rejected:
                response = self.rejection(request, rejected)
            except Exception as error:
                # Whatever touched the database outside execution (persisted queries, the rate
                # limiter) and found it down still answers in the contract's shape.
                outage = unavailable(error)
                if outage is None:
                    raise
                log.warning("database unavailable: %s", type(error).__name__)
                response = self.rejection(request, _unavailable_rejection(outage))
            finally:
                pending = scope.get("state", {}).pop(_PENDING, None)
                if pending is not None:
                    self.cache.settle(pending)  # if nothing was kept, its waiters run it themselves
        await response(scope, receive, send)

    def rejection(self, request: Request, rejected: Rejected) -> Response:
        scope = request.scope
        scope.setdefault("state", {})["error_codes"] = [rejected.code]  # for the access log and metrics
        body = request_error(rejected.code, rejected.message, request_id_of(scope))
        kind = media.response_media_type(request.headers.get("accept")) or media.JSON
        return Response(
            json.dumps(body),
            status_code=rejected.status,
            media_type=kind,
            headers={"Cache-Control": caching.PRIVATE, **rejected.headers},
        )

    async def handle(self, request: Request, prefetched: tuple[int, float] | None = None) -> Response:
        """``prefetched``: the catalog version (and when its read began) the fast path already read
        for this request, whose cached entry turned out to be stale."""
        method = request.method
        if method not in {"GET", "POST"}:
            raise Rejected(405, "METHOD_NOT_ALLOWED", f"{method} is not served here", {"Allow": "GET, POST"})
        accept = request.headers.get("accept")
        if method == "GET" and self.settings.graphiql and media.prefers_html(accept):
            return graphiql.page()
        kind = media.response_media_type(accept)
        if kind is None:
            raise Rejected(
                406, "NOT_ACCEPTABLE", f"Accept {media.GRAPHQL_RESPONSE} or {media.JSON}", {"Vary": VARY}
            )
        body = b""
        if method == "GET":
            parsed: GraphQLRequest | list[GraphQLRequest] = from_get(request)
        else:
            body = await request.body()
            parsed = await from_post(request, body, batching=self.settings.batching)
        sub_response = Response()
        context = self.context(request, sub_response)
        operations = POST_OPERATIONS if method == "POST" else GET_OPERATIONS
        shared: Pending | Response | None = None
        try:
            await context.authenticate()
        except DomainError as rejected:
            error: DomainError = await count_rejected(context) or rejected  # bad tokens count per IP
            failed = _failed(error)
            outcomes = [failed] * (len(parsed) if isinstance(parsed, list) else 1)
        except Exception as crashed:
            outage = unavailable(crashed)
            if outage is None:
                raise
            log.warning("database unavailable during authentication: %s", type(crashed).__name__)
            outcomes = [_failed(outage)] * (len(parsed) if isinstance(parsed, list) else 1)
        else:
            shared = await self.shared_lookup(parsed, context, prefetched)
            if isinstance(shared, Pending) and context.token is None:
                self.fast.learn(raw_key(request.scope, body), shared.key)
            if isinstance(shared, Response):
                return shared
            if isinstance(shared, Pending):
                # However this request ends from here on, its waiters hear of it (settle is idempotent).
                request.scope.setdefault("state", {})[_PENDING] = shared
            outcomes = [await self.run(one, context, operations) for one in _as_list(parsed)]
        bodies = [self.body(request, outcome, kind) for outcome in outcomes]
        if any(_unavailable(body) for body in bodies):
            sub_response.headers["Retry-After"] = str(ServiceUnavailable.retry_after_seconds)
        if isinstance(parsed, list):
            return self.respond(json.dumps(bodies).encode(), 200, kind, sub_response, caching.PRIVATE)
        outcome = outcomes[0]
        status = sub_response.status_code
        if status == 200 and outcome.request_error and kind == media.GRAPHQL_RESPONSE:
            status = REQUEST_ERROR_STATUS.get(_first_code(bodies[0]), 400)
        elif status == 200 and kind == media.GRAPHQL_RESPONSE and _unavailable(bodies[0]):
            # Execution began but the database answered nothing: no field has data to show.
            data = bodies[0].get("data")
            if data is None or all(value is None for value in data.values()):
                status = 503
        payload = json.dumps(bodies[0]).encode()
        if status == 401:
            sub_response.headers["WWW-Authenticate"] = "Bearer"  # a 401 must say which scheme (RFC 9110)
        if isinstance(shared, Pending):
            self.keep_shared(request, shared, outcome, status, payload)
            self.cache.settle(shared)
        if method == "GET" and self._cacheable(request, context, outcome, parsed):
            etag = caching.etag_of(payload)
            cache_control = caching.public(self.settings.http_cache_seconds)
            if caching.matches(request.headers.get("if-none-match"), etag):
                return Response(
                    status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, "Vary": VARY}
                )
            response = self.respond(payload, status, kind, sub_response, cache_control)
            response.headers["ETag"] = etag
            return response
        return self.respond(payload, status, kind, sub_response, caching.PRIVATE)

    def _cacheable(
        self,
        request: Request,
        context: Context,
        outcome: Outcome,
        parsed: GraphQLRequest | list[GraphQLRequest],
    ) -> bool:
        if context.token is not None or outcome.result.errors or isinstance(parsed, list):
            return False
        if self.settings.http_cache_seconds <= 0:
            return False
        document = request.scope.get("state", {}).get(caching.DOCUMENT_KEY)
        return caching.is_public(document, parsed.operation_name)

    async def shared_lookup(
        self,
        parsed: GraphQLRequest | list[GraphQLRequest],
        context: Context,
        prefetched: tuple[int, float] | None = None,
    ) -> Response | Pending | None:
        """A shared cached answer, or what to keep this one under after it ran, or None (not shared)."""
        cache = self.cache
        principal = context.principal
        if (
            isinstance(parsed, list)
            or not cache.enabled
            or not shares_cache(principal.role if principal else None)
        ):
            return None
        key = cache.key_of(parsed)
        if key is None or not cache.may_be_public(key):
            return None
        if prefetched is not None:
            version, started = prefetched  # read for this request already; its entry was stale
            entry = None
        else:
            started = time.monotonic()
            try:
                version = await cache.fresh_version()
            except Exception:  # the live path reports the database's failure, if it is one
                return None
            entry = cache.get(key, version)
        if entry is None:
            entry = await cache.join(key, version)
        cache.count(hit=entry is not None)
        if entry is None:
            return cache.begin(key, version, started)
        if principal is None and not await self.anonymous_allowance(context):
            return None  # refused: the live path answers RATE_LIMITED as usual
        state = context.request.scope.setdefault("state", {})
        if entry.operation is not None:
            state["graphql_operation"] = entry.operation
        if entry.operation_name is not None:
            state["operation_name"] = entry.operation_name
        return self.cached_response(context.request, entry.body, entry.etag)

    async def anonymous_allowance(self, context: Context) -> bool:
        """A cached answer still counts against the anonymous per-IP limit."""
        if not self.settings.rate_limits:
            return True
        return await self.anonymous_ip_allowance(context.ip)

    async def anonymous_ip_allowance(self, ip: str | None) -> bool:
        if not self.settings.rate_limits:
            return True
        rule = Rule(f"anon-ip:{ip or 'unknown'}", *self.settings.rate_anonymous_per_ip)
        return strictest(await limiter_of(self.runtime).hit([rule])) is None

    def cached_response(self, request: Request, body: bytes, etag: str) -> Response:
        kind = media.response_media_type(request.headers.get("accept")) or media.JSON
        public = (
            request.method == "GET" and bearer_token(request) is None and self.settings.http_cache_seconds > 0
        )
        if not public:
            return self.respond(body, 200, kind, Response(), caching.PRIVATE)
        cache_control = caching.public(self.settings.http_cache_seconds)
        if caching.matches(request.headers.get("if-none-match"), etag):
            return Response(
                status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, "Vary": VARY}
            )
        response = self.respond(body, 200, kind, Response(), cache_control)
        response.headers["ETag"] = etag
        return response

    def keep_shared(
        self, request: Request, shared: Pending, outcome: Outcome, status: int, payload: bytes
    ) -> None:
        if status != 200 or outcome.request_error or outcome.result.errors or outcome.result.extensions:
            return
        key, version, started = shared.key, shared.version, shared.started
        state = request.scope.get("state", {})
        document = state.get(caching.DOCUMENT_KEY)
        public = caching.is_public(document, key[1] if isinstance(key[1], str) else None)
        self.cache.judged(key, public)
        if public:
            self.cache.put(
                key,
                version,
                payload,
                caching.etag_of(payload),
                computed_at=started,
                operation=state.get("graphql_operation"),
                operation_name=state.get("operation_name"),
            )

    @staticmethod
    def respond(
        payload: bytes, status: int, kind: str, sub_response: Response, cache_control: str
    ) -> Response:
        response = Response(payload, status_code=status, media_type=kind)
        for name, value in sub_response.headers.items():
            if name not in {"content-length", "content-type"}:
                response.headers[name] = value
        response.headers["Cache-Control"] = cache_control
        response.headers["Vary"] = VARY
        return response

    async def run(
        self, request: GraphQLRequest, context: Context, operations: frozenset[OperationType]
    ) -> Outcome:
        try:
            register = await self.persisted.resolve(request)
        except DomainError as error:
            return _failed(error)
        query = require_document(request)
        try:
            result = await self.schema.execute(
                query,
                variable_values=request.variables,
                context_value=context,
                operation_name=request.operation_name,
                allowed_operation_types=operations,
                operation_extensions=request.extensions,
            )
        except InvalidOperationTypeError as error:
            raise Rejected(
                405,
                "METHOD_NOT_ALLOWED",
                error.as_http_error_reason(context.request.method),
                {"Allow": "POST"},
            ) from None
        except CannotGetOperationTypeError as error:
            return _failed(GraphQLError(error.as_http_error_reason()))
        except MissingQueryError:
            raise Rejected(400, "BAD_REQUEST", "No GraphQL query found in the request") from None
        request_failed = _is_request_error(result)
        if register is not None and not isinstance(result, PreExecutionError):
            await self.persisted.register(register, query)
        return Outcome(result, request_error=request_failed)

    def body(self, request: Request, outcome: Outcome, kind: str) -> dict[str, Any]:
        result = outcome.result
        body: dict[str, Any] = {}
        if not (outcome.request_error and kind == media.GRAPHQL_RESPONSE):
            body["data"] = result.data
        if result.errors:
            request_id = request_id_of(request.scope)
            production = self.settings.production
            body["errors"] = [
                format_error(e, request_id=request_id, production=production) for e in result.errors
            ]
            # For the access log and metrics (http/middleware.py): which codes this request answered.
            codes = request.scope.setdefault("state", {}).setdefault("error_codes", [])
            codes.extend(e["extensions"]["code"] for e in body["errors"])
        if result.extensions:
            body["extensions"] = result.extensions
        return body

    def context(self, request: Request, response: Response) -> Context:
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


def _as_list(parsed: GraphQLRequest | list[GraphQLRequest]) -> list[GraphQLRequest]:
    return parsed if isinstance(parsed, list) else [parsed]


def _unavailable_rejection(outage: ServiceUnavailable) -> Rejected:
    return Rejected(
        503, outage.code, outage.message, {"Retry-After": str(ServiceUnavailable.retry_after_seconds)}
    )


def _unavailable(body: dict[str, Any]) -> bool:
    return any(
        e.get("extensions", {}).get("code") == ServiceUnavailable.code for e in body.get("errors") or []
    )


def _first_code(body: dict[str, Any]) -> str:
    errors = body.get("errors") or [{}]
    return str(errors[0].get("extensions", {}).get("code", ""))


__all__ = ["GraphQLView"]
