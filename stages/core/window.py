"""The in-flight window: how much consumed-but-unfinished work a stage may hold.

Two things are bounded separately, behind one predicate (``has_room``):
what is being processed (messages and their input bytes: a stage of large
raw pages is held back by bytes, one of small URL messages by count), and
the bytes of outputs that wait for their acknowledgement (Kafka's, or the
sink's storage commit). A message moves from the first to the second when
its handling ends (``hand_over``), so its input is released as soon as it
is processed while its offset waits for the acks: a slow ack costs memory
bounded by ``max_unacked_bytes``, not idle processing slots. The memory
guard can shrink the count bound while RSS is high.

A message that waits on something the window cannot speed up (a throttled
host, a retry's not-before time) may lend its count back while it waits, so
it does not keep other work out; its bytes stay charged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Window:
    def __init__(self, *, max_messages: int, max_bytes: int, max_unacked_bytes: int | None = None) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_unacked_bytes = max_bytes if max_unacked_bytes is None else max_unacked_bytes
        self.limit_messages = max_messages
        self.messages = 0
        self.bytes = 0
        self.unacked_bytes = 0
        self.lent_messages = 0
        self._room = asyncio.Event()
        self._room.set()

    def has_room(self, size: int = 0) -> bool:
        """Whether a message of ``size`` bytes may enter.

        An empty window admits one message of any size, or a page larger than
        the byte bound could never be processed.
        """
        if self.messages == 0 and self.unacked_bytes == 0:
            return True
        return (self.messages < self.limit_messages and self.bytes + size <= self.max_bytes
                and self.unacked_bytes <= self.max_unacked_bytes)

    @property
    def free_messages(self) -> int:
        return max(0, self.limit_messages - self.messages)

    def acquire(self, size: int) -> None:
        self.messages += 1
        self.bytes += size
        self._update()

    def hand_over(self, size: int, unacked: int = 0) -> None:
        """A message of ``size`` input bytes is processed; ``unacked`` bytes of its outputs await acks."""
        self.messages -= 1
        self.bytes -= size
        self.unacked_bytes += unacked
        self._update()

    def acknowledged(self, unacked: int) -> None:
        self.unacked_bytes -= unacked
        self._update()

    def _update(self) -> None:
        if self.has_room():
            self._room.set()
        else:
            self._room.clear()

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
