"""The app as tests drive it: a GraphQL client over the real ASGI app, test accounts, apps of their own
(rate limits on, production mode), and a look at the logs."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kapda_gql.auth.security import hash_password
from kapda_gql.runtime import Runtime

STRONG_SECRET = secrets.token_urlsafe(48)


@dataclass
class Served:
    app: Any
    runtime: Runtime

    def client(self, ip: str = "198.51.100.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def production_env(database_url: str, **over: str) -> dict[str, str]:
    env = {
        "KAPDA_ENV": "production",
        "KAPDA_DATABASE_URL": database_url,
        "KAPDA_JWT_SECRET": STRONG_SECRET,
        "KAPDA_RAZORPAY_KEY_ID": "rzp_live_hardening",
        "KAPDA_RAZORPAY_KEY_SECRET": secrets.token_hex(16),
        "KAPDA_RAZORPAY_WEBHOOK_SECRET": secrets.token_hex(16),
        "KAPDA_RAZORPAY_BASE_URL": "https://api.razorpay.com",
        "KAPDA_RATE_LIMITS": "off",
        "KAPDA_LOG_JSON": "off",
    }
    env.update(over)
    return env


class LogCapture(logging.Handler):
    """Every record from every logger, formatted as the service would write it (JSON and text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        from kapda_gql.logs import JsonFormatter

        json_formatter = JsonFormatter()
        plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        return "\n".join(json_formatter.format(r) + "\n" + plain.format(r) for r in self.records)


ROOT = Path(__file__).resolve().parent.parent.parent
PASSWORD = "correct horse battery"
# Hashed once, by the service's own hasher: every test user shares it, so making users costs no argon2 time.
PASSWORD_HASH = asyncio.run(hash_password(PASSWORD))


@dataclass
class Api:
    """A GraphQL client over the real ASGI app."""

    client: httpx.AsyncClient

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token=token, **headers)
        return dict(response.json())

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, **headers: str
    ) -> httpx.Response:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=hdrs
        )

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        body = await self(query, variables, token=token)
        assert not body.get("errors"), body
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        body = await self(query, variables, token=token)
        assert body.get("errors"), body
        return body["errors"][0]


@dataclass
class UserInfo:
    id: int
    email: str
    role: str
    token: str
    designer_id: int | None = None
