"""Only a few bodies may grow past the large-body threshold at once; small ones never wait."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from stages.core.errors import BadMessage
from stages.fetcher.body import BodyLimits, LargeBodyGate, read_body


class Stream:
    """A body arriving in chunks, one per ``feed`` call, ending on ``end``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def iter_any(self):
        while (chunk := await self.queue.get()) is not None:
            yield chunk


def limits(gate: LargeBodyGate) -> BodyLimits:
    return BodyLimits(10_000, 10_000, gate=gate)


async def test_a_second_large_body_waits_until_the_first_is_done():
    gate = LargeBodyGate(100, asyncio.Semaphore(1))
    first, second = Stream(), Stream()
    read_first = asyncio.create_task(read_body(first, None, limits(gate), url=URL("http://a/1")))
    read_second = asyncio.create_task(read_body(second, None, limits(gate), url=URL("http://a/2")))
    first.queue.put_nowait(b"x" * 150)
    second.queue.put_nowait(b"y" * 150)
    second.queue.put_nowait(b"y" * 10)
    second.queue.put_nowait(None)
    await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert gate.slots.locked() and not read_second.done()
    first.queue.put_nowait(None)
    assert await read_first == b"x" * 150
    assert await read_second == b"y" * 160
    assert not gate.slots.locked()


async def test_small_bodies_pass_while_the_slots_are_taken():
    gate = LargeBodyGate(100, asyncio.Semaphore(1))
    await gate.slots.acquire()
    small = Stream()
    small.queue.put_nowait(b"z" * 99)
    small.queue.put_nowait(None)
    assert await asyncio.wait_for(read_body(small, None, limits(gate), url=URL("http://a/s")), 5) == b"z" * 99


async def test_a_refused_large_body_gives_its_slot_back():
    gate = LargeBodyGate(100, asyncio.Semaphore(1))
    huge = Stream()
    huge.queue.put_nowait(b"h" * 200)
    huge.queue.put_nowait(b"h" * 20_000)
    with pytest.raises(BadMessage) as refused:
        await read_body(huge, None, limits(gate), url=URL("http://a/h"))
    assert refused.value.error_class == "too_large"
    assert not gate.slots.locked()
