"""CORS: in development any localhost / 127.0.0.1 origin may call the API; production only KAPDA_CORS_ORIGINS."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://localhost"])
async def test_development_lets_every_local_dev_server_call(
    app_client: Callable[..., httpx.AsyncClient], origin: str
) -> None:
    client = app_client()
    preflight = await client.options("/graphql", headers=preflight_headers(origin))
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    simple = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost:5173",
        "http://localhost.evil.example:80",
        "http://127.0.0.1.evil.example",
        "http://10.0.0.1:80",
    ],
)
async def test_development_still_refuses_other_origins(
    app_client: Callable[..., httpx.AsyncClient], origin: str
) -> None:
    client = app_client()
    preflight = await client.options("/graphql", headers=preflight_headers(origin))
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


async def test_production_allows_only_the_configured_origins(
    app_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = app_client(env="production", cors_origins=("https://shop.example.com",), graphiql=False)
    local = await client.options("/graphql", headers=preflight_headers("http://localhost:5173"))
    assert local.status_code == 400
    assert "access-control-allow-origin" not in local.headers
    simple = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "http://127.0.0.1:3000"}
    )
    assert "access-control-allow-origin" not in simple.headers
    shop = await client.options("/graphql", headers=preflight_headers("https://shop.example.com"))
    assert shop.status_code == 200
    assert shop.headers["access-control-allow-origin"] == "https://shop.example.com"


async def test_production_without_origins_sends_no_cors_headers(
    app_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = app_client(env="production", graphiql=False)
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "http://localhost:5173"}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
