"""HostThrottle: per-host slots, pacing, adaptive back-off, Retry-After, idle collection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from stages.fetcher.config import FetchConfig
from stages.fetcher.politeness import HostThrottle, Waiting, parse_retry_after

pytestmark = pytest.mark.timeout(5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: FakeClock | None = None, **overrides: Any) -> HostThrottle:
    settings: dict[str, Any] = {
        "adaptive_delay_step_seconds": 0.5,
        "adaptive_delay_growth_factor": 2.0,
        "adaptive_delay_decay_factor": 0.5,
        "max_delay_per_host_seconds": 4.0,
        "slow_response_seconds": 2.0,
    }
    settings.update(overrides)
    return HostThrottle(FetchConfig(**settings), clock=clock or time.monotonic)


async def touch(t: HostThrottle, host: str) -> None:
    async with t.slot(host):
        pass


def test_retry_after_in_seconds_and_as_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("120", max_seconds=3600) == 120
    assert parse_retry_after(later, max_seconds=3600, now_epoch=now.timestamp()) == 30
    assert parse_retry_after(earlier, max_seconds=3600, now_epoch=now.timestamp()) == 0
    assert parse_retry_after("999999999", max_seconds=3600) == 3600
    for invalid in (None, "", "-5", "soon", "1.5"):
        assert parse_retry_after(invalid, max_seconds=3600) is None


async def test_unknown_host_has_no_delay() -> None:
    assert throttle().delay_for("never.example") == 0.0


async def test_retry_after_pushes_the_hosts_next_start() -> None:
    clock = FakeClock()
    t = throttle(clock)
    async with t.slot("a.example"):
        t.record_response("a.example", status=429, elapsed_seconds=0.01, retry_after_seconds=30)
    assert t.delay_for("a.example") == 30
    clock.now += 10
    assert t.delay_for("a.example") == 20
    assert t.delay_for("b.example") == 0


async def test_distress_grows_the_delay_multiplicatively_up_to_the_ceiling() -> None:
    clock = FakeClock()
    t = throttle(clock)
    await touch(t, "h")
    delays = []
    for status in (503, 429, 502, 504, 503):
        t.record_response("h", status=status, elapsed_seconds=0.01)
        delays.append(t.delay_for("h"))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_fast_success_decays_the_delay_back_to_zero() -> None:
    clock = FakeClock()
    t = throttle(clock)
    await touch(t, "h")
    for _ in range(4):
        t.record_response("h", status=503, elapsed_seconds=0.01)
    delays = []
    for _ in range(4):
        t.record_response("h", status=200, elapsed_seconds=0.01)
        delays.append(t.delay_for("h"))
    assert delays == [2.0, 1.0, 0.5, 0.0]


async def test_slow_answers_and_failures_count_as_distress_but_404_does_not() -> None:
    clock = FakeClock()
    t = throttle(clock)
    await touch(t, "h")
    t.record_response("h", status=200, elapsed_seconds=3.0)
    assert t.delay_for("h") == 0.5
    t.record_failure("h")
    assert t.delay_for("h") == 1.0
    t.record_response("h", status=404, elapsed_seconds=0.01)
    assert t.delay_for("h") == 1.0


async def test_adaptive_delay_can_be_switched_off() -> None:
    clock = FakeClock()
    t = throttle(clock, adaptive_delay_enabled=False)
    await touch(t, "h")
    t.record_response("h", status=503, elapsed_seconds=10)
    t.record_failure("h")
    assert t.delay_for("h") == 0.0


async def test_crawl_delay_is_applied_and_capped() -> None:
    clock = FakeClock()
    t = throttle(clock)
    await touch(t, "h")
    t.set_crawl_delay("h", 1.5)
    assert t.delay_for("h") == 1.5
    t.set_crawl_delay("h", 3600)
    assert t.delay_for("h") == 4.0


async def test_concurrency_per_host_is_limited_and_other_hosts_are_not_held_up() -> None:
    t = throttle(max_connections_per_host=2)
    release = asyncio.Event()
    entered = [asyncio.Event() for _ in range(3)]

    async def hold(index: int, host: str) -> None:
        async with t.slot(host):
            entered[index].set()
            await release.wait()

    holders = [asyncio.create_task(hold(i, "busy")) for i in range(2)]
    await asyncio.gather(*(e.wait() for e in entered[:2]))
    third = asyncio.create_task(hold(2, "busy"))
    await asyncio.sleep(0)  # one loop turn: enough to enter a free slot
    assert not entered[2].is_set()
    async with t.slot("other"):
        pass
    release.set()
    await asyncio.gather(*holders, third)
    assert entered[2].is_set()


async def test_min_delay_spaces_request_starts() -> None:
    t = throttle(min_delay_per_host_seconds=0.2)
    starts = []
    for _ in range(3):
        async with t.slot("h"):
            starts.append(time.monotonic())
    assert all(b - a >= 0.19 for a, b in zip(starts, starts[1:]))


async def test_idle_hosts_are_forgotten() -> None:
    clock = FakeClock()
    t = throttle(clock, host_idle_seconds=10.0, max_delay_per_host_seconds=4.0)
    for host in ("a", "b", "c"):
        await touch(t, host)
    assert len(t) == 3
    clock.now += 11
    await touch(t, "d")
    assert len(t) == 1


async def test_host_count_is_bounded_by_evicting_the_oldest_idle() -> None:
    clock = FakeClock()
    t = throttle(clock, host_state_max_hosts=3)
    for i in range(10):
        await touch(t, f"host{i}")
        clock.now += 0.001
    assert len(t) == 3


async def test_a_host_waiting_out_retry_after_is_not_forgotten() -> None:
    clock = FakeClock()
    t = throttle(clock, host_idle_seconds=10.0, max_retry_after_seconds=3600)
    async with t.slot("parked"):
        t.record_response("parked", status=503, elapsed_seconds=0.01, retry_after_seconds=600)
    clock.now += 11
    await touch(t, "other")
    assert t.delay_for("parked") == pytest.approx(589)


class Recorder:
    """A ``waiting`` hook that records which hosts had to wait."""

    def __init__(self) -> None:
        self.waited: list[str] = []

    @asynccontextmanager
    async def __call__(self, host: str) -> AsyncIterator[None]:
        self.waited.append(host)
        yield


async def test_the_waiting_hook_surrounds_only_a_real_wait() -> None:
    t = throttle(max_connections_per_host=1)
    hook = Recorder()
    async with t.slot("h", hook):
        blocked = asyncio.create_task(_enter_and_leave(t, "h", hook))
        await asyncio.sleep(0)
        assert hook.waited == ["h"] and not blocked.done()
    await blocked
    async with t.slot("h", hook):
        pass
    assert hook.waited == ["h"]


async def test_a_hook_that_gives_up_the_turn_leaves_the_slot_free() -> None:
    t = throttle(max_connections_per_host=1)

    @asynccontextmanager
    async def impatient(host: str) -> AsyncIterator[None]:
        async with asyncio.timeout(0.01):
            yield

    async with t.slot("h"):
        with pytest.raises(TimeoutError):
            await _enter_and_leave(t, "h", impatient)
    async with asyncio.timeout(1):
        await _enter_and_leave(t, "h", impatient)


async def _enter_and_leave(t: HostThrottle, host: str, hook: Waiting) -> None:
    async with t.slot(host, hook):
        pass


async def test_reserved_turns_are_spaced_by_the_pacing_delay() -> None:
    clock = FakeClock()
    t = throttle(clock, min_delay_per_host_seconds=2.0)
    assert [t.reserve("h") for _ in range(3)] == [2.0, 4.0, 6.0]
    clock.now += 5
    assert t.reserve("h") == pytest.approx(3.0)


async def test_reserved_turns_of_a_slow_host_share_its_answer_time_among_its_slots() -> None:
    clock = FakeClock()
    t = throttle(clock, max_connections_per_host=2, adaptive_delay_enabled=False)
    await touch(t, "slow")
    for _ in range(30):
        t.record_response("slow", status=200, elapsed_seconds=4.0)
    first, second = t.reserve("slow"), t.reserve("slow")
    assert first == pytest.approx(2.0, rel=0.01) and second == pytest.approx(2 * first)


async def test_after_a_take_over_every_host_waits_its_delay_from_then() -> None:
    clock = FakeClock()
    t = throttle(clock, min_delay_per_host_seconds=2.0, adaptive_delay_enabled=False)
    await touch(t, "shop.example")
    clock.now += 10.0
    assert t.delay_for("shop.example") == 0.0
    t.take_over()
    assert t.delay_for("shop.example") == 2.0
    clock.now += 2.0
    assert t.delay_for("shop.example") == 0.0
