"""A new stage is one class: registered, it runs as `crawlpipe <name>` with core doing all the Kafka work.

Nothing outside this file changes: the stage declares its input, its output kinds and its settings,
and returns outputs from ``handle``; the CLI gives it options, and core consumes, produces, commits
and shuts down for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stages import cli
from stages.core import registry
from stages.core.config import KafkaConfig
from stages.core.envelope import Envelope
from stages.core.settings import require, setting
from stages.core.stage import Emit, Stage
from tests.conftest import fresh_kafka_config

pytestmark = pytest.mark.kafka

MESSAGES = 5


@dataclass(frozen=True, kw_only=True)
class ShoutConfig:
    """The toy stage's own settings."""

    stop_after: int = setting(0, "stop after this many messages; 0 runs until signalled")

    def __post_init__(self) -> None:
        require(self.stop_after >= 0, "stop_after", self.stop_after, "must be 0 or positive")


class Shout(Stage):
    """Upper-cases every page into the products topic."""

    name = "shout"
    input = "topic_pages"
    outputs = {"loud": "topic_products"}
    settings = (ShoutConfig,)

    def __init__(self, kafka_config: KafkaConfig, config: ShoutConfig) -> None:
        self._config = config
        self._seen = 0

    async def handle(self, message: Envelope) -> list[Emit]:
        self._seen += 1
        if self._seen == self._config.stop_after:
            os.kill(os.getpid(), signal.SIGTERM)
        return [Emit("loud", message.value.upper(), key=message.key)]


async def produce(config: KafkaConfig) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap)
    await producer.start()
    try:
        for n in range(MESSAGES):
            await producer.send_and_wait(config.topic_pages, f"page {n}".encode(), key=b"k", partition=0)
    finally:
        await producer.stop()


async def outputs_and_commit(config: KafkaConfig) -> tuple[list[bytes], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(config.topic_products, 0)
        consumer.assign([tp])
        values: list[bytes] = []
        while len(values) < MESSAGES:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            values += [record.value or b"" for record in batch.get(tp, [])]
    finally:
        await consumer.stop()
    admin_tp = TopicPartition(config.topic_pages, 0)
    group = AIOKafkaConsumer(bootstrap_servers=config.bootstrap, group_id=config.group("shout"))
    await group.start()
    try:
        committed = await group.committed(admin_tp)
    finally:
        await group.stop()
    return values, committed or 0


def test_a_registered_toy_stage_runs_from_the_cli_with_its_own_settings(kafka_bootstrap: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = asyncio.run(fresh_kafka_config(kafka_bootstrap, partitions=1))
    asyncio.run(produce(config))
    monkeypatch.setitem(registry._registered, Shout.name, Shout)
    code = cli.main(["shout", "--bootstrap", config.bootstrap, "--topic-pages", config.topic_pages,
                     "--topic-products", config.topic_products, "--topic-dlq", config.topic_dlq,
                     "--group-prefix", config.group_prefix, "--stop-after", str(MESSAGES),
                     "--lag-check-interval-seconds", "0"])
    assert code == 0
    values, committed = asyncio.run(outputs_and_commit(config))
    assert values == [f"PAGE {n}".encode() for n in range(MESSAGES)]
    assert committed == MESSAGES
