"""The HTTP edge: malformed requests, body size, security headers, CORS, access log and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from kapda_gql import observability
from kapda_gql.config import Settings
from tests.support.apps import PASSWORD, LogCapture

REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { token user { id } } }"


def request_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, body
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return dict(error)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"query": "{ me { id } }"', "application/json"),
        (b"not json at all", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"", "application/json"),
        (b'"just a string"', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"null", "application/json"),
        (b'{"query": 42}', "application/json"),
        (b'{"query": "{ me { id } }", "variables": [1]}', "application/json"),
        (b'{"query": "{ me { id } }", "variables": "x"}', "application/json"),
        (b'{"query": "{ me { id } }", "extensions": 5}', "application/json"),
        (b"[" * 200_000, "application/json"),
        (
            b'{"query": "{ me { id } }", "variables": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
            "application/json",
        ),
    ],
)
async def test_malformed_bodies_are_400(api: Any, content: bytes, content_type: str) -> None:
    response = await api.client.post("/graphql", content=content, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] in {
        "BAD_REQUEST",
        "GRAPHQL_PARSE_FAILED",
        "BAD_USER_INPUT",
    }
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", ""]
)
async def test_wrong_content_type_is_415(api: Any, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await api.client.post("/graphql", content=b'{"query": "{ me { id } }"}', headers=headers)
    request_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_missing_query_is_400(api: Any) -> None:
    response = await api.client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_mutation_over_get_is_refused(api: Any, db: asyncpg.Connection) -> None:
    response = await api.client.get(
        "/graphql",
        params={
            "query": 'mutation { register(input: {email: "g@example.com", password: "long enough", name: "G"}) { token } }'
        },
        headers={"accept": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_oversized_body_is_413_and_changes_nothing(
    serve: Any, settings: Settings, db: asyncpg.Connection
) -> None:
    served = serve(settings.with_overrides(max_body_bytes=2_000))
    variables = {"i": {"email": "big@example.com", "password": "long enough pw", "name": "x" * 3_000}}
    async with served.client() as client:
        response = await client.post("/graphql", json={"query": REGISTER, "variables": variables})
        error = request_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert error["extensions"]["limit"] == 2_000
        assert response.headers["x-content-type-options"] == "nosniff"

        # Without Content-Length (chunked): counted while read, refused all the same.
        async def chunks() -> AsyncIterator[bytes]:
            payload = json.dumps({"query": REGISTER, "variables": variables}).encode()
            for i in range(0, len(payload), 500):
                yield payload[i : i + 500]

        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        request_error(response, 413, "PAYLOAD_TOO_LARGE")
        # Under the limit works.
        variables["i"]["name"] = "Small"
        response = await client.post("/graphql", json={"query": REGISTER, "variables": variables})
        assert response.json()["data"]["register"]["token"]
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_security_headers(api: Any, make_user: Any) -> None:
    user = await make_user("CUSTOMER")
    response = await api.post("{ me { id } }", token=user.token)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "private, no-store"
    assert "strict-transport-security" not in headers  # development is served over plain HTTP
    health = await api.client.get("/healthz")
    assert health.headers["x-frame-options"] == "DENY"


async def test_graphiql_in_development_with_a_csp_naming_no_other_host(api: Any) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    # Served whole by the service (tests/e2e/http/test_graphiql.py runs it in a browser).
    assert not re.findall(r'(?:src|href)="https?://', response.text)
    assert "https:" not in csp and "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


async def test_cors_allow_list(serve: Any, settings: Settings) -> None:
    served = serve(settings.with_overrides(cors_origins=("https://shop.example.com",)))
    async with served.client() as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "origin": "https://shop.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        evil = await client.options(
            "/graphql",
            headers={"origin": "https://evil.example.net", "access-control-request-method": "POST"},
        )
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers
        simple = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://shop.example.com"}
        )
        assert simple.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
        other = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example.net"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_access_log_one_line_per_request_and_no_secrets(
    api: Any, make_user: Any, logs: LogCapture
) -> None:
    user = await make_user("CUSTOMER")
    login = await api.post(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
        {"e": user.email, "p": PASSWORD},
        X_Request_Id="login-request-1",
    )
    token = login.json()["data"]["login"]["token"]
    await api.post("query Me { me { id email } }", token=token, X_Request_Id="me-request-1")
    await api.post("{ me { id } }", token=user.token + "x", X_Request_Id="bad-token-1")
    await api.client.get(
        "/graphql", params={"query": "{ me { id } }", "token": token}, headers={"accept": "application/json"}
    )

    access = [r for r in logs.records if r.name == "kapda_gql.access"]
    assert len(access) == 4
    by_id = {r.request_id: r for r in access}
    first = by_id["login-request-1"]
    assert (first.operation, first.status, first.user_id) == ("mutation:login", 200, None)
    assert first.duration_ms >= 0
    me = by_id["me-request-1"]
    assert (me.operation, me.operation_name, me.user_id) == ("query:me", "Me", user.id)
    bad = by_id["bad-token-1"]
    assert bad.errors == ["UNAUTHENTICATED"]
    assert [r.path for r in access].count("/graphql") == 4

    formatted = logs.text()
    for line in formatted.splitlines():
        if '"logger": "kapda_gql.access"' in line:
            entry = json.loads(line)
            assert {"request_id", "status", "duration_ms", "operation", "user_id"} <= entry.keys()
    for secret in (PASSWORD, token, user.token, token.split(".")[2]):
        assert secret not in formatted


async def test_redaction_is_the_last_line_of_defence(logs: LogCapture, make_user: Any) -> None:
    import logging

    user = await make_user("CUSTOMER")
    observability.install_log_redaction()
    logging.getLogger("some.library").warning(
        "sending Authorization: Bearer %s with password=%s", user.token, PASSWORD
    )
    logging.getLogger("some.library").info('payload {"password": "%s", "token": "%s"}', PASSWORD, user.token)
    text = logs.text()
    assert user.token not in text
    assert PASSWORD not in text
    assert "[redacted]" in text


async def test_metrics_after_some_requests(api: Any, make_user: Any) -> None:
    user = await make_user("CUSTOMER")
    await api.post("{ products(first: 5) { totalCount } }")
    await api.post("{ products(first: 500) { totalCount } }")
    await api.post("{ me { id } }", token="garbage")
    await api.post("{ me { id } }", token=user.token)
    await api.client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    observability.record_checkout("completed")
    observability.record_webhook("payment.captured", "processed")

    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def value(name: str, **labels: str) -> float:
        label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        match = re.search(rf"^{name}\{{{re.escape(label_text)}\}} (\S+)$", text, re.M)
        assert match, f"{name}{{{label_text}}} missing"
        return float(match.group(1))

    assert value("kapda_requests_total", operation="query:products", status="200") >= 2
    assert value("kapda_requests_total", operation="query:me", status="200") >= 2
    assert value("kapda_request_duration_seconds_count", operation="query:products") >= 2
    assert value("kapda_graphql_errors_total", code="QUERY_TOO_COMPLEX") >= 1
    assert value("kapda_graphql_errors_total", code="UNAUTHENTICATED") >= 1
    assert value("kapda_graphql_errors_total", code="BAD_REQUEST") >= 1
    assert value("kapda_checkout_outcomes_total", outcome="completed") >= 1
    assert value("kapda_webhook_events_total", event_type="payment.captured", outcome="processed") >= 1
    assert value("kapda_db_pool_connections", state="size") >= 1
    assert user.token not in text


async def test_metrics_token(serve: Any, settings: Settings) -> None:
    served = serve(settings.with_overrides(metrics_token="scrape-token-0123456789"))
    async with served.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
        ok = await client.get("/metrics", headers={"authorization": "Bearer scrape-token-0123456789"})
        assert ok.status_code == 200
        assert "kapda_requests_total" in ok.text


async def test_metric_labels_from_clients_stay_bounded(api: Any) -> None:
    for i in range(250):
        await api.post(f"query Q{i} {{ __typename }}")
    await api.post("{ nosuchfield }")
    await api.post("{ me { id } products { totalCount } }")
    text = (await api.client.get("/metrics")).text
    operations = set(re.findall(r'^kapda_requests_total\{operation="([^"]*)"', text, re.M))
    assert "query:__typename" in operations
    assert "query:invalid" in operations
    assert "query:multiple" in operations
    assert not any(op.startswith("query:Q") for op in operations)
    assert len(operations) <= observability.MAX_LABEL_VALUES + 1
