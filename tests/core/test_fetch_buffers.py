"""A stage's memory does not grow with the messages it has processed, even when the collector never runs.

The regression this guards against: aiokafka's half-read fetch results are
reference cycles holding up to a fetch response's bytes each, created every
time the runner seeks back or pauses a partition. At a collector threshold
that is never reached (8b4705e set 20,000), they piled up by hundreds of MB
per 100,000 pages. Here the collector is switched off outright while a real
stage loop consumes a few thousand messages through a window small enough
to seek back hundreds of times; what is left for the collector to free must
be no more than what one fetch holds.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.consumer.fetcher import PartitionRecords

from stages.core import kafka
from stages.core.config import MIB, KafkaConfig, RunnerConfig
from stages.core.envelope import Envelope
from stages.core.runner import StageRunner
from stages.core.stage import Emit, Stage

pytestmark = pytest.mark.kafka

MESSAGES = 3000
VALUE_BYTES = 10_000


class Consume(Stage):
    """Does nothing with a message but take a few turns of the event loop, so the window fills."""

    name = "leakcheck"
    input = "topic_pages"

    def __init__(self, kafka_config: KafkaConfig) -> None:
        self.seen = 0

    async def handle(self, envelope: Envelope) -> list[Emit]:
        for _ in range(3):
            await asyncio.sleep(0)
        self.seen += 1
        return []


@pytest.fixture
def collector_off() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.set_threshold(*threshold)
        gc.unfreeze()


def live_partition_records() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is PartitionRecords)


async def fill(config: KafkaConfig, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap, linger_ms=20)
    await producer.start()
    try:
        value = b"x" * VALUE_BYTES
        await asyncio.gather(*[await producer.send(topic, value, key=str(n).encode()) for n in range(MESSAGES)])
    finally:
        await producer.stop()


async def test_a_window_that_seeks_back_hundreds_of_times_leaves_no_fetch_data_for_the_collector(
        kafka_config: KafkaConfig, collector_off: None) -> None:
    await fill(kafka_config, kafka_config.topic_pages)
    stage = Consume(kafka_config)
    # A window of 6 messages' bytes: nearly every poll returns more than fits, and the runner seeks back.
    runner_config = RunnerConfig(max_in_flight=200, max_in_flight_bytes=6 * VALUE_BYTES, lag_check_interval_seconds=0,
                                 memory_check_interval_seconds=0, gc_young_threshold=20_000)
    ends = await _end_offsets(kafka_config, kafka_config.topic_pages)
    runner = StageRunner(stage, kafka_config, runner_config, until=ends)
    seeks = 0
    seek = runner.consumer.seek

    def counting_seek(tp: TopicPartition, offset: int) -> None:
        nonlocal seeks
        seeks += 1
        seek(tp, offset)

    runner.consumer.seek = counting_seek  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=90)
        # The consumer is stopped: any fetch result still alive, and anything the collector still finds,
        # is garbage the stage loop left behind.
        live = live_partition_records()
        left_in_cycles = _bytes_freed_by_a_collection()
    finally:
        tracemalloc.stop()
    assert stage.seen >= MESSAGES
    assert seeks >= 100, f"the window sought back only {seeks} times: the test no longer exercises the leak"
    assert live == 0, f"{live} aiokafka PartitionRecords wait for the cycle collector"
    assert left_in_cycles < 1 * MIB, f"{left_in_cycles / MIB:.1f} MB were held by reference cycles"


async def _end_offsets(config: KafkaConfig, topic: str) -> dict[TopicPartition, int]:
    consumer = kafka.consumer(config, group=None, client_id="leakcheck-probe")
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(topic, p) for p in range(2)])
    finally:
        await consumer.stop()


def _bytes_freed_by_a_collection() -> int:
    before = tracemalloc.get_traced_memory()[0]
    gc.collect()
    return max(0, before - tracemalloc.get_traced_memory()[0])
