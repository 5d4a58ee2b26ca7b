"""The one way stages produce: send and wait for Kafka's acknowledgement.

A stage's ``handle`` returns only after its outputs are acknowledged, which
is what lets the runner commit the input offset right after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from stages.core import dlq
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError

Headers = list[tuple[str, bytes]]


@dataclass
class OutputCounts:
    produced: int = 0
    produced_bytes: int = 0
    dlq: int = 0
    dlq_by_class: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers | None = None


class Output:
    def __init__(self, producer: AIOKafkaProducer, *, stage: str, dlq_topic: str) -> None:
        self._producer = producer
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
        """Queue every record, then wait for all acknowledgements (batched by the producer)."""
        pending = []
        for record in records:
            future = await self._producer.send(record.topic, record.value, key=record.key, headers=record.headers)
            pending.append((record, future))
        if not pending:
            return
        await asyncio.gather(*(future for _, future in pending))
        for record, _ in pending:
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
        await (await self._producer.send(self._dlq_topic, value, key=key))
        self.counts.dlq += 1
        self.counts.dlq_by_class[error.error_class] = self.counts.dlq_by_class.get(error.error_class, 0) + 1
