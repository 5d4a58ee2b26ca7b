"""What happens to work still running on partitions a rebalance took away, once the drain has waited its time.

It is cancelled. Left running, it would go on beside the partition's new
owner, which redoes it anyway (its offsets were not committed): for the
fetcher, that is two replicas fetching from one host at once, past the
host's limits. A task that also holds messages of partitions this replica
keeps is left alone: cancelled, those messages would never finish and their
partition's committed offset would stop there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition

log = logging.getLogger("crawlpipe.runner")


async def cancel_revoked(tasks: Mapping[asyncio.Future[Any], frozenset[TopicPartition]],
                         revoked: set[TopicPartition], stage: str) -> None:
    """Cancel the unfinished handling whose messages all come from ``revoked`` partitions, and wait for it to end.

    Acknowledgements are not cancelled: a batch is shared with other partitions' records.
    """
    doomed = [task for task, tps in tasks.items()
              if isinstance(task, asyncio.Task) and tps and tps <= revoked and not task.done()]
    if not doomed:
        return
    log.warning("%s rebalance: cancelled %d unfinished messages of revoked partitions: their new owner redoes them",
                stage, len(doomed))
    for task in doomed:
        task.cancel()
    await asyncio.wait(doomed)
