"""Pure ASGI middleware: access log and metrics, security headers, CORS, header and body bounds.

Stack (outermost first, all inside the request-id middleware so every line and error has the id):
access log -> security headers -> CORS -> header limit -> body limit and timeout -> routes.

The access log is one JSON object per request: request id, method, path (never the query string:
GET /graphql carries variables there), status, duration, GraphQL operation, user id, error codes.
It never holds headers, bodies, variables or tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kapda_gql import observability
from kapda_gql.config import Settings
from kapda_gql.http.errors import request_error
from kapda_gql.http.request_id import is_sane, request_id_of
from kapda_gql.logs import emit

access_log = logging.getLogger("kapda_gql.access")

KNOWN_ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics", "/webhooks/razorpay"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# GraphiQL's page sets its own policy (graphql/graphiql.py); everything else gets this one.
HSTS = "max-age=63072000; includeSubDomains"


_SECURITY_DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", API_CSP.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_HSTS = (b"strict-transport-security", HSTS.encode())
_PRIVATE = (b"cache-control", b"private, no-store")


class HttpEdge:
    """What every request passes through, as one pure-ASGI layer: the request id, the access log
    and metrics, the security headers, CORS, and (inside CORS, so a refusal still carries its
    headers) the header and body bounds.

    One layer rather than five: each layer wrapped ``send`` in its own closure and rebuilt the
    response headers, which cost a cached catalog answer about as much as answering it. The
    response headers are edited once, in the order the layers used to apply them (CORS, then the
    security defaults, then the request id). Starlette's CORS middleware still answers every
    request that names an ``Origin``; a request without one only gains ``Vary: Origin``, which is
    all that middleware adds to it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        production: bool,
        max_header_bytes: int,
        max_body_bytes: int,
        body_timeout: float = 10.0,
        cors: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.bounded = Bounds(
            app, max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes, timeout=body_timeout
        )
        self.cors: ASGIApp | None = CORSMiddleware(self.bounded, **cors) if cors is not None else None
        self.defaults = (*_SECURITY_DEFAULTS, _HSTS) if production else _SECURITY_DEFAULTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered: bytes | None = None
        authorized = has_origin = False
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                if offered is None:
                    offered = value
            elif name == b"authorization":
                authorized = True
            elif name == b"origin":
                has_origin = True
        state = scope.setdefault("state", {})
        offered_text = offered.decode("latin-1") if offered is not None else ""
        request_id = state["request_id"] = offered_text if is_sane(offered_text) else str(uuid.uuid4())
        rid = request_id.encode("latin-1")
        vary_origin = self.cors is not None and not has_origin
        defaults = self.defaults
        status = 500  # what the client gets if the app dies before answering

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or ())
                if vary_origin:
                    _vary_origin(headers)
                present = {name.lower() for name, _ in headers}
                for item in defaults:
                    if item[0] not in present:
                        headers.append(item)
                if authorized and b"cache-control" not in present:
                    headers.append(_PRIVATE)  # a signed-in answer must not sit in a shared cache
                if b"x-request-id" in present:
                    headers = [(n, v) for n, v in headers if n.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid))
                message["headers"] = headers
            await send(message)

        try:
            if has_origin and self.cors is not None:
                await self.cors(scope, receive, edge_send)
            else:
                await self.bounded(scope, receive, edge_send)
        finally:
            _access_log(scope, request_id, status, time.perf_counter() - started)


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> None:
    """What Starlette's CORS middleware does to a response to a request without an Origin: every
    Vary header folded into the first one, with Origin added."""
    found = [i for i, (name, _) in enumerate(headers) if name.lower() == b"vary"]
    if not found:
        headers.append((b"vary", b"Origin"))
        return
    joined = b", ".join([*(headers[i][1] for i in found), b"Origin"])
    headers[found[0]] = (b"vary", joined)
    for i in reversed(found[1:]):
        del headers[i]


