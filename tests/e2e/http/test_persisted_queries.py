"""Automatic persisted queries in Apollo's protocol: Apollo Client's own link over POST and GET, the
shared stores (PostgreSQL, Redis), and the trusted and off modes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.http.conftest import Live, run_node

REDIS_URL = "redis://127.0.0.1:6379/0"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unique_query() -> str:
    # A document no earlier run registered: the first request by hash must miss.
    return f"query Catalog{uuid.uuid4().hex[:8]} {{ products(first: 5) {{ totalCount }} }}"


def persisted(query_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": query_hash}}


@pytest.mark.parametrize("method", ["post", "get"])
async def test_apollo_persisted_query_link_registers_once_then_sends_only_the_hash(
    live: Callable[..., Live], node_modules: Path, db: asyncpg.Connection, method: str
) -> None:
    server = live()
    text = unique_query()
    run = run_node("apq.mjs", server.graphql, method, text)
    assert run["first"] == run["second"] == {"products": {"totalCount": 0, "__typename": "ProductConnection"}}
    sent = run["sent"]
    hashed_method = "GET" if method == "get" else "POST"
    # Hash alone (unknown), then hash with the document, then the hash alone is enough.
    assert [(s["method"], s["document"], s["hash"]) for s in sent] == [
        (hashed_method, False, True),
        ("POST", True, True),
        (hashed_method, False, True),
    ]
    assert sent[2]["status"] == 200
    stored = await db.fetch(
        "SELECT sha256, document FROM persisted_queries WHERE document LIKE $1", "%" + text.split()[1] + "%"
    )
    assert len(stored) == 1
    assert stored[0]["sha256"] == sha(stored[0]["document"])


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize("store", ["postgres", "redis"])
async def test_a_registered_document_is_served_by_every_replica(
    app_client: Callable[..., Any], store: str
) -> None:
    overrides = {"redis_url": REDIS_URL} if store == "redis" else {}
    first, second = app_client(**overrides), app_client(**overrides)
    text = unique_query()
    missing = await second.post("/graphql", json={"extensions": persisted(sha(text))})
    assert missing.status_code == 200
    error = missing.json()["errors"][0]
    assert (error["message"], error["extensions"]["code"]) == (
        "PersistedQueryNotFound",
        "PERSISTED_QUERY_NOT_FOUND",
    )
    assert error["extensions"]["requestId"] == missing.headers["x-request-id"]
    registered = await first.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
    assert registered.json() == {"data": {"products": {"totalCount": 0}}}
    by_hash = await second.get("/graphql", params={"extensions": json.dumps(persisted(sha(text)))})
    assert by_hash.json() == {"data": {"products": {"totalCount": 0}}}
    if store == "redis":
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        try:
            assert (await redis.get("kapda:pq:" + sha(text))) == text.encode()
        finally:
            await redis.aclose()


async def test_every_use_moves_last_used_at_so_purge_keeps_what_clients_still_send(
    app_client: Callable[..., Any], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from kapda_gql.core import maintenance
    from kapda_gql.graphql.transport import persisted as module

    first, second = app_client(), app_client()
    used, forgotten = unique_query(), unique_query()
    for text in (used, forgotten):
        registered = await first.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
        assert registered.status_code == 200
    await db.execute("UPDATE persisted_queries SET last_used_at = now() - interval '40 days'")

    async def last_used(text: str) -> datetime:
        return await db.fetchval("SELECT last_used_at FROM persisted_queries WHERE sha256 = $1", sha(text))

    # Looked up from the store by another replica: that is a use.
    by_hash = await second.post("/graphql", json={"extensions": persisted(sha(used))})
    assert by_hash.json() == {"data": {"products": {"totalCount": 0}}}
    assert await last_used(used) > datetime.now(UTC) - timedelta(minutes=1)
    assert await last_used(forgotten) < datetime.now(UTC) - timedelta(days=39)

    # Served from a replica's own map: the store hears of it once the touch interval has passed.
    await db.execute("UPDATE persisted_queries SET last_used_at = now() - interval '40 days'")
    monkeypatch.setattr(module, "TOUCH_SECONDS", 0.0)
    again = await second.post("/graphql", json={"extensions": persisted(sha(used))})
    assert again.status_code == 200
    view = next(r.app for r in second._transport.app.routes if getattr(r, "path", "") == "/graphql")
    await asyncio.gather(*view.persisted._touching)
    assert await last_used(used) > datetime.now(UTC) - timedelta(minutes=1)

    # Registered again with its document (a client that lost the hash): a use too.
    await db.execute(
        "UPDATE persisted_queries SET last_used_at = now() - interval '40 days' WHERE sha256 = $1", sha(used)
    )
    third = app_client()
    await third.post("/graphql", json={"query": used, "extensions": persisted(sha(used))})
    assert await last_used(used) > datetime.now(UTC) - timedelta(minutes=1)

    counts = await maintenance.purge(first._transport.app.state.runtime.db.uow())
    assert counts["persisted_queries"] >= 1
    remaining = {r[0] for r in await db.fetch("SELECT sha256 FROM persisted_queries")}
    assert sha(used) in remaining and sha(forgotten) not in remaining
    # A hash purged is not found, and the link's protocol brings it back.
    gone = await second.post("/graphql", json={"extensions": persisted(sha(forgotten))})
    assert code_of(gone) == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_document_whose_hash_is_not_the_one_given_is_bad_request(
    app_client: Callable[..., Any], db: asyncpg.Connection
) -> None:
    client = app_client()
    text = unique_query()
    wrong = await client.post("/graphql", json={"query": text, "extensions": persisted(sha(text + " "))})
    assert wrong.status_code == 400
    assert code_of(wrong) == "BAD_REQUEST"
    for bad in ({"version": 2, "sha256Hash": sha(text)}, {"version": 1, "sha256Hash": "abc"}, "x"):
        response = await client.post("/graphql", json={"query": text, "extensions": {"persistedQuery": bad}})
        assert response.status_code == 400, bad
        assert code_of(response) == "BAD_REQUEST"
    assert await db.fetchval("SELECT count(*) FROM persisted_queries WHERE document = $1", text) == 0


async def test_a_document_that_does_not_validate_is_never_registered(
    app_client: Callable[..., Any], db: asyncpg.Connection
) -> None:
    client = app_client()
    text = "{ nosuchfield" + uuid.uuid4().hex[:6] + " }"
    response = await client.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert await db.fetchval("SELECT count(*) FROM persisted_queries WHERE sha256 = $1", sha(text)) == 0


async def test_off_answers_not_supported_and_still_serves_plain_documents(
    app_client: Callable[..., Any],
) -> None:
    client = app_client(persisted_queries="off")
    text = unique_query()
    response = await client.post("/graphql", json={"query": text, "extensions": persisted(sha(text))})
    assert code_of(response) == "PERSISTED_QUERY_NOT_SUPPORTED"
    plain = await client.post("/graphql", json={"query": text})
    assert plain.json() == {"data": {"products": {"totalCount": 0}}}


async def test_trusted_serves_the_manifest_and_nothing_else(
    app_client: Callable[..., Any], tmp_path: Path
) -> None:
    body = "query TrustedCatalog { products(first: 2) { totalCount } }"
    manifest = tmp_path / "persisted-query-manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha(body), "name": "TrustedCatalog", "type": "query", "body": body}],
            }
        )
    )
    client = app_client(persisted_queries="trusted", trusted_documents=manifest)
    expected = {"data": {"products": {"totalCount": 0}}}
    assert (await client.post("/graphql", json={"extensions": persisted(sha(body))})).json() == expected
    assert (await client.post("/graphql", json={"query": body})).json() == expected
    other = unique_query()
    for request in (
        {"query": other},
        {"query": other, "extensions": persisted(sha(other))},
        {"extensions": persisted(sha(other))},
    ):
        response = await client.post("/graphql", json=request)
        assert code_of(response) == "PERSISTED_QUERY_NOT_FOUND", request
        assert "data" not in response.json() or response.json()["data"] is None
