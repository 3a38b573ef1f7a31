"""The connection gate (db/gate.py): first come first served, bounded waits with one timer for the
queue, and no slot lost to a waiter that gave up."""

from __future__ import annotations

import asyncio

import pytest

from kapda_gql.db.gate import Gate, PoolTimeout

pytestmark = pytest.mark.unit


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_free_slots_are_taken_at_once_and_given_back() -> None:
    gate = Gate(2, timeout=1.0)
    await gate.acquire()
    await gate.acquire()
    assert gate.free == 0
    gate.release()
    gate.release()
    assert gate.free == 2


async def test_waiters_are_served_in_arrival_order() -> None:
    gate = Gate(1, timeout=5.0)
    await gate.acquire()
    served: list[int] = []

    async def wait(i: int) -> None:
        await gate.acquire()
        served.append(i)

    tasks = [asyncio.ensure_future(wait(i)) for i in range(5)]
    await _settle()
    for _ in range(5):
        gate.release()
        await _settle()
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2, 3, 4]
    # A newcomer never overtakes a queued waiter: the released slot went to the queue.
    assert gate.free == 0


async def test_a_released_slot_goes_to_the_waiter_not_to_a_newcomer() -> None:
    gate = Gate(1, timeout=5.0)
    await gate.acquire()
    queued = asyncio.ensure_future(gate.acquire())
    await _settle()
    gate.release()
    newcomer = asyncio.ensure_future(gate.acquire())
    await _settle()
    assert queued.done() and not newcomer.done()
    gate.release()
    await _settle()
    assert newcomer.done()


async def test_a_wait_past_the_bound_fails_and_every_waiter_has_its_own_deadline() -> None:
    gate = Gate(1, timeout=0.2)
    await gate.acquire()
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(gate.acquire())
    with pytest.raises(PoolTimeout):
        await asyncio.wait_for(first, 2.0)  # a gate that never expires fails here, not hangs
    assert 0.15 < loop.time() - started < 0.5
    assert not second.done()  # its own 0.2 s are not over yet
    with pytest.raises(PoolTimeout):
        await asyncio.wait_for(second, 2.0)
    assert 0.25 < loop.time() - started < 0.6
    # The slot never moved: the holder gives it back and the gate is whole again.
    gate.release()
    assert gate.free == 1


async def test_a_waiter_that_gives_up_loses_no_slot() -> None:
    gate = Gate(1, timeout=5.0)
    await gate.acquire()
    gone = asyncio.ensure_future(gate.acquire())
    after = asyncio.ensure_future(gate.acquire())
    await _settle()
    gone.cancel()
    await _settle()
    gate.release()  # skips the cancelled waiter
    await _settle()
    assert after.done() and not after.cancelled()
    gate.release()
    assert gate.free == 1


async def test_a_slot_handed_over_as_its_waiter_is_cancelled_passes_on() -> None:
    gate = Gate(1, timeout=5.0)
    await gate.acquire()
    unlucky = asyncio.ensure_future(gate.acquire())
    next_one = asyncio.ensure_future(gate.acquire())
    await _settle()
    gate.release()  # hands the slot to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it runs again
    await _settle()
    assert unlucky.cancelled()
    assert next_one.done() and not next_one.cancelled()
    gate.release()
    assert gate.free == 1


async def test_without_a_bound_a_waiter_waits_as_long_as_it_takes() -> None:
    gate = Gate(1, timeout=None)
    await gate.acquire()
    waiting = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    gate.release()
    await _settle()
    assert waiting.done()
