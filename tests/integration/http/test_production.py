"""Production mode: refuses bad configuration, hides the schema, masks failures, logs them."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest
from graphql import get_introspection_query

from kapda_gql import observability
from kapda_gql.config import SANDBOX_KEY_SECRET, ConfigError, Settings
from tests.support.apps import LogCapture, production_env
from tests.support.assertions import codes

DB = "postgresql://kapda@db.internal/kapda"


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        ({"KAPDA_JWT_SECRET": ""}, "KAPDA_JWT_SECRET is missing"),
        ({"KAPDA_JWT_SECRET": "short-secret"}, "KAPDA_JWT_SECRET is weak"),
        ({"KAPDA_JWT_SECRET": "a" * 64}, "KAPDA_JWT_SECRET is weak"),
        ({"KAPDA_RAZORPAY_KEY_SECRET": ""}, "KAPDA_RAZORPAY_KEY_SECRET is missing"),
        (
            {"KAPDA_RAZORPAY_KEY_SECRET": SANDBOX_KEY_SECRET},
            "KAPDA_RAZORPAY_KEY_SECRET is the development sandbox",
        ),
        ({"KAPDA_RAZORPAY_WEBHOOK_SECRET": ""}, "KAPDA_RAZORPAY_WEBHOOK_SECRET is missing"),
        (
            {"KAPDA_RAZORPAY_BASE_URL": "http://127.0.0.1:8765"},
            "KAPDA_RAZORPAY_BASE_URL points at the local sandbox",
        ),
        (
            {"KAPDA_RAZORPAY_BASE_URL": "http://localhost:9000/v1"},
            "KAPDA_RAZORPAY_BASE_URL points at the local sandbox",
        ),
        ({"KAPDA_DATABASE_URL": ""}, "KAPDA_DATABASE_URL is missing"),
        ({"KAPDA_CORS_ORIGINS": "*"}, "KAPDA_CORS_ORIGINS"),
        ({"KAPDA_CORS_ORIGINS": "https://shop.example.com/path"}, "KAPDA_CORS_ORIGINS"),
        ({"KAPDA_RATE_LOGIN_ACCOUNT": "ten per minute"}, "KAPDA_RATE_LOGIN_ACCOUNT"),
    ],
)
def test_production_refuses_to_start(change: dict[str, str], culprit: str) -> None:
    env = {k: v for k, v in {**production_env(DB), **change}.items() if v != ""}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert culprit in str(caught.value)


def test_production_defaults() -> None:
    settings = Settings.from_env(
        production_env(
            DB,
            KAPDA_CORS_ORIGINS="https://shop.example.com, https://www.example.com",
            KAPDA_RATE_LOGIN_ACCOUNT="5/600",
            KAPDA_TRUSTED_PROXIES="10.0.0.1,10.0.0.2",
        )
    )
    assert settings.production
    assert not settings.graphiql
    assert not settings.introspection
    assert not settings.batching
    assert settings.cors_origins == ("https://shop.example.com", "https://www.example.com")
    assert settings.rate_login_per_account == (5, 600)
    assert settings.trusted_proxies == ("10.0.0.1", "10.0.0.2")
    assert Settings.from_env(production_env(DB, KAPDA_GRAPHIQL="on", KAPDA_INTROSPECTION="on")).graphiql


async def test_no_graphiql_no_introspection_no_suggestions(serve: Any, production_settings: Any) -> None:
    served = serve(production_settings())
    async with served.client() as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code >= 400
        assert "graphiql" not in page.text.lower()

        for query in (
            get_introspection_query(),
            '{ __type(name: "Product") { fields { name } } }',
            "{ ...F } fragment F on Query { ... on Query { __schema { types { name } } } }",
        ):
            body = (await client.post("/graphql", json={"query": query})).json()
            assert "GRAPHQL_VALIDATION_FAILED" in codes(body), body
            assert body["data"] is None

        body = (await client.post("/graphql", json={"query": "{ prodcts { totalCount } }"})).json()
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Did you mean" not in body["errors"][0]["message"]
        assert "products" not in body["errors"][0]["message"]
        body = (
            await client.post("/graphql", json={"query": "{ products(sort: NEWES) { totalCount } }"})
        ).json()
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
        assert "NEWEST" not in body["errors"][0]["message"]
        body = (
            await client.post(
                "/graphql",
                json={
                    "query": "query($s: ProductSort) { products(sort: $s) { totalCount } }",
                    "variables": {"s": "NEWES"},
                },
            )
        ).json()
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert "NEWEST" not in body["errors"][0]["message"]
        body = (
            await client.post(
                "/graphql",
                json={"query": 'mutation { login(input: {email: "a@b.co", pasword: "x"}) { token } }'},
            )
        ).json()
        messages = " ".join(e["message"] for e in body["errors"])
        assert "pasword" in messages
        assert "Did you mean" not in messages, body
        # __typename is not introspection of the schema and stays allowed.
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).json() == {
            "data": {"__typename": "Query"}
        }


async def test_development_keeps_suggestions(api: Any) -> None:
    body = await api("{ prodcts { totalCount } }")
    assert "Did you mean 'products'" in body["errors"][0]["message"]


async def test_graphiql_and_introspection_when_enabled(serve: Any, production_settings: Any) -> None:
    served = serve(production_settings(KAPDA_GRAPHIQL="on", KAPDA_INTROSPECTION="on"))
    async with served.client() as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        body = (await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})).json()
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_production_headers(serve: Any, production_settings: Any) -> None:
    served = serve(production_settings())
    async with served.client() as client:
        response = await client.post("/graphql", json={"query": "{ __typename }"})
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-frame-options"] == "DENY"


async def test_a_database_outage_is_service_unavailable_logged_with_the_request_id(
    serve: Any, production_settings: Any, logs: LogCapture
) -> None:
    # A database that refuses connections: a retryable outage, not an unexpected failure.
    settings = production_settings().with_overrides(database_url="postgresql://kapda@127.0.0.1:1/none")
    served = serve(settings)
    async with served.client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ products { totalCount } }"}, headers={"x-request-id": "boom-1"}
        )
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "SERVICE_UNAVAILABLE", "retryAfter": 2, "requestId": "boom-1"}
    ]
    assert response.headers["retry-after"] == "2"
    assert "Traceback" not in response.text
    assert "127.0.0.1" not in response.text
    logged = [
        r for r in logs.records if r.levelno >= logging.WARNING and getattr(r, "request_id", None) == "boom-1"
    ]
    assert any("database unavailable" in r.getMessage() for r in logged), [
        r.getMessage() for r in logs.records
    ]
    access = [
        r for r in logs.records if r.name == "kapda_gql.access" and getattr(r, "request_id", None) == "boom-1"
    ]
    assert access[0].errors == ["SERVICE_UNAVAILABLE"]


async def test_development_names_an_outage_the_same_way_without_the_drivers_text(
    serve: Any, settings: Settings
) -> None:
    served = serve(settings.with_overrides(database_url="postgresql://kapda@127.0.0.1:1/none"))
    async with served.client() as client:
        body = (await client.post("/graphql", json={"query": "{ products { totalCount } }"})).json()
    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    assert "127.0.0.1" not in body["errors"][0]["message"]


class _Unexpected(RuntimeError):
    pass


def _fail_unexpectedly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault in our own code (not an outage, not a domain error), with details a client must not see."""
    from kapda_gql.catalog import browse

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise _Unexpected("secret detail: postgresql://kapda:hunter2@10.0.0.5/shop")

    monkeypatch.setattr(browse, "list_products", broken)


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    serve: Any, production_settings: Any, logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_unexpectedly(monkeypatch)
    served = serve(production_settings())
    async with served.client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ products { totalCount } }"}, headers={"X-Request-Id": "boom-2"}
        )
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "Internal server error",
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "boom-2"},
        }
    ]
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
    logged = [
        r for r in logs.records if r.levelno >= logging.ERROR and getattr(r, "request_id", None) == "boom-2"
    ]
    assert logged, [r.getMessage() for r in logs.records]
    assert logged[0].exc_info is not None
    assert "Traceback" in logs.text()
    access = [
        r for r in logs.records if r.name == "kapda_gql.access" and getattr(r, "request_id", None) == "boom-2"
    ]
    assert access[0].errors == ["INTERNAL_SERVER_ERROR"]


