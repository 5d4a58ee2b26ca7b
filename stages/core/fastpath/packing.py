"""Packing records into Kafka batches ourselves, across every message in flight.

Records of all in-flight messages go into one open batch per partition,
which is closed and handed to the producer when full or ``linger_seconds``
after its first record (why: ``stages/core/fastpath/__init__.py``).
Partitions are chosen as Kafka's default partitioner does
(``partitions.py``), so a key lands where any other producer puts it.

Memory: at most one open batch per partition (``--producer-max-batch-bytes``
each), holding records whose senders still wait for their acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder

from stages.core.fastpath.partitions import partition_for

Headers = list[tuple[str, bytes]]


class Record(NamedTuple):
    """One record to produce."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers | None = None


@dataclass
class _OpenBatch:
    builder: BatchBuilder
    delivered: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None
    due: bool = False


class BatchPacker:
    def __init__(self, producer: AIOKafkaProducer, *, linger_seconds: float) -> None:
        self._producer = producer
        self._linger_seconds = linger_seconds
        self._open: dict[TopicPartition, _OpenBatch] = {}
        # One batch at a time per partition enters the producer, in order.
        self._locks: dict[TopicPartition, asyncio.Lock] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def pack(self, records: Iterable[Record]) -> set[asyncio.Future[None]]:
        """Add ``records`` to open batches; the futures resolve when every batch holding one is acknowledged."""
        partitions: dict[str, list[int]] = {}
        deliveries = set()
        for record in records:
            choices = partitions.get(record.topic)
            if choices is None:
                choices = partitions[record.topic] = sorted(await self._producer.partitions_for(record.topic))
            tp = TopicPartition(record.topic, partition_for(record.key, choices))
            deliveries.add(self._append(tp, record))
        return deliveries

    def _append(self, tp: TopicPartition, record: Record) -> asyncio.Future[None]:
        batch = self._open.get(tp) or self._start(tp)
        if batch.builder.append(timestamp=None, key=record.key, value=record.value, headers=record.headers) is None:
            self._flush(tp)
            batch = self._start(tp)
            # The first record of a batch always fits, whatever its size.
            batch.builder.append(timestamp=None, key=record.key, value=record.value, headers=record.headers)
        return batch.delivered

    def _start(self, tp: TopicPartition) -> _OpenBatch:
        loop = asyncio.get_running_loop()
        batch = _OpenBatch(self._producer.create_batch(), loop.create_future())
        batch.timer = loop.call_later(self._linger_seconds, self._linger_out, tp)
        self._open[tp] = batch
        return batch

    def _linger_out(self, tp: TopicPartition) -> None:
        lock = self._locks.get(tp)
        if lock is not None and lock.locked():
            self._open[tp].due = True
        else:
            self._flush(tp)

    def _flush(self, tp: TopicPartition) -> None:
        batch = self._open.pop(tp)
        assert batch.timer is not None
        batch.timer.cancel()
        # A closed batch is sent at once: the producer's own linger is for its open ones.
        batch.builder.close()
        task = asyncio.create_task(self._submit(tp, batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _submit(self, tp: TopicPartition, batch: _OpenBatch) -> None:
        lock = self._locks.get(tp)
        if lock is None:
            lock = self._locks[tp] = asyncio.Lock()
        try:
            async with lock:
                sent = await self._producer.send_batch(batch.builder, tp.topic, partition=tp.partition)
        except Exception as exc:  # handed to every sender waiting on this batch
            batch.delivered.set_exception(exc)
            return
        finally:
            following = self._open.get(tp)
            if following is not None and following.due:
                self._flush(tp)
        sent.add_done_callback(lambda done: _settle(batch.delivered, done))


def _settle(delivered: asyncio.Future[None], sent: asyncio.Future[object]) -> None:
    if sent.cancelled():
        delivered.cancel()
    elif (error := sent.exception()) is not None:
        delivered.set_exception(error)
    else:
        delivered.set_result(None)
