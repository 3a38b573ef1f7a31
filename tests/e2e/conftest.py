"""What the end-to-end tests share: every `kapda-gql serve` a test starts is stopped after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.devtools.processes import Serving


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
