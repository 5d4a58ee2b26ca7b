"""The pipeline's topics, each configured for what it carries, created idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from stages.core import kafka
from stages.core.errors import ConfigError
from stages.core.settings import MIB, KafkaConfig, require, setting

log = logging.getLogger("crawlpipe.topics")

HOUR_MS = 3600 * 1000


@dataclass(frozen=True, kw_only=True)
class TopicsConfig:
    """Partition counts and retention of the pipeline's topics."""

    urls_partitions: int = setting(6, "partitions of the URL topic (most fetcher replicas)")
    pages_partitions: int = setting(6, "partitions of the pages topic (most parser replicas)")
    products_partitions: int = setting(6, "partitions of the products topic (most sink replicas)")
    dlq_partitions: int = setting(1, "partitions of the DLQ topic")
    pages_retention_hours: int = setting(168, "how long raw pages are kept for replay (-1 forever)")
    retention_hours: int = setting(168, "retention of the URL, products and DLQ topics")
    pages_max_message_bytes: int = setting(17 * MIB, "largest raw page record the broker accepts")
    replication_factor: int = setting(1, "replicas of every topic (3 on a production cluster)")

    def __post_init__(self) -> None:
        for name in ("urls_partitions", "pages_partitions", "products_partitions", "dlq_partitions",
                     "replication_factor"):
            require(getattr(self, name) >= 1, name, getattr(self, name), "must be at least 1")


def specs(kafka_config: KafkaConfig, topics: TopicsConfig) -> list[NewTopic]:
    def retention(hours: int) -> str:
        return str(hours * HOUR_MS if hours >= 0 else -1)

    small = {"retention.ms": retention(topics.retention_hours), "compression.type": "producer"}
    return [
        NewTopic(kafka_config.topic_urls, topics.urls_partitions, topics.replication_factor, topic_configs=small),
        NewTopic(kafka_config.topic_pages, topics.pages_partitions, topics.replication_factor, topic_configs={
            "retention.ms": retention(topics.pages_retention_hours),
            "compression.type": "producer",
            "max.message.bytes": str(topics.pages_max_message_bytes),
        }),
        NewTopic(kafka_config.topic_products, topics.products_partitions, topics.replication_factor,
                 topic_configs=small),
        NewTopic(kafka_config.topic_dlq, topics.dlq_partitions, topics.replication_factor, topic_configs={
            **small, "max.message.bytes": str(2 * MIB),
        }),
    ]


async def create(kafka_config: KafkaConfig, topics: TopicsConfig) -> dict[str, str]:
    """Create the missing topics; returns each topic's outcome ('created' or 'exists')."""
    admin_client = kafka.admin(kafka_config, client_id="crawlpipe-topics")
    await kafka.start(admin_client, kafka_config)
    outcome: dict[str, str] = {}
    try:
        existing = set(await admin_client.list_topics())
        wanted = [spec for spec in specs(kafka_config, topics) if spec.name not in existing]
        outcome = {name: "exists" for name in existing}
        if wanted:
            response = await admin_client.create_topics(wanted)
            for name, code, message in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:
                    outcome[name] = "exists"
                elif code:
                    raise ConfigError(f"cannot create topic {name}: error {code}: {message}")
                else:
                    outcome[name] = "created"
    finally:
        await kafka.close(admin_client, kafka_config)
    return {spec.name: outcome.get(spec.name, "exists") for spec in specs(kafka_config, topics)}


async def max_message_bytes(kafka_config: KafkaConfig, topic: str) -> int | None:
    """The topic's ``max.message.bytes``, for start-up checks; None if the topic does not exist."""
    admin_client = kafka.admin(kafka_config, client_id="crawlpipe-config-check")
    await kafka.start(admin_client, kafka_config)
    try:
        responses = await admin_client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await kafka.close(admin_client, kafka_config)
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, _name, entries = resource[:5]
            if error_code:
                return None
            for entry in entries:
                if entry[0] == "max.message.bytes":
                    return int(entry[1])
    return None
