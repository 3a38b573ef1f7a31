from __future__ import annotations

import asyncio
import logging

import pytest

from kapda_gql.background import periodic


async def test_periodic_runs_repeatedly_survives_failures_and_stops_with_the_app() -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("one bad round")

    async with periodic("test-job", 0.01, job):
        for _ in range(200):
            if len(calls) >= 4:
                break
            await asyncio.sleep(0.01)
    assert len(calls) >= 4  # the failing second round did not end the loop
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == stopped_at  # leaving the context stopped it
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "test-job"]


async def test_a_round_lost_to_a_database_outage_is_one_line_and_any_other_failure_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[BaseException] = [ConnectionRefusedError(111, "Connection refused"), RuntimeError("a bug")]

    async def job() -> None:
        if failures:
            raise failures.pop(0)

    with caplog.at_level(logging.WARNING, logger="kapda_gql.background"):
        async with periodic("poll", 0.01, job):
            for _ in range(200):
                if not failures and len(caplog.records) >= 2:
                    break
                await asyncio.sleep(0.01)
    outage, bug = caplog.records[:2]
    assert (outage.levelno, outage.exc_info) == (logging.WARNING, None)
    assert "database is unavailable" in outage.getMessage()
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
    assert isinstance(bug.exc_info[1], RuntimeError)