def _access_log(scope: Scope, request_id: str, status: int, seconds: float) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    path = str(scope.get("path", ""))
    route = path if path in KNOWN_ROUTES else "other"
    operation = state.get("graphql_operation") or route
    codes = [c for c in state.get("error_codes") or () if isinstance(c, str)]
    observability.record_request(operation, status, seconds, codes)
    client = scope.get("client")
    method = scope.get("method")
    shown = route if route == "other" else path
    duration_ms = round(seconds * 1000, 2)
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": method,
        "path": shown,
        "status": status,
        "duration_ms": duration_ms,
        "operation": operation,
        "operation_name": state.get("operation_name"),
        "user_id": state.get("user_id"),
        "ip": client[0] if client else None,
    }
    if codes:
        fields["errors"] = codes
    emit(access_log, "%s %s %s %.1fms", (method, shown, status, duration_ms), _WHERE, fields)


_WHERE = (__file__, _access_log.__code__.co_firstlineno)


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str, **extensions: Any) -> None:
    """A whole-request error in the API's shape; the connection closes, since its bytes are not trusted."""
    scope.setdefault("state", {})["error_codes"] = [code]
    payload = json.dumps(request_error(code, message, request_id_of(scope), **extensions)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class Bounds:
    """Request headers over ``max_header_bytes`` in all (names, values and their separators) are
    431: the HTTP parser (httptools) sets no bound of its own, so this is the one that holds.

    Bodies over ``max_body_bytes`` are 413 before the app reads any of it, and bodies that
    have not all arrived ``timeout`` seconds after the headers are 408.

    A declared Content-Length over the limit is refused at once; otherwise the body is read (never
    more than the limit plus one chunk) and handed on, so chunked uploads cannot slip past. The
    timeout holds a slow client to the whole body, not to each chunk, so trickling bytes does not
    keep a worker's request open for ever.
    """

    def __init__(
        self, app: ASGIApp, *, max_header_bytes: int, max_body_bytes: int, timeout: float = 10.0
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_bytes = max_body_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = 0
        too_long = False
        for name, value in scope.get("headers", ()):
            size += len(name) + len(value) + 4
            if name == b"content-length":
                with contextlib.suppress(ValueError):
                    too_long = too_long or int(value) > self.max_bytes
        if size > self.max_header_bytes:
            await _refuse(
                scope,
                send,
                431,
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                f"The request headers are larger than {self.max_header_bytes} bytes",
                limit=self.max_header_bytes,
            )
            return
        if scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if too_long:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client went away; nothing to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        await self._refuse(scope, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse(
                scope,
                send,
                408,
                "REQUEST_TIMEOUT",
                f"The request body did not arrive within {self.timeout:g} s",
                limit=self.timeout,
            )
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await _refuse(
            scope,
            send,
            413,
            "PAYLOAD_TOO_LARGE",
            f"The request body is larger than {self.max_bytes} bytes",
            limit=self.max_bytes,
        )


# Development: a storefront on its own dev server (any port of this machine) calls the API at once.
DEV_ORIGIN_RE = r"^http://(localhost|127\.0\.0\.1)(:\d{1,5})?$"


def http_middleware(settings: Settings) -> list[Middleware]:
    """The one layer inside the proxy-headers middleware (when configured)."""
    origin_re = None if settings.production else DEV_ORIGIN_RE
    cors: dict[str, Any] | None = None
    if settings.cors_origins or origin_re:
        cors = {
            "allow_origins": list(settings.cors_origins),
            "allow_origin_regex": origin_re,
            "allow_methods": ["GET", "POST"],
            "allow_headers": ["authorization", "content-type", "accept", "x-request-id"],
            "expose_headers": ["x-request-id", "retry-after", "etag"],
            # Bearer tokens, not cookies: browsers need not send credentials.
            "allow_credentials": False,
            "max_age": 600,
        }
    return [
        Middleware(
            HttpEdge,
            production=settings.production,
            max_header_bytes=settings.max_header_bytes,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
            cors=cors,
        )
    ]


def proxy_middleware(settings: Settings) -> list[Middleware]:
    """Believe X-Forwarded-For only from the configured proxies (rate limits and audit use the IP)."""
    if not settings.trusted_proxies:
        return []
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]


__all__ = ["Bounds", "HttpEdge", "http_middleware", "proxy_middleware"]
