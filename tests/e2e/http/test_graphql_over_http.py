"""GraphQL over HTTP as the specification says: graphql-http's own audits, and the details they leave open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.http.conftest import Live, run_node

GQL = "application/graphql-response+json"


def test_every_graphql_http_server_audit_passes(live: Callable[..., Live], node_modules: Path) -> None:
    server = live()
    results = run_node("audit.mjs", server.graphql)
    assert len(results) > 40  # the whole list ran, MUSTs, SHOULDs and MAYs
    failed = [r for r in results if r["status"] != "ok"]
    assert failed == []


@pytest.fixture
async def client(live: Callable[..., Live]) -> Any:
    server = live()
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nosuchfield }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": "query($id: ID!) { product(id: $id) { id } }", "variables": {"id": None}},
            "BAD_USER_INPUT",
        ),
        (
            {"query": "query($n: Int) { products(first: $n) { totalCount } }", "variables": {"n": "x"}},
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_request_errors_are_400_without_data_for_graphql_response_json_and_200_for_json(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    modern = await client.post("/graphql", json=body, headers={"accept": GQL})
    assert modern.status_code == 400
    assert modern.headers["content-type"].startswith(GQL)
    payload = modern.json()
    assert "data" not in payload
    error = payload["errors"][0]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["requestId"] == modern.headers["x-request-id"]

    legacy = await client.post("/graphql", json=body, headers={"accept": "application/json"})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith("application/json")
    assert legacy.json()["data"] is None
    assert legacy.json()["errors"][0]["extensions"]["code"] == code


async def test_field_errors_keep_data_and_200_under_graphql_response_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ cart { itemCount } }"}, headers={"accept": GQL}
    )
    assert response.status_code == 200
    body = response.json()
    assert "data" in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bad_token_is_401_under_graphql_response_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"accept": GQL, "authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_serves_queries_and_refuses_mutations_with_405_allow_post(
    client: httpx.AsyncClient,
) -> None:
    ok = await client.get("/graphql", params={"query": "{ __typename }"}, headers={"accept": GQL})
    assert ok.status_code == 200
    assert ok.json() == {"data": {"__typename": "Query"}}
    for accept in (GQL, "application/json"):
        refused = await client.get(
            "/graphql",
            params={"query": 'mutation { login(input: {email: "a@b.c", password: "x"}) { token } }'},
            headers={"accept": accept},
        )
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST"
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert error["extensions"]["requestId"] == refused.headers["x-request-id"]


async def test_methods_and_media_types_outside_the_protocol(client: httpx.AsyncClient) -> None:
    put = await client.put("/graphql", json={"query": "{ __typename }"})
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, POST"
    assert put.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    xml_only = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": "application/xml"}
    )
    assert xml_only.status_code == 406
    assert xml_only.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    latin1 = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=iso-8859-1"},
    )
    assert latin1.status_code == 415
    preferred = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"accept": f"application/json;q=0.5, {GQL}"},
    )
    assert preferred.headers["content-type"].startswith(GQL)
    json_first = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"accept": f"application/json, {GQL};q=0.8"},
    )
    assert json_first.headers["content-type"].startswith("application/json")