async def test_development_shows_the_message_but_the_same_code(
    serve: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_unexpectedly(monkeypatch)
    served = serve(settings)
    async with served.client() as client:
        body = (await client.post("/graphql", json={"query": "{ products { totalCount } }"})).json()
    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert body["errors"][0]["message"] != "Internal server error"


async def test_sentry_is_optional(serve: Any, production_settings: Any, logs: LogCapture) -> None:
    settings = production_settings(KAPDA_SENTRY_DSN="https://key@o0.ingest.sentry.io/0")
    served = serve(settings)
    async with served.client() as client:
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
    if importlib.util.find_spec("sentry_sdk") is None:
        assert not observability.init_sentry(settings)
        assert any("sentry-sdk is not installed" in r.getMessage() for r in logs.records)


def test_sentry_events_are_scrubbed() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln"
    event = {
        "request": {
            "headers": {"Authorization": f"Bearer {token}", "User-Agent": "x", "Cookie": "a=b"},
            "data": '{"password": "hunter22"}',
            "query_string": f"token={token}",
        },
        "logentry": {"message": f"failed for {token}"},
    }
    scrubbed = observability._scrub_event(event, {})
    assert scrubbed is not None
    assert token not in repr(scrubbed)
    assert "hunter22" not in repr(scrubbed)
    assert scrubbed["request"]["headers"] == {"User-Agent": "x"}
