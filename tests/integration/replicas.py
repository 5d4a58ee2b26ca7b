"""Helpers for the tests that run several replicas of a stage on four-partition topics."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord

from stages.core import kafka
from stages.core.config import KafkaConfig
from tests.conftest import StageProcesses, eventually

PARTITIONS = 4


def assignment(stages: StageProcesses, name: str, topic: str) -> set[int] | None:
    """Partitions of ``topic`` in the replica's latest 'rebalance: assigned' line; None before the first."""
    lines = re.findall(r"rebalance: assigned (.*)", stages.log(name))
    if not lines:
        return None
    return {int(p) for p in re.findall(rf"{re.escape(topic)}\[(\d+)\]", lines[-1])}


def consumed(stages: StageProcesses, name: str) -> int:
    """Messages the replica took in, from the line it logs when it stops."""
    found = re.findall(r"stopped: consumed (\d+)", stages.log(name))
    assert found, f"{name} logged no 'stopped' line:\n{stages.log(name)}"
    return int(found[-1])


async def settled(stages: StageProcesses, names: Iterable[str], topic: str) -> dict[str, set[int]]:
    """Wait until the replicas own disjoint, non-empty sets of partitions that cover the topic."""
    names = list(names)

    def current() -> dict[str, set[int]] | None:
        owned = {name: assignment(stages, name, topic) for name in names}
        if any(not parts for parts in owned.values()):
            return None
        every = [p for parts in owned.values() if parts for p in parts]
        if len(every) != len(set(every)) or set(every) != set(range(PARTITIONS)):
            return None
        return owned  # type: ignore[return-value]

    return await eventually(current, timeout=60, what=f"{names} to share {topic}")


def partition_of(key: bytes) -> int:
    """The partition the producers' default partitioner picks for ``key``."""
    every = list(range(PARTITIONS))
    return DefaultPartitioner()(key, every, every)


def start_replicas(stages: StageProcesses, stage: str, count: int, first: int = 1, **env: str) -> list[str]:
    names = [f"{stage}-{i}" for i in range(first, first + count)]
    for name in names:
        stages.start(stage, name=name, **env)
    return names


async def end_offsets_total(config: KafkaConfig, topic: str) -> int:
    probe = kafka.consumer(config, group=None, client_id="test-probe")
    await probe.start()
    try:
        ends = await probe.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await probe.stop()
    return sum(ends.values())


async def committed_total(config: KafkaConfig, stage: str, topic: str) -> int:
    """Offsets the stage's group has committed on ``topic``, summed over its partitions."""
    admin = kafka.admin(config, client_id="test-admin")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            config.group(stage), partitions=[TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await admin.close()
    return sum(max(0, meta.offset) for meta in offsets.values())


async def caught_up(config: KafkaConfig, stage: str, topic: str) -> bool:
    """The stage's group has committed everything written to ``topic`` so far (and something was)."""
    end = await end_offsets_total(config, topic)
    return end > 0 and await committed_total(config, stage, topic) >= end


async def read_topic(config: KafkaConfig, topic: str) -> list[ConsumerRecord]:
    """Every record in ``topic`` up to its end offsets when reading began."""
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    reader = kafka.consumer(config, group=None, client_id="test-reader")
    await reader.start()
    records: list[ConsumerRecord] = []
    try:
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        await reader.seek_to_beginning(*tps)
        total = sum(ends.values())

        async def read_all() -> bool:
            for batch in (await reader.getmany(timeout_ms=200)).values():
                records.extend(batch)
            return len(records) >= total
        if total:
            await eventually(read_all, interval=0, what=f"{total} records of {topic}")
    finally:
        await reader.stop()
    return records
