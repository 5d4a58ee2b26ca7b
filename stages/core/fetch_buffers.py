"""Free aiokafka's buffered fetch data as soon as the runner gives a partition's records up.

aiokafka keeps each partition's last fetch response in a ``PartitionRecords``
whose record generator refers back to it: a reference cycle that also holds
the response's bytes (up to ``max_partition_fetch_bytes``). aiokafka breaks
the cycle only once every record has been read. When the runner seeks back
(its window is full), pauses a partition or loses it in a rebalance,
aiokafka drops the object half read, and only Python's cycle collector can
free it: at a paced collector that never ran, such cycles piled up by
hundreds of MB per 100,000 pages (``docs/upstream/aiokafka-partition-records-cycle.md``).

Closing the generator breaks the cycle, so reference counting frees the
bytes the moment aiokafka drops the object. A closed generator reads as
"no more records": aiokafka then refetches from the consumer's position, so
nothing is skipped. This is a shim over aiokafka's private attributes, kept in
this one module; ``tests/core/test_fetch_buffers.py`` fails if they change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


def _buffered(consumer: AIOKafkaConsumer) -> dict[TopicPartition, Any]:
    fetcher = consumer._fetcher
    # None until the consumer has started: nothing is buffered yet.
    return {} if fetcher is None else fetcher._records


def release(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]) -> int:
    """Break the reference cycle of each partition's buffered fetch result; return how many were open."""
    buffered = _buffered(consumer)
    released = 0
    for tp in partitions:
        records = getattr(buffered.get(tp), "_partition_records", None)
        iterator = getattr(records, "_records_iterator", None)
        if iterator is not None:
            iterator.close()
            released += 1
    return released


def release_all(consumer: AIOKafkaConsumer) -> int:
    """``release`` for every partition with buffered data (a rebalance, a shutdown)."""
    return release(consumer, list(_buffered(consumer)))
