from __future__ import annotations

import asyncio

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
