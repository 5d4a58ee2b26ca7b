"""The slow lane: a host's slow requests may hold only a few of its slots, so its fast URLs keep moving.

A host's URLs wait for its slots in one FIFO queue (``politeness.py``), and
which of them are slow (a trickling body, a stalling backend) is only known
once they run. A request still running ``slow_request_seconds`` after it
started has turned slow. It keeps its slot if the host has fewer than
``max_slow_requests_per_host`` slow requests; otherwise it is cut, and its
URL waits for one of the host's slow places instead (``held``), where it is
never cut again. So slow requests hold at most that many of the host's
slots, and the rest stay free for the URLs behind them. A URL is cut at most
once: the server's wasted work is bounded by one ``slow_request_seconds``
per slow URL.

Lanes are dropped when no request runs or waits in them, like idle throttle
states.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from stages.fetcher.politeness import Waiting

# Weight of the newest slow request in the lane's running duration estimate.
_DURATION_WEIGHT = 0.2


@dataclass(slots=True)
class _Lane:
    duration_seconds: float
    running: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    booked_until: float = float("-inf")  # kept while the lane is busy, the only time URLs book turns in it


@dataclass(slots=True)
class Watch:
    """What became of one watched request: kept going as a slow one, or cut."""

    promoted: bool = False
    cut: bool = False


class SlowLane:
    """At most ``limit`` slow requests per host at once."""

    def __init__(self, limit: int, slow_after_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._slow_after = slow_after_seconds
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}

    def __len__(self) -> int:
        """Hosts with slow requests running or waiting (for tests)."""
        return len(self._lanes)

    def running(self, host: str) -> int:
        lane = self._lanes.get(host)
        return lane.running if lane else 0

    @contextmanager
    def watch(self, host: str, deadline: asyncio.Timeout) -> Iterator[Watch]:
        """Watch a request under ``deadline``: once slow, promote it to a free slow place or cut it."""
        outcome = Watch()
        if self._slow_after <= 0:
            yield outcome
            return
        loop = asyncio.get_running_loop()

        def turned_slow() -> None:
            if self._try_take(host):
                outcome.promoted = True
            else:
                outcome.cut = True
                deadline.reschedule(loop.time())

        started = self._clock()
        timer = loop.call_later(self._slow_after, turned_slow)
        try:
            yield outcome
        finally:
            timer.cancel()
            if outcome.promoted:
                self._give_back(host, self._clock() - started)

    @asynccontextmanager
    async def held(self, host: str, waiting: Waiting | None = None) -> AsyncIterator[None]:
        """Hold one of ``host``'s slow places for a URL known to be slow; FIFO, inside ``waiting`` if it waits."""
        if not self._try_take(host):
            lane = self._lanes[host]
            ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.waiters.append(ticket)
            try:
                if waiting is None:
                    await ticket
                else:
                    async with waiting(host):
                        await ticket
            except BaseException:
                if ticket.done() and not ticket.cancelled():
                    self._give_back(host, None)  # handed a place just as we gave up: pass it on
                else:
                    # Cancelled with its waiter; _give_back may have dropped it from the queue already.
                    ticket.cancel()
                    if ticket in lane.waiters:
                        lane.waiters.remove(ticket)
                    self._forget_if_idle(host)
                raise
        started = self._clock()
        try:
            yield
        finally:
            self._give_back(host, self._clock() - started)

    def book(self, host: str) -> float:
        """Seconds from now at which one more slow URL of ``host`` should come back; each call books a later turn.

        A turn lasts the lane's running duration estimate shared among its places.
        """
        lane = self._lane(host)
        now = self._clock()
        lane.booked_until = max(lane.booked_until, now) + lane.duration_seconds / self._limit
        waited = lane.booked_until - now
        self._forget_if_idle(host)
        return waited

    def _lane(self, host: str) -> _Lane:
        lane = self._lanes.get(host)
        if lane is None:
            lane = self._lanes[host] = _Lane(duration_seconds=self._slow_after)
        return lane

    def _try_take(self, host: str) -> bool:
        lane = self._lane(host)
        # Waiters go first: a request turning slow does not jump the queue of slow URLs.
        if lane.running >= self._limit or lane.waiters:
            return False
        lane.running += 1
        return True

    def _give_back(self, host: str, elapsed_seconds: float | None) -> None:
        lane = self._lanes[host]
        if elapsed_seconds is not None:
            lane.duration_seconds += _DURATION_WEIGHT * (elapsed_seconds - lane.duration_seconds)
        lane.running -= 1
        while lane.waiters and lane.running < self._limit:
            ticket = lane.waiters.popleft()
            if not ticket.done():
                lane.running += 1
                ticket.set_result(None)
        self._forget_if_idle(host)

    def _forget_if_idle(self, host: str) -> None:
        lane = self._lanes.get(host)
        if lane is not None and lane.running == 0 and not lane.waiters:
            del self._lanes[host]
