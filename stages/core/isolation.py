"""One message's failure stays that message's: an unexpected exception becomes its DLQ record.

A bug met by one odd input (an ``OverflowError`` in a date conversion, say)
used to stop the stage, and after every restart the same message stopped it
again: a crash loop with the partition stuck. Here the exception is charged
to the message that raised it and the stage moves on. Only a dependency failure (Kafka, storage:
something every other message would meet too) still propagates.
"""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, CrawlpipeError

log = logging.getLogger("crawlpipe.isolation")


class UnexpectedError(BadMessage):
    """An exception no stage code anticipated, raised while handling one message."""

    error_class = "unexpected"


def is_dependency_failure(error: BaseException) -> bool:
    """Whether ``error`` says a dependency is down, rather than something about the message."""
    return isinstance(error, KafkaError) or (isinstance(error, CrawlpipeError) and error.retriable)


def as_message_error(stage: str, envelope: Envelope, error: Exception) -> CrawlpipeError:
    """The error that sends ``envelope`` to the DLQ: a ``CrawlpipeError`` as it is, anything else unexpected."""
    if isinstance(error, CrawlpipeError):
        return error
    log.warning("%s %s: unexpected %s sends it to the DLQ", stage, envelope.where(), type(error).__name__,
                exc_info=error)
    unexpected = UnexpectedError(f"{type(error).__name__}: {error}")
    unexpected.__cause__ = error
    return unexpected
