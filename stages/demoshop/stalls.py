"""How late the server's own event loop is running: what a request's measured start may lag its arrival by.

A shop records when each request starts, to show a crawler's politeness from
the server's side. On a busy machine the server process itself may be kept
off the CPU for a while; requests that arrive meanwhile all start when it
runs again, and look closer together than they were sent. A ticker that
wakes every ``TICK_SECONDS`` tells how long the loop has been away: a request
that starts now arrived at most ``stall_seconds()`` (plus a tick) ago.

One ticker serves every shop in a process; it runs while a shop uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

TICK_SECONDS = 0.01


class LoopStalls:
    """A ticker on the running loop, shared by its users, stopped when the last one leaves."""

    def __init__(self) -> None:
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._last_tick = time.monotonic()

    def stall_seconds(self) -> float:
        """How long past its due time the ticker is now: the loop was busy elsewhere, or off the CPU."""
        return max(0.0, time.monotonic() - self._last_tick - TICK_SECONDS)

    def join(self) -> None:
        self._users += 1
        if self._task is None:
            self._last_tick = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def leave(self) -> None:
        self._users -= 1
        if self._users == 0 and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)


STALLS = LoopStalls()
