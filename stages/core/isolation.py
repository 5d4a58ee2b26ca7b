"""One message's failure stays that message's: an unexpected exception becomes its DLQ record.

A bug met by one odd input (an ``OverflowError`` in a date conversion, say)
used to stop the stage, and after every restart the same message stopped it
again: a crash loop with the partition stuck. Here the exception is charged
to the message that raised it (a batch is retried one message at a time to
find it) and the stage moves on. Only a dependency failure (Kafka, storage:
something every other message would meet too) still propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, CrawlpipeError
from stages.core.stage import Stage

log = logging.getLogger("crawlpipe.isolation")


class UnexpectedError(BadMessage):
    """An exception no stage code anticipated, raised while handling one message."""

    error_class = "unexpected"


def is_dependency_failure(error: BaseException) -> bool:
    """Whether ``error`` says a dependency is down, rather than something about the message."""
    return isinstance(error, KafkaError) or (isinstance(error, CrawlpipeError) and error.retriable)


async def handle(stage: Stage, envelopes: Sequence[Envelope]) -> list[CrawlpipeError | None]:
    """``stage.handle_batch``, with an unexpected exception turned into the failing message's error."""
    try:
        return await stage.handle_batch(envelopes)
    except Exception as exc:
        if is_dependency_failure(exc):
            raise
        if len(envelopes) > 1:
            # Again one message per call (concurrently, so a batching stage still batches them):
            # the good ones are handled, the bad one is found.
            singles = await asyncio.gather(*(handle(stage, [envelope]) for envelope in envelopes))
            return [errors[0] for errors in singles]
        log.warning("%s %s: unexpected %s sends it to the DLQ", stage.name, envelopes[0].where(),
                    type(exc).__name__, exc_info=True)
        error = UnexpectedError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return [error]
