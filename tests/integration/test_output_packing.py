"""Output packs records of concurrent senders into shared batches, against a real broker."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerClosed
from aiokafka.partitioner import murmur2

from stages.core import kafka
from stages.core.output import Output, Record
from stages.core.settings import KafkaConfig


async def read_all(config: KafkaConfig, topic: str, partitions: int = 2) -> list:
    consumer = kafka.consumer(config, group=None, client_id="test-packing-reader")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records = []
        while len(records) < sum(ends.values()):
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


@asynccontextmanager
async def packing_output(config: KafkaConfig, client_id: str) -> AsyncIterator[tuple[AIOKafkaProducer, Output]]:
    """A started producer and the Output packing onto it; the producer is stopped (again, if need be) on exit."""
    producer = kafka.producer(config, client_id=client_id)
    await producer.start()
    try:
        yield producer, Output(producer, stage="test", dlq_topic=config.topic_dlq, linger_seconds=0.005)
    finally:
        await producer.stop()


async def test_records_of_concurrent_senders_arrive_once_in_order_on_their_key_partitions(kafka_config):
    # Small batches, so the records of one sender also span several batches.
    config = dataclasses.replace(kafka_config, producer_max_batch_bytes=4096)
    async with packing_output(config, "test-packing") as (_, output):
        async def sender(n: int) -> None:
            await output.send_all(
                Record(config.topic_products, f"{n}:{i}".encode() + b"x" * 100, key=f"key-{i % 7}".encode(),
                       headers=[("sender", str(n).encode())])
                for i in range(50)
            )

        await asyncio.gather(*(sender(n) for n in range(20)))

    records = await read_all(config, config.topic_products)
    assert len(records) == 20 * 50 and output.counts.produced == 20 * 50
    for record in records:
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % 2
        assert dict(record.headers)["sender"] == record.value.split(b":")[0]
    for n in range(20):
        for key in {r.key for r in records}:
            mine = [int(r.value.split(b":")[1].rstrip(b"x")) for r in records
                    if r.key == key and r.value.startswith(f"{n}:".encode())]
            assert mine == sorted(mine)


async def test_a_record_larger_than_a_batch_is_sent_alone(kafka_config):
    config = dataclasses.replace(kafka_config, producer_max_batch_bytes=1024)
    async with packing_output(config, "test-packing-large") as (_, output):
        await output.send_all([Record(config.topic_pages, b"small", key=b"a"),
                               Record(config.topic_pages, b"L" * 200_000, key=b"a"),
                               Record(config.topic_pages, b"after", key=b"a")])
    assert [len(r.value) for r in await read_all(config, config.topic_pages)] == [5, 200_000, 5]


async def test_a_failed_batch_fails_every_sender_waiting_on_it(kafka_config):
    async with packing_output(kafka_config, "test-packing-fail") as (producer, output):
        await output.send_all([Record(kafka_config.topic_products, b"first", key=b"k")])
        await producer.stop()
        record = Record(kafka_config.topic_products, b"late", key=b"k")
        results = await asyncio.gather(output.send_all([record]), output.send_all([record]), return_exceptions=True)
    assert [type(result) for result in results] == [ProducerClosed, ProducerClosed]
    assert output.counts.produced == 1
