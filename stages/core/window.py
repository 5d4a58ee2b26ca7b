"""The in-flight window: how much consumed-but-unfinished work a stage may hold.

Bounded in messages and in bytes behind one predicate (``has_room``), so a
stage of large raw pages is held back by bytes and one of small URL
messages by count. The memory guard can shrink the count bound while RSS
is high; capacity is released in ``finally`` by the caller.

A message that waits on something the window cannot speed up (a throttled
host, a retry's not-before time) may lend its count back while it waits, so
it does not keep other work out; its bytes stay charged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Window:
    def __init__(self, *, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.limit_messages = max_messages
        self.messages = 0
        self.bytes = 0
        self.lent_messages = 0
        self._room = asyncio.Event()
        self._room.set()

    def has_room(self, size: int = 0) -> bool:
        """Whether a message of ``size`` bytes may enter.

        An empty window admits one message of any size, or a page larger than
        the byte bound could never be processed.
        """
        if self.messages == 0:
            return True
        return self.messages < self.limit_messages and self.bytes + size <= self.max_bytes

    @property
    def free_messages(self) -> int:
        return max(0, self.limit_messages - self.messages)

    def acquire(self, size: int) -> None:
        self.messages += 1
        self.charge(size)

    def release(self, size: int, messages: int = 1) -> None:
        """Give back ``messages`` messages of ``size`` bytes in all (a batched stage's poll at once)."""
        self.messages -= messages
        self.refund(size)

    def charge(self, size: int) -> None:
        """Count bytes a stage holds beyond its input (a fetched page awaiting its ack)."""
        self.bytes += size
        if not self.has_room():
            self._room.clear()

    def refund(self, size: int) -> None:
        self.bytes -= size
        if self.has_room():
            self._room.set()

    @contextmanager
    def lent(self, limit: int) -> Iterator[bool]:
        """Give one message's count back for the block, if fewer than ``limit`` are lent; yield whether it was.

        The count is taken back on exit even if that overfills the window
        for a moment: the message is already consumed, and the overshoot is
        bounded by ``limit``.
        """
        if self.lent_messages >= limit:
            yield False
            return
        self.lent_messages += 1
        self.messages -= 1
        if self.has_room():
            self._room.set()
        try:
            yield True
        finally:
            self.lent_messages -= 1
            self.messages += 1
            if not self.has_room():
                self._room.clear()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    def shrink(self) -> None:
        """Halve the message bound (not below 1): the memory guard's lever."""
        self.limit_messages = max(1, self.limit_messages // 2)

    def grow(self) -> None:
        """Double the message bound back towards its configured value."""
        self.limit_messages = min(self.max_messages, self.limit_messages * 2)
        if self.has_room():
            self._room.set()

    @property
    def shrunk(self) -> bool:
        return self.limit_messages < self.max_messages
