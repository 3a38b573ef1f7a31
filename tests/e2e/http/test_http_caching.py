"""HTTP caching: anonymous all-public GET answers are public with a strong ETag; all else private, no-store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.http.conftest import Live

CATALOG = "{ products(first: 5) { totalCount edges { node { title } } } }"
PRIVATE = "private, no-store"


async def test_an_anonymous_catalog_get_is_public_with_an_etag_and_revalidates_to_304(
    api: Any, make_user: Any, make_product: Any
) -> None:
    designer = await make_user("DESIGNER")
    await make_product(designer.designer_id, title="Chanderi kurta")
    first = await api.client.get("/graphql", params={"query": CATALOG})
    assert first.status_code == 200
    assert first.json()["data"]["products"]["totalCount"] == 1
    assert first.headers["cache-control"] == "public, max-age=10"
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "Accept" in first.headers["vary"] and "Authorization" in first.headers["vary"]

    again = await api.client.get("/graphql", params={"query": CATALOG}, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    # A changed catalog is a changed answer: the old tag no longer matches.
    await make_product(designer.designer_id, title="Ikat dupatta")
    changed = await api.client.get("/graphql", params={"query": CATALOG}, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.json()["data"]["products"]["totalCount"] == 2
    assert changed.headers["etag"] != etag

    # Root fields through fragments count too.
    fragment = 'query { ...C } fragment C on Query { product(slug: "none") { id } __typename }'
    through = await api.client.get("/graphql", params={"query": fragment})
    assert through.headers["cache-control"] == "public, max-age=10"


async def test_everything_else_is_private_no_store(api: Any, make_user: Any) -> None:
    user = await make_user("CUSTOMER")
    cases = [
        ("GET", {"query": CATALOG}, {"authorization": f"Bearer {user.token}"}),
        ("GET", {"query": "{ me { id } }"}, {}),
        ("GET", {"query": "{ products(first: 5) { totalCount } me { id } }"}, {}),
        ("GET", {"query": "query { ...M } fragment M on Query { me { id } }"}, {}),
        ("GET", {"query": "{ products(first: 500) { totalCount } }"}, {}),  # an error
        ("GET", {"query": "{ nosuchfield }"}, {}),
        ("POST", {"query": CATALOG}, {}),
    ]
    for method, params, headers in cases:
        if method == "GET":
            response = await api.client.get("/graphql", params=params, headers=headers)
        else:
            response = await api.client.post("/graphql", json=params, headers=headers)
        assert response.headers["cache-control"] == PRIVATE, (method, params, headers)
        assert "etag" not in response.headers
        if method == "GET":
            # No tag was given out, so nothing revalidates: a private answer is always sent whole.
            revalidated = await api.client.get(
                "/graphql", params=params, headers={**headers, "if-none-match": "*"}
            )
            assert revalidated.status_code != 304


async def test_max_age_follows_the_setting_through_a_real_server(live: Callable[..., Live]) -> None:
    server = live(http_cache_seconds=42)
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/graphql", params={"query": CATALOG})
    assert response.headers["cache-control"] == "public, max-age=42"
    assert response.headers["etag"]
