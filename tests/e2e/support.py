"""Helpers of the tests against a real `kapda-gql serve`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from tests.support.apps import Api

T = TypeVar("T")

PAUSE_SECONDS = 120  # far longer than any drill: a kill always lands inside the pause
CLIENT_TIMEOUT_SECONDS = PAUSE_SECONDS + 30


def api_on(client: httpx.AsyncClient, port: int) -> Api:
    return Api(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=client.timeout))


async def eventually(
    check: Callable[[], Awaitable[T]], timeout: float, what: str, *, every: float = 0.2
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")
