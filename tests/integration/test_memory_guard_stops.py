"""A stage that leaks is stopped by its memory guard, cleanly, with what it finished committed."""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc

import psutil
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from stages.core import kafka
from stages.core.envelope import Envelope
from stages.core.errors import MemoryExhausted
from stages.core.runner import StageRunner
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.stage import Emit, Stage

pytestmark = pytest.mark.kafka

FINE, LEAKY = 20, 30
LEAK_BYTES = 4 * MIB


class Leaky(Stage):
    """Finishes "fine" messages; keeps 4 MB for each "leak" message and never finishes it."""

    name = "leaky"
    input = "topic_pages"
    concurrent = True

    def __init__(self, kafka_config: KafkaConfig) -> None:
        self.kept: list[bytes] = []
        self.finished = 0
        self._never = asyncio.Event()

    async def handle(self, envelope: Envelope) -> list[Emit]:
        if envelope.value == b"leak":
            self.kept.append(bytes([len(self.kept) % 256]) * LEAK_BYTES)
            await self._never.wait()
        self.finished += 1
        return []


async def test_rss_past_the_hard_limit_stops_the_stage_after_committing_what_it_finished(
        kafka_config: KafkaConfig) -> None:
    topic = kafka_config.topic_pages
    producer = AIOKafkaProducer(bootstrap_servers=kafka_config.bootstrap)
    await producer.start()
    try:
        for value in [b"fine"] * FINE + [b"leak"] * LEAKY:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    rss_mb = psutil.Process().memory_info().rss // MIB
    small = dataclasses.replace(kafka_config, fetch_max_bytes=2 * MIB, max_request_bytes=2 * MIB)
    config = RunnerConfig(max_in_flight=100, max_in_flight_bytes=MIB, memory_overhead_mb=1, malloc_keep_mb=0,
                          memory_soft_limit_mb=rss_mb + 20, memory_limit_mb=rss_mb + 60,
                          memory_check_interval_seconds=0.05, lag_check_interval_seconds=0,
                          shutdown_timeout_seconds=1)
    stage = Leaky(kafka_config)
    runner = StageRunner(stage, small, config)
    with pytest.raises(MemoryExhausted, match=f"hard memory limit of {rss_mb + 60} MB"):
        await asyncio.wait_for(runner.run(), timeout=60)
    assert runner.memory.over_budget
    assert not tracemalloc.is_tracing(), "the guard stops the tracing it started when it stops the stage"
    assert stage.finished == FINE
    stage.kept.clear()
    assert await committed(kafka_config, TopicPartition(topic, 0)) == FINE


async def committed(config: KafkaConfig, tp: TopicPartition) -> int:
    admin = kafka.admin(config, client_id="leaky-check")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(config.group(Leaky.name), partitions=[tp])
    finally:
        await admin.close()
    return offsets[tp].offset
