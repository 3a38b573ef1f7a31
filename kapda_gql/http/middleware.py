"""Pure ASGI middleware: access log and metrics, security headers, CORS, header and body bounds.

Stack (outermost first, all inside the request-id middleware so every line and error has the id):
access log -> security headers -> CORS -> header limit -> body limit and timeout -> routes.

The access log is one JSON object per request: request id, method, path (never the query string:
GET /graphql carries variables there), status, duration, GraphQL operation, user id, error codes.
It never holds headers, bodies, variables or tokens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kapda_gql import observability
from kapda_gql.config import Settings
from kapda_gql.http.errors import request_error
from kapda_gql.http.request_id import request_id_of

access_log = logging.getLogger("kapda_gql.access")

KNOWN_ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics", "/webhooks/razorpay"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# GraphiQL's page sets its own policy (graphql/graphiql.py); everything else gets this one.
HSTS = "max-age=63072000; includeSubDomains"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._finish(scope, status, time.perf_counter() - started)

    @staticmethod
    def _finish(scope: Scope, status: int, seconds: float) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        path = str(scope.get("path", ""))
        route = path if path in KNOWN_ROUTES else "other"
        operation = state.get("graphql_operation") or route
        codes = [c for c in state.get("error_codes") or () if isinstance(c, str)]
        observability.record_request(operation, status, seconds, codes)
        client = scope.get("client")
        entry: dict[str, Any] = {
            "request_id": request_id_of(scope),
            "method": scope.get("method"),
            "path": route if route == "other" else path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "operation": operation,
            "operation_name": state.get("operation_name"),
            "user_id": state.get("user_id"),
            "ip": client[0] if client else None,
        }
        if codes:
            entry["errors"] = codes
        # The fields go in as record attributes: the JSON formatter emits them as keys.
        access_log.info(
            "%s %s %s %.1fms", entry["method"], entry["path"], status, entry["duration_ms"], extra=entry
        )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorized = any(name == b"authorization" for name, _ in scope.get("headers", ()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                defaults = {
                    "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": API_CSP,
                    "Cross-Origin-Opener-Policy": "same-origin",
                }
                if self.production:
                    defaults["Strict-Transport-Security"] = HSTS
                if authorized:
                    # A signed-in answer must not sit in a shared cache.
                    defaults["Cache-Control"] = "private, no-store"
                for name, value in defaults.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


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


class HeaderLimitMiddleware:
    """Request headers over ``max_bytes`` in all (names, values and their separators) are 431.

    The HTTP parser (httptools) sets no bound of its own, so this is the one that holds.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
            if size > self.max_bytes:
                await _refuse(
                    scope,
                    send,
                    431,
                    "REQUEST_HEADER_FIELDS_TOO_LARGE",
                    f"The request headers are larger than {self.max_bytes} bytes",
                    limit=self.max_bytes,
                )
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 before the app reads any of it, and bodies that
    have not all arrived ``timeout`` seconds after the headers with 408.

    A declared Content-Length over the limit is refused at once; otherwise the body is read (never
    more than the limit plus one chunk) and handed on, so chunked uploads cannot slip past. The
    timeout holds a slow client to the whole body, not to each chunk, so trickling bytes does not
    keep a worker's request open for ever.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
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
    """The layers inside the request-id middleware, outermost first."""
    stack = [
        Middleware(AccessLogMiddleware),
        Middleware(SecurityHeadersMiddleware, production=settings.production),
        Middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes),
    ]
    origin_re = None if settings.production else DEV_ORIGIN_RE
    if settings.cors_origins or origin_re:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_origin_regex=origin_re,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "accept", "x-request-id"],
                expose_headers=["x-request-id", "retry-after", "etag"],
                # Bearer tokens, not cookies: browsers need not send credentials.
                allow_credentials=False,
                max_age=600,
            )
        )
    stack.append(
        Middleware(
            BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_seconds
        )
    )
    return stack


def proxy_middleware(settings: Settings) -> list[Middleware]:
    """Believe X-Forwarded-For only from the configured proxies (rate limits and audit use the IP)."""
    if not settings.trusted_proxies:
        return []
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]


__all__ = [
    "AccessLogMiddleware",
    "BodyLimitMiddleware",
    "HeaderLimitMiddleware",
    "SecurityHeadersMiddleware",
    "http_middleware",
    "proxy_middleware",
]
