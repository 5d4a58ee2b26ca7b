"""The one way stages produce: send and wait for Kafka's acknowledgement.

A stage's ``handle`` returns only after its outputs are acknowledged, which
is what lets the runner commit the input offset right after. Records are
packed into batches across concurrent messages (``packing.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from stages.core import dlq
from stages.core.codecs import TopicCodecs
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.packing import BatchPacker, Record

__all__ = ["Output", "OutputCounts", "Record"]


@dataclass
class OutputCounts:
    produced: int = 0
    produced_bytes: int = 0
    dlq: int = 0
    dlq_by_class: dict[str, int] = field(default_factory=dict)


class Output:
    def __init__(self, producer: AIOKafkaProducer, *, stage: str, dlq_topic: str, linger_seconds: float,
                 codecs: TopicCodecs | None = None) -> None:
        self._packer = BatchPacker(producer, linger_seconds=linger_seconds, codecs=codecs)
        self._stage = stage
        self._dlq_topic = dlq_topic
        self.counts = OutputCounts()
        self._listeners: dict[str, list[Callable[[int], None]]] = {}

    def on_produced(self, topic: str, callback: Callable[[int], None]) -> None:
        """Call ``callback(size)`` for each record acknowledged on ``topic`` (the lag watcher's estimate)."""
        self._listeners.setdefault(topic, []).append(callback)

    async def send(self, record: Record) -> None:
        await self.send_all((record,))

    async def send_all(self, records: Iterable[Record]) -> None:
        """Queue every record, then wait for all acknowledgements (batched with other messages' records)."""
        records = tuple(records)
        await self._deliver(records)
        for record in records:
            size = len(record.value)
            self.counts.produced += 1
            self.counts.produced_bytes += size
            for callback in self._listeners.get(record.topic, ()):
                callback(size)

    async def _deliver(self, records: Iterable[Record]) -> None:
        deliveries = await self._packer.pack(records)
        if deliveries:
            # Shielded: a batch is shared with other messages, whose wait must not be cancelled with ours.
            await asyncio.shield(asyncio.gather(*deliveries))

    async def dead_letter(self, error: CrawlpipeError, *, attempt: int = 1, envelope: Envelope | None = None,
                          topic: str | None = None, key: bytes | None = None, value: bytes | None = None,
                          line: int | None = None) -> None:
        key, value = dlq.record(self._stage, error, attempt=attempt, envelope=envelope,
                                 topic=topic, key=key, value=value, line=line)
        await self._deliver((Record(self._dlq_topic, value, key=key),))
        self.counts.dlq += 1
        self.counts.dlq_by_class[error.error_class] = self.counts.dlq_by_class.get(error.error_class, 0) + 1
