"""SlowLane and RepublishBudget: slow requests hold at most their places; re-publishes per host are bounded."""

from __future__ import annotations

import asyncio

import pytest

from stages.fetcher.budget import RepublishBudget
from stages.fetcher.slowlane import SlowLane

pytestmark = pytest.mark.timeout(5)


async def test_a_request_turning_slow_is_promoted_while_there_is_room_and_cut_after() -> None:
    lane = SlowLane(1, 0.01)
    outcomes = []

    async def request() -> None:
        async with asyncio.timeout(10) as deadline:
            with lane.watch("h", deadline) as watched:
                outcomes.append(watched)
                await asyncio.sleep(0.2)

    first = asyncio.create_task(request())
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await request()
    await first
    assert (outcomes[0].promoted, outcomes[0].cut) == (True, False)
    assert (outcomes[1].promoted, outcomes[1].cut) == (False, True)
    assert len(lane) == 0, "an idle lane is forgotten"


async def test_a_fast_request_is_never_cut() -> None:
    lane = SlowLane(1, 0.5)
    async with asyncio.timeout(10) as deadline:
        with lane.watch("h", deadline) as watched:
            await asyncio.sleep(0)
    assert not watched.promoted and not watched.cut


async def test_slow_urls_take_the_lane_in_order_and_never_more_than_its_places_at_once() -> None:
    lane = SlowLane(2, 1.0)
    order: list[int] = []
    running = []

    async def slow_url(n: int) -> None:
        async with lane.held("h"):
            order.append(n)
            running.append(lane.running("h"))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(slow_url(n) for n in range(6)))
    assert order == list(range(6))
    assert max(running) == 2
    assert len(lane) == 0


async def test_a_waiter_that_gives_up_leaves_no_trace() -> None:
    lane = SlowLane(1, 1.0)
    release = asyncio.Event()

    async def holder() -> None:
        async with lane.held("h"):
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            async with lane.held("h"):
                pass
    release.set()
    await held
    assert len(lane) == 0


async def test_turns_booked_in_a_busy_lane_spread_by_its_duration_over_its_places() -> None:
    now = [100.0]
    lane = SlowLane(2, 4.0, clock=lambda: now[0])
    async with lane.held("h"):
        assert [lane.book("h") for _ in range(3)] == [2.0, 4.0, 6.0]


def test_republish_budget_is_per_host_and_per_minute() -> None:
    now = [0.0]
    budget = RepublishBudget(2, clock=lambda: now[0])
    assert [budget.take("a"), budget.take("a"), budget.take("a"), budget.take("b")] == [True, True, False, True]
    now[0] = 61.0
    assert budget.take("a")
