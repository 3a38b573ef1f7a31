"""Bounds measured on a real uvicorn server with a raw socket: 431 for big headers, 408 for a slow
body; and the parser and validation caches keep no huge document."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from kapda_gql.graphql.transport import caches
from tests.e2e.http.conftest import Live


def exchange(
    port: int, request: bytes, *, trickle: list[bytes] | None = None, pause: float = 0.0
) -> tuple[int, bytes, float]:
    """Send ``request`` (then each of ``trickle`` after ``pause``), read until the server closes or answers."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        received = b""
        for piece in trickle or ():
            time.sleep(pause)
            try:
                sock.sendall(piece)
            except OSError:
                break  # the server already answered and closed
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _length(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    elapsed = time.monotonic() - started
    status = int(received.split(b" ", 2)[1])
    return status, received, elapsed


def _length(received: bytes) -> int:
    head = received.partition(b"\r\n\r\n")[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def body_of(received: bytes) -> Any:
    return json.loads(received.partition(b"\r\n\r\n")[2])


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


def test_headers_over_16_kib_in_all_are_431(live: Callable[..., Live]) -> None:
    server = live()
    # Several headers that are each small: it is the total that counts.
    under = [f"X-Fill-{i}: {'a' * 1000}" for i in range(14)]
    status, _, _ = exchange(server.port, get("/healthz", *under))
    assert status == 200
    over = [f"X-Fill-{i}: {'a' * 1000}" for i in range(17)]
    status, received, _ = exchange(server.port, get("/graphql?query={__typename}", *over))
    assert status == 431
    error = body_of(received)["errors"][0]
    assert error["extensions"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    assert error["extensions"]["requestId"]


def post_head(length: int) -> bytes:
    return (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_that_does_not_arrive_in_time_is_408(live: Callable[..., Live]) -> None:
    server = live(body_timeout_seconds=1.0)
    payload = b'{"query": "{ __typename }"}'
    status, received, elapsed = exchange(server.port, post_head(len(payload)) + payload[:5])
    assert status == 408
    assert 0.9 <= elapsed < 5
    assert body_of(received)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    # Trickling a byte at a time does not stretch the deadline: it is for the whole body.
    status, _, elapsed = exchange(
        server.port,
        post_head(len(payload)) + payload[:1],
        trickle=[bytes([b]) for b in payload[1:]],
        pause=0.1,
    )
    assert status == 408
    assert elapsed < 5
    # A body that comes in time is served.
    status, received, _ = exchange(server.port, post_head(len(payload)) + payload)
    assert status == 200
    assert body_of(received) == {"data": {"__typename": "Query"}}


async def test_the_document_caches_keep_no_huge_document(api: Any) -> None:
    small = "query SmallOne { __typename }"
    huge = "query HugeOne { __typename }\n" + "#" * 900_000 + "\n"
    for query in (small, huge):
        response = await api.client.post("/graphql", json={"query": query})
        assert response.json() == {"data": {"__typename": "Query"}}
    parsed_texts = [key[0] for key in caches.parsed._items]
    validated_texts = [key[0] for key in caches.validated._items]
    assert small in parsed_texts and small in validated_texts
    assert huge not in parsed_texts and huge not in validated_texts
    assert caches.parsed.total <= caches.MAX_TOTAL_CHARS


def test_the_sized_lru_bounds_count_entry_size_and_total() -> None:
    lru: caches.SizedLru[int] = caches.SizedLru(max_entries=3, max_entry=10, max_total=20)
    lru.put("big", 11, 1)
    assert lru.get("big") is None
    for key in "abcd":
        lru.put(key, 5, 1)
    assert len(lru) == 3 and lru.get("a") is None  # the oldest went first
    lru.put("e", 10, 1)
    assert lru.total <= 20 and lru.get("e") == 1
