"""The one way crawlpipe produces: records packed into shared batches, acknowledged by Kafka.

``emit`` queues a message's records and returns a future that resolves once
Kafka has acknowledged every one of them: the runner commits the input's
offset only then. Records are packed into batches across messages
(``fastpath/packing.py``); counts and the lag watcher's size estimate are
updated on acknowledgement. A send that fails because the broker is away is
sent again, with backoff, until it is acknowledged: an outage holds the
message awaiting its acknowledgement (bounded by the window's
``max_unacked_bytes``), never ends the process. A resend may repeat records
(at-least-once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from stages.core import dlq
from stages.core.codecs import TopicCodecs
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.fastpath.packing import BatchPacker, Record
from stages.core.health import Health

__all__ = ["Output", "OutputCounts", "Record"]

log = logging.getLogger("crawlpipe.output")

RESEND_FIRST_SECONDS = 1.0
RESEND_MAX_SECONDS = 30.0


# Values below this (JSON records, not page bodies) are copied to their exact size before they are held.
COMPACT_BELOW_BYTES = 16 * 1024


def _compact(record: Record) -> Record:
    """``record`` with a value that occupies only its length.

    orjson's bytes keep the capacity they were written into (4 KiB and more,
    whatever their length): held until acknowledged, a 700-byte product record
    cost 8 KiB. Large values (page bodies) are joined to their exact size already.
    """
    if len(record.value) >= COMPACT_BELOW_BYTES:
        return record
    return record._replace(value=bytes(memoryview(record.value)))


def is_outage(error: BaseException) -> bool:
    """Whether a failed send may succeed once the broker is back (a record too large never will)."""
    return isinstance(error, KafkaError) and (
        error.retriable or isinstance(error, KafkaTimeoutError | KafkaConnectionError))


@dataclass
class OutputCounts:
    produced: int = 0
    produced_bytes: int = 0
    dlq: int = 0
    dlq_by_class: dict[str, int] = field(default_factory=dict)


class Output:
    def __init__(self, producer: AIOKafkaProducer, *, stage: str, dlq_topic: str, linger_seconds: float,
                 health: Health | None = None, codecs: TopicCodecs | None = None) -> None:
        self._packer = BatchPacker(producer, linger_seconds=linger_seconds, codecs=codecs)
        self._health = health or Health(stage)
        self._resends: set[asyncio.Task[None]] = set()
        self._stage = stage
        self._dlq_topic = dlq_topic
        self.counts = OutputCounts()
        self._listeners: dict[str, list[Callable[[int], None]]] = {}

    def on_produced(self, topic: str, callback: Callable[[int], None]) -> None:
        """Call ``callback(size)`` for each record acknowledged on ``topic`` (the lag watcher's estimate)."""
        self._listeners.setdefault(topic, []).append(callback)

    async def emit(self, records: Iterable[Record]) -> asyncio.Future[None]:
        """Queue ``records``; the future resolves when all are acknowledged, or fails as their batch did
        with an error no resend can mend."""
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._attempt(tuple(map(_compact, records)), acknowledged, RESEND_FIRST_SECONDS)
        return acknowledged

    async def send_all(self, records: Iterable[Record]) -> None:
        """Queue every record, then wait for all acknowledgements (batched with other messages' records)."""
        # Shielded: a batch is shared with other messages, whose wait must not be cancelled with ours.
        await asyncio.shield(await self.emit(records))

    async def _attempt(self, records: tuple[Record, ...], acknowledged: asyncio.Future[None], delay: float) -> None:
        try:
            deliveries = await self._packer.pack(records)
        except KafkaError as error:  # no metadata for the topic: the broker is away
            if not is_outage(error):
                raise
            self._retry_later(records, acknowledged, delay, error)
            return
        if not deliveries:
            acknowledged.set_result(None)
            return
        asyncio.gather(*deliveries).add_done_callback(
            functools.partial(self._settled, records, acknowledged, delay))

    def _settled(self, records: tuple[Record, ...], acknowledged: asyncio.Future[None], delay: float,
                 delivered: asyncio.Future[Any]) -> None:
        if acknowledged.done():
            return
        if delivered.cancelled():
            acknowledged.cancel()
            return
        error = delivered.exception()
        if error is None:
            self._count(records)
            acknowledged.set_result(None)
        elif is_outage(error):
            self._retry_later(records, acknowledged, delay, error)
        else:
            acknowledged.set_exception(error)

    def _retry_later(self, records: tuple[Record, ...], acknowledged: asyncio.Future[None], delay: float,
                     error: BaseException) -> None:
        self._health.dependency_down("kafka", f"send failed: {type(error).__name__} {error}".strip())
        log.warning("%s send of %d records failed (%s), resending in %.0f s", self._stage, len(records),
                    type(error).__name__, delay)
        asyncio.get_running_loop().call_later(delay, self._resend, records, acknowledged,
                                              min(delay * 2, RESEND_MAX_SECONDS))

    def _resend(self, records: tuple[Record, ...], acknowledged: asyncio.Future[None], delay: float) -> None:
        task = asyncio.create_task(self._attempt_again(records, acknowledged, delay))
        self._resends.add(task)
        task.add_done_callback(self._resends.discard)

    async def _attempt_again(self, records: tuple[Record, ...], acknowledged: asyncio.Future[None],
                             delay: float) -> None:
        try:
            await self._attempt(records, acknowledged, delay)
        except Exception as exc:  # handed to whoever waits for these records
            if not acknowledged.done():
                acknowledged.set_exception(exc)

    def _count(self, records: tuple[Record, ...]) -> None:
        for record in records:
            size = len(record.value)
            self.counts.produced += 1
            self.counts.produced_bytes += size
            for callback in self._listeners.get(record.topic, ()):
                callback(size)

    async def dead_letter(self, error: CrawlpipeError, *, attempt: int = 1, envelope: Envelope | None = None,
                          topic: str | None = None, key: bytes | None = None, value: bytes | None = None,
                          line: int | None = None) -> None:
        key, value = dlq.record(self._stage, error, attempt=attempt, envelope=envelope,
                                 topic=topic, key=key, value=value, line=line)
        await self.send_all((Record(self._dlq_topic, value, key=key),))
        self.counts.dlq += 1
        self.counts.dlq_by_class[error.error_class] = self.counts.dlq_by_class.get(error.error_class, 0) + 1
