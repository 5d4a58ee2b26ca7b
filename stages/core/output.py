"""The one way crawlpipe produces: records packed into shared batches, acknowledged by Kafka.

``emit`` queues a message's records and returns a future that resolves once
Kafka has acknowledged every one of them: the runner commits the input's
offset only then. Records are packed into batches across messages
(``packing.py``); counts and the lag watcher's size estimate are updated on
acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from stages.core import dlq
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.fastpath.packing import BatchPacker, Record

__all__ = ["Output", "OutputCounts", "Record"]


@dataclass
class OutputCounts:
    produced: int = 0
    produced_bytes: int = 0
    dlq: int = 0
    dlq_by_class: dict[str, int] = field(default_factory=dict)


class Output:
    def __init__(self, producer: AIOKafkaProducer, *, stage: str, dlq_topic: str, linger_seconds: float) -> None:
        self._packer = BatchPacker(producer, linger_seconds=linger_seconds)
        self._stage = stage
        self._dlq_topic = dlq_topic
        self.counts = OutputCounts()
        self._listeners: dict[str, list[Callable[[int], None]]] = {}

    def on_produced(self, topic: str, callback: Callable[[int], None]) -> None:
        """Call ``callback(size)`` for each record acknowledged on ``topic`` (the lag watcher's estimate)."""
        self._listeners.setdefault(topic, []).append(callback)

    async def emit(self, records: Iterable[Record]) -> asyncio.Future[Any]:
        """Queue ``records``; the future resolves when all are acknowledged, or fails as their batch did."""
        records = tuple(records)
        # Sizes, not the records: a page's body must not live on until its batch is acknowledged.
        sizes = [(record.topic, len(record.value)) for record in records]
        done = await self._deliver(records)
        done.add_done_callback(lambda delivered: self._count(sizes, delivered))
        return done

    async def send_all(self, records: Iterable[Record]) -> None:
        """Queue every record, then wait for all acknowledgements (batched with other messages' records)."""
        # Shielded: a batch is shared with other messages, whose wait must not be cancelled with ours.
        await asyncio.shield(await self.emit(records))

    def _count(self, sizes: list[tuple[str, int]], delivered: asyncio.Future[Any]) -> None:
        if delivered.cancelled() or delivered.exception() is not None:
            return
        for topic, size in sizes:
            self.counts.produced += 1
            self.counts.produced_bytes += size
            for callback in self._listeners.get(topic, ()):
                callback(size)

    async def _deliver(self, records: Sequence[Record]) -> asyncio.Future[Any]:
        deliveries = await self._packer.pack(records)
        if not deliveries:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return asyncio.gather(*deliveries)

    async def dead_letter(self, error: CrawlpipeError, *, attempt: int = 1, envelope: Envelope | None = None,
                          topic: str | None = None, key: bytes | None = None, value: bytes | None = None,
                          line: int | None = None) -> None:
        key, value = dlq.record(self._stage, error, attempt=attempt, envelope=envelope,
                                 topic=topic, key=key, value=value, line=line)
        await asyncio.shield(await self._deliver((Record(self._dlq_topic, value, key=key),)))
        self.counts.dlq += 1
        self.counts.dlq_by_class[error.error_class] = self.counts.dlq_by_class.get(error.error_class, 0) + 1
