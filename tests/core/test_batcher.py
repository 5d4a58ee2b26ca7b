"""Batches: full or late they flush; a bad record fails alone; transient errors are retried."""

from __future__ import annotations

import asyncio

import pytest

from stages.core.batcher import Batcher
from stages.core.errors import BadMessage, TransientError
from stages.core.health import Health
from stages.sink.storage import StorageError


class FakeStorage:
    """Records what was written; refuses records marked bad, fails the first ``flaky`` writes."""

    def __init__(self, flaky: int = 0, broken: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.flaky = flaky
        self.broken = broken

    async def write_batch(self, records):
        if self.broken:
            raise StorageError("disk I/O error")
        if any(r.get("overflow") for r in records):
            raise OverflowError("date value out of range")
        if self.flaky:
            self.flaky -= 1
            raise TransientError("database restarting")
        if any(r.get("bad") for r in records):
            raise BadMessage(f"bad record among {len(records)}")
        self.batches.append([r["id"] for r in records])


def batcher(storage, size=3, delay=60.0, health: Health | None = None) -> Batcher:
    return Batcher(storage, batch_size=size, max_delay_seconds=delay, retry_seconds=0.01,
                   health=health or Health("sink"))


async def test_a_full_batch_is_written_in_one_transaction():
    storage = FakeStorage()
    b = batcher(storage)
    await asyncio.gather(*(b.add({"id": str(i)}) for i in range(3)))
    assert storage.batches == [["0", "1", "2"]]


async def test_records_spanning_batches_each_resolve_when_their_batch_is_written():
    storage = FakeStorage()
    b = batcher(storage, delay=0.01)
    stored = [b.add({"id": str(i)}) for i in range(7)]
    assert await asyncio.gather(*stored) == [None] * 7
    assert storage.batches == [["0", "1", "2"], ["3", "4", "5"], ["6"]]


async def test_a_batch_that_does_not_fill_is_written_after_the_delay():
    storage = FakeStorage()
    b = batcher(storage, size=100, delay=0.01)
    await asyncio.wait_for(b.add({"id": "late"}), 5)
    assert storage.batches == [["late"]]


async def test_a_bad_record_fails_alone_and_the_others_are_stored():
    storage = FakeStorage()
    b = batcher(storage)
    first, bad, third = await asyncio.gather(b.add({"id": "a"}), b.add({"id": "b", "bad": True}), b.add({"id": "c"}),
                                             return_exceptions=True)
    assert first is None and isinstance(bad, BadMessage) and third is None
    assert storage.batches == [["a"], ["c"]]


async def test_transient_failures_are_retried_until_the_write_succeeds_and_show_storage_down_meanwhile():
    storage = FakeStorage(flaky=2)
    health = Health("sink")
    b = batcher(storage, size=1, health=health)
    write = b.add({"id": "x"})
    while "storage" not in health.dependencies:
        await asyncio.sleep(0)
    assert health.dependencies["storage"].up is False
    assert "storage down" in health.problems()[0]
    await asyncio.wait_for(write, 5)
    assert storage.batches == [["x"]]
    assert health.dependencies["storage"].up and health.problems() == []


async def test_a_record_storage_refuses_for_good_goes_to_the_dlq_and_the_stage_goes_on():
    b = batcher(FakeStorage(broken=True), size=1)
    with pytest.raises(StorageError):
        await b.add({"id": "x"})


async def test_an_unexpected_exception_on_one_record_is_that_records_failure():
    storage = FakeStorage()
    b = batcher(storage, size=3)
    outcomes = await asyncio.gather(b.add({"id": "a"}), b.add({"id": "year-9999", "overflow": True}),
                                    b.add({"id": "c"}), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert outcomes[1].error_class == "unexpected" and "OverflowError" in str(outcomes[1])
    assert storage.batches == [["a"], ["c"]]
