"""cancel_revoked: work wholly on revoked partitions is cancelled, work that also holds kept partitions is not."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from stages.core.revoking import cancel_revoked

GONE = TopicPartition("t", 0)
KEPT = TopicPartition("t", 1)


async def test_only_tasks_entirely_on_revoked_partitions_are_cancelled():
    forever = asyncio.Event()
    on_gone = asyncio.create_task(forever.wait())
    on_kept = asyncio.create_task(forever.wait())
    on_both = asyncio.create_task(forever.wait())
    tasks = {on_gone: frozenset({GONE}), on_kept: frozenset({KEPT}), on_both: frozenset({GONE, KEPT})}
    await cancel_revoked(tasks, {GONE}, "fetcher")
    assert on_gone.cancelled()
    assert not on_kept.done() and not on_both.done()
    forever.set()
    await asyncio.gather(on_kept, on_both)
