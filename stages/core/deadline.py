"""Shutdown steps that talk to Kafka, bounded: a broker that is down must not hold a stopping process.

aiokafka's commit waits for a group coordinator for as long as it takes, and a
producer's stop for its batches to be delivered; with the broker gone a stage
asked to stop hung for minutes. What such a step could not do is safe to leave
undone: offsets not committed are processed again (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger("crawlpipe.shutdown")

# How long one shutdown step may wait for the broker.
KAFKA_STEP_SECONDS = 10.0


async def within(step: Awaitable[None], what: str, seconds: float = KAFKA_STEP_SECONDS) -> None:
    """Await ``step`` for at most ``seconds``; past that, log what was left undone and go on."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("%s did not finish within %.0f s (is the broker down?); going on without it", what, seconds)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # Not ours: aiokafka's consumer stop re-raises the cancellation of a fetch it cancelled itself
        # while that fetch waited out a broker outage.
        log.warning("%s ended with the client's own cancellation (broker down); going on", what)
