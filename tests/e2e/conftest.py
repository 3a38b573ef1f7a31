"""What the end-to-end tests share: every `kapda-gql serve` a test starts is stopped after it, a
sandbox of a test's own that retries failed webhooks quickly, and a patient HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET
from kapda_gql.devtools.sandbox.server import SandboxServer
from tests.e2e.devtools.processes import Serving
from tests.e2e.support import CLIENT_TIMEOUT_SECONDS


@pytest.fixture
def serving() -> Iterator[list[Serving]]:
    """Every serve started by a test is stopped (SIGTERM, so its database stops too) afterwards."""
    started: list[Serving] = []
    yield started
    for s in started:
        if s.process.poll() is None:
            try:
                s.terminate()
            except Exception:
                s.kill()


@pytest.fixture
def drill_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of the drill's own, retrying failed webhooks quickly (0.5 s, doubling)."""
    server = SandboxServer(
        key_id=SANDBOX_KEY_ID,
        key_secret=SANDBOX_KEY_SECRET,
        webhook_secret=SANDBOX_WEBHOOK_SECRET,
        webhook_retry_window=600,
        webhook_backoff=0.5,
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(CLIENT_TIMEOUT_SECONDS)) as c:
        yield c
