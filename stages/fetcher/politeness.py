"""Per-host politeness: how many requests at once, and how far apart they start.

Each host gets a few concurrency slots and a pacing delay between request
starts. The delay is the largest of:

- ``min_delay_per_host_seconds`` (the operator's floor),
- the host's robots.txt Crawl-delay (capped),
- an adaptive delay that doubles on signs of distress (429, 502-504,
  timeouts, slow headers) and decays on fast successful answers, so a host
  that can take it is fetched flat out and one that cannot is left alone.

A server's Retry-After pushes the host's next allowed start instead of the
delay, so one 429 does not slow every later request.

A caller may pass ``slot()`` a ``waiting`` context that is entered only when
the slot cannot be had at once (the stage lends its window slot back there),
and may ask ``reserve()`` for a later turn to come back at instead of
waiting in memory. Per-host state is
dropped once the host has been idle (like Scrapy's ``Downloader._slot_gc``),
so crawling millions of hosts does not grow this map without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from stages.fetcher.config import FetchConfig

# Statuses that mean "you are too fast for me", as opposed to "this page is broken".
_DISTRESS_STATUSES = frozenset({429, 502, 503, 504})
# Weight of the newest answer in a host's running time-to-headers estimate.
_LATENCY_WEIGHT = 0.2

Waiting = Callable[[str], AbstractAsyncContextManager[None]]


@dataclass(slots=True)
class _HostState:
    semaphore: asyncio.Semaphore
    last_used: float
    users: int = 0  # waiting or in flight; a host with users is never collected
    last_start: float = float("-inf")
    not_before: float = float("-inf")
    adaptive_delay_seconds: float = 0.0
    crawl_delay_seconds: float = 0.0
    latency_seconds: float = 0.0
    reserved_until: float = float("-inf")
    last_sent: float = float("-inf")


class HostThrottle:
    """Concurrency slots and start pacing per host, with adaptive back-off."""

    def __init__(self, config: FetchConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._states: OrderedDict[str, _HostState] = OrderedDict()
        self._taken_over_at = float("-inf")

    def __len__(self) -> int:
        """Hosts with state held right now (for tests and metrics)."""
        return len(self._states)

    def delay_for(self, host: str) -> float:
        """Seconds before a new request to ``host`` may start, 0.0 if it may start now.

        Waiting for a free concurrency slot comes on top.
        """
        state = self._states.get(host)
        if state is None:
            return 0.0
        return max(0.0, self._next_start(state) - self._clock())

    @asynccontextmanager
    async def slot(self, host: str, waiting: Waiting | None = None) -> AsyncIterator[None]:
        """Hold one of ``host``'s slots, entered no earlier than its pacing allows.

        ``waiting(host)`` surrounds the wait when there is one; it may raise to give up the turn.
        """
        state = self._touch(host)
        state.users += 1
        try:
            if waiting is not None and (state.semaphore.locked() or self._next_start(state) > self._clock()):
                async with waiting(host):
                    await self._enter(state)
            else:
                await self._enter(state)
            try:
                yield
            finally:
                state.semaphore.release()
        finally:
            state.users -= 1
            state.last_used = self._clock()
            self._collect()

    async def _enter(self, state: _HostState) -> None:
        await state.semaphore.acquire()
        try:
            while (wait := self._next_start(state) - self._clock()) > 0:
                # Re-checked after every sleep: a Retry-After or back-off
                # may have arrived, or another holder took this start.
                await asyncio.sleep(wait)
        except BaseException:
            state.semaphore.release()
            raise
        state.last_start = self._clock()

    async def before_send(self, host: str) -> None:
        """Hold a request whose connection is ready until its delay has passed since the host's last one sent.

        Pacing at the slot (``slot``) holds on the wire only if the process
        runs between the slot and the send; one kept off the CPU in between
        would send requests paced apart together when it runs again.
        """
        state = self._states.get(host)
        if state is None:
            return
        while (wait := state.last_sent + self._delay(state) - self._clock()) > 0:
            await asyncio.sleep(wait)
        state.last_sent = self._clock()

    def take_over(self) -> None:
        """Partitions were just assigned here: another replica may have started a request to any of their hosts
        a moment before it let them go, so every host is paced from now, as if this one had just started one."""
        self._taken_over_at = self._clock()

    def reserve(self, host: str) -> float:
        """Seconds from now at which one more request to ``host`` should come back; each call books a later turn.

        A turn lasts the host's pacing delay, or its time to answer shared
        among its concurrency slots, whichever is longer: booked turns spread
        the returns out instead of bringing them all back at once.
        """
        state = self._touch(host)
        now = self._clock()
        turn = max(self._delay(state), state.latency_seconds / self._config.max_connections_per_host)
        state.reserved_until = max(state.reserved_until, self._next_start(state), now) + turn
        return state.reserved_until - now

    def record_response(
        self, host: str, *, status: int, elapsed_seconds: float, retry_after_seconds: float | None = None
    ) -> None:
        """Feed back one answer: its status, its time to headers, and any Retry-After."""
        state = self._states.get(host)
        if state is None:
            return
        state.latency_seconds += _LATENCY_WEIGHT * (elapsed_seconds - state.latency_seconds)
        if retry_after_seconds is not None:
            state.not_before = max(state.not_before, self._clock() + retry_after_seconds)
        if status in _DISTRESS_STATUSES or elapsed_seconds > self._config.slow_response_seconds:
            self._back_off(state)
        elif status < 400:
            self._recover(state)

    def record_failure(self, host: str) -> None:
        """Feed back a timeout or a dropped connection: an overloaded host looks like this."""
        state = self._states.get(host)
        if state is not None:
            self._back_off(state)

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        """Apply robots.txt's Crawl-delay (capped at ``max_delay_per_host_seconds``)."""
        if not seconds and host not in self._states:
            return
        state = self._touch(host)
        state.crawl_delay_seconds = min(seconds or 0.0, self._config.max_delay_per_host_seconds)

    def _delay(self, state: _HostState) -> float:
        return max(self._config.min_delay_per_host_seconds, state.crawl_delay_seconds, state.adaptive_delay_seconds)

    def _next_start(self, state: _HostState) -> float:
        return max(max(state.last_start, self._taken_over_at) + self._delay(state), state.not_before)

    def _back_off(self, state: _HostState) -> None:
        if not self._config.adaptive_delay_enabled:
            return
        config = self._config
        grown = state.adaptive_delay_seconds * config.adaptive_delay_growth_factor
        state.adaptive_delay_seconds = min(
            max(grown, config.adaptive_delay_step_seconds), config.max_delay_per_host_seconds
        )

    def _recover(self, state: _HostState) -> None:
        decayed = state.adaptive_delay_seconds * self._config.adaptive_delay_decay_factor
        # Below one step the delay snaps to zero, so recovery ends instead of
        # creeping towards zero for ever.
        state.adaptive_delay_seconds = decayed if decayed >= self._config.adaptive_delay_step_seconds else 0.0

    def _touch(self, host: str) -> _HostState:
        """The host's state, created if needed, marked as just used."""
        state = self._states.get(host)
        now = self._clock()
        if state is None:
            state = _HostState(asyncio.Semaphore(self._config.max_connections_per_host), last_used=now)
            self._states[host] = state
        else:
            self._states.move_to_end(host)
        state.last_used = now
        return state

    def _collect(self) -> None:
        """Forget idle hosts: those idle too long, and the oldest idle ones above the size bound.

        The map is ordered by last use, so the scan stops at the first
        recently used host. Busy or still-paced hosts are skipped, never
        dropped; there are at most as many of them as requests in flight
        plus hosts inside their delay.
        """
        now = self._clock()
        idle_seconds = self._config.host_idle_seconds
        excess = len(self._states) - self._config.host_state_max_hosts
        doomed: list[str] = []
        for host, state in self._states.items():
            recently_used = now - state.last_used < idle_seconds
            if recently_used and excess <= 0:
                break
            # A host still inside its pacing delay or its booked turns keeps
            # its state, or the next request could start early.
            if state.users == 0 and max(self._next_start(state), state.reserved_until) <= now:
                doomed.append(host)
                excess -= 1
        for host in doomed:
            del self._states[host]


def parse_retry_after(value: str | None, *, max_seconds: float, now_epoch: float | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP-date), capped; None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now_epoch is None else now_epoch)
    return min(max(seconds, 0.0), max_seconds)
