"""Fixtures for the hardening tests: apps of our own (rate limits on, production mode) over the
shared test database, clients that come from a chosen address, and a look at the logs."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kapda_gql.app import build_runtime, create_app
from kapda_gql.config import Settings
from kapda_gql.runtime import Runtime

STRONG_SECRET = secrets.token_urlsafe(48)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@dataclass
class Served:
    app: Any
    runtime: Runtime

    def client(self, ip: str = "198.51.100.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """serve(settings) -> Served: a whole app with its own runtime, disposed after the test."""
    made: list[Runtime] = []

    def make(settings: Settings) -> Served:
        runtime = build_runtime(settings)
        made.append(runtime)
        return Served(create_app(runtime=runtime), runtime)

    yield make
    for runtime in made:
        limiter = runtime.extras.get("rate_limiter")
        if limiter is not None:
            await limiter.aclose()
        await runtime.db.dispose()


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


@pytest.fixture
def production_settings(database_url: str, settings: Settings) -> Any:
    """Production settings as the environment makes them (defaults and checks included), then
    pointed at the local sandbox so nothing leaves the machine."""

    def make(**over: str) -> Settings:
        real = Settings.from_env(production_env(database_url, **over))
        return real.with_overrides(razorpay_base_url=settings.razorpay_base_url, data_dir=settings.data_dir)

    return make


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


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)
