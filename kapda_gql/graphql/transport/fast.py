"""The shared cache's fast path: a cached catalog answer for an anonymous request, found by the
request's own bytes before anything is parsed.

Two requests with the same bytes (a GET's query string; a POST's content type and body) are the
same GraphQL request, so they have the same key in the response cache. The view tells the fast
path which key each anonymous request had (``learn``); the next request with those bytes is
answered from the cache with no Request object, no JSON decoding, no hash of the document, no
context and no Starlette response: what is left is the catalog version's fresh read, which keeps
the cache's guarantee (a change is never served after its commit).

Only anonymous requests take it: a token must be authenticated, so those go the whole way (and
customers still share the cache there). What the view checks before its own lookup is checked
here the same way (the method, GraphiQL's page, Accept, the anonymous rate limit), and anything
that is not a fresh hit falls through to the view with the body read here handed on.

Memory: at most ``RAW_KEYS`` requests of at most ``RAW_KEY_BYTES`` each are remembered (a few
MiB at worst), least recently used first out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kapda_gql.graphql.transport import caching, media
from kapda_gql.graphql.transport.response_cache import Key

if TYPE_CHECKING:
    from kapda_gql.graphql.view import GraphQLView

PATH = "/graphql"
TRIED = "catalog_fast_path"  # scope state: the fast path has seen this request (and what it read)
RAW_KEYS = 1024
RAW_KEY_BYTES = 8 * 1024
ACCEPT_MEMO = 256  # distinct Accept headers remembered (clients send a handful)
VARY = b"Accept, Authorization"
PRIVATE = caching.PRIVATE.encode()

RawKey = tuple[bytes, bytes, bytes]


def raw_key(scope: Scope, body: bytes) -> RawKey | None:
    """The request's bytes that make its GraphQL request, or None when too big to remember."""
    if scope["method"] == "GET":
        query: bytes = scope.get("query_string", b"")
        return (b"GET", b"", query) if len(query) <= RAW_KEY_BYTES else None
    if len(body) > RAW_KEY_BYTES:
        return None
    content_type = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value
            break
    return (b"POST", content_type, body)


@dataclass(slots=True)
class Fallthrough:
    """Not answered here: the view goes on with ``receive`` (which replays what was read) and, when
    the version was read already and the entry was stale, that version and when its read began."""

    served: bool
    receive: Receive
    version: tuple[int, float] | None = None


class FastPath:
    def __init__(self, view: GraphQLView) -> None:
        self.view = view
        self.cache = view.cache
        self.settings = view.settings
        self._keys: OrderedDict[RawKey, Key] = OrderedDict()
        self._accepts: dict[bytes | None, tuple[bytes | None, bool]] = {}

    def learn(self, raw: RawKey | None, key: Key) -> None:
        if raw is None:
            return
        self._keys[raw] = key
        self._keys.move_to_end(raw)
        while len(self._keys) > RAW_KEYS:
            self._keys.popitem(last=False)

    def _accept(self, accept: bytes | None) -> tuple[bytes | None, bool]:
        """The media type to answer in (None: 406) and whether a browser asks for GraphiQL's page."""
        known = self._accepts.get(accept)
        if known is None:
            text = accept.decode("latin-1") if accept is not None else None
            kind = media.response_media_type(text)
            known = (kind.encode() if kind else None, media.prefers_html(text))
            if len(self._accepts) >= ACCEPT_MEMO:
                self._accepts.clear()
            self._accepts[accept] = known
        return known

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> Fallthrough:
        method = scope["method"]
        if method != "GET" and method != "POST":
            return Fallthrough(False, receive)
        accept = if_none_match = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return Fallthrough(False, receive)
            if name == b"accept":
                if accept is None:
                    accept = value
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value
        kind, html = self._accept(accept)
        if kind is None or (html and method == "GET" and self.settings.graphiql):
            return Fallthrough(False, receive)  # the view answers 406, or the GraphiQL page
        body = b""
        if method == "POST":
            read, receive = await _read_body(receive)
            if read is None:
                return Fallthrough(False, receive)  # the client went away: the view meets the same end
            body = read
        raw = raw_key(scope, body)
        key = self._keys.get(raw) if raw is not None else None
        if key is None or not self.cache.peek(key):
            return Fallthrough(False, receive)
        started = time.monotonic()
        try:
            version = await self.cache.fresh_version()
        except Exception:  # the view reads it again and reports the database's failure, if it is one
            return Fallthrough(False, receive)
        entry = self.cache.get(key, version)
        if entry is None:  # stale: the view waits for it or runs it, and counts the lookup
            return Fallthrough(False, receive, (version, started))
        client = scope.get("client")
        if self.settings.rate_limits and not await self.view.anonymous_ip_allowance(
            client[0] if client else None
        ):
            # Refused: the live path answers RATE_LIMITED as usual (the version read stands).
            return Fallthrough(False, receive, (version, started))
        self.cache.count(hit=True)
        self._keys.move_to_end(raw)  # type: ignore[arg-type]  # raw is set: a key was found by it
        state: dict[str, Any] = scope.setdefault("state", {})
        if entry.operation is not None:
            state["graphql_operation"] = entry.operation
        if entry.operation_name is not None:
            state["operation_name"] = entry.operation_name
        await _answer(
            send, entry.body, entry.etag, kind, method, if_none_match, self.settings.http_cache_seconds
        )
        return Fallthrough(True, receive)


class FastPathMiddleware:
    """The innermost middleware: a /graphql request answered from the cache does not go through
    Starlette's exception middleware, router and route at all. What it did not answer goes on with
    the body it read and, in the scope's state, the version it read (the view picks both up)."""

    def __init__(self, app: ASGIApp, *, fast: FastPath) -> None:
        self.app = app
        self.fast = fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == PATH and self.fast.cache.enabled:
            fall = await self.fast.serve(scope, receive, send)
            if fall.served:
                return
            receive = fall.receive
            scope.setdefault("state", {})[TRIED] = fall.version
        await self.app(scope, receive, send)


async def _answer(
    send: Send, body: bytes, etag: str, kind: bytes, method: str, if_none_match: bytes | None, max_age: int
) -> None:
    """The bytes the view's ``cached_response`` sends: public and validated for GET, private for POST."""
    status = 200
    if method == "GET" and max_age > 0:
        cache_control = caching.public(max_age).encode()
        tag = etag.encode()
        if caching.matches(if_none_match.decode("latin-1") if if_none_match else None, etag):
            status, body = 304, b""
            headers = [(b"etag", tag), (b"cache-control", cache_control), (b"vary", VARY)]
        else:
            headers = [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", kind),
                (b"cache-control", cache_control),
                (b"vary", VARY),
                (b"etag", tag),
            ]
    else:
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", kind),
            (b"cache-control", PRIVATE),
            (b"vary", VARY),
        ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole body (None if the client went away first), and a receive that hands the same
    messages on before asking for more."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    complete = messages[-1]["type"] == "http.request"
    return (b"".join(chunks) if complete else None), replay


__all__ = ["Fallthrough", "FastPath", "raw_key"]
