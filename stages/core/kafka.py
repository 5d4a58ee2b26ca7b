"""Kafka clients built one way for every stage, and the admin calls crawlpipe needs.

The consumer never auto-commits (offsets are committed by the stage loop
after outputs are acknowledged) and its prefetch is bounded by
``fetch_max_bytes``; the producer is idempotent with ``acks=all`` so a
retried send never duplicates a record inside Kafka. Partitions are assigned
by the sticky assignor (eager protocol: aiokafka has no cooperative one), so a
rebalance moves as few partitions as it can and a host's throttle state stays
with the fetcher that has been serving it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.sticky.sticky_assignor import (
    StickyPartitionAssignor,
)
from aiokafka.errors import KafkaConnectionError, KafkaError

from stages.core.diagnosis import diagnose
from stages.core.errors import MissingTopics
from stages.core.security import client_options
from stages.core.settings import KafkaConfig

log = logging.getLogger("crawlpipe.kafka")

#: Longest wait for a stopped client's TLS connections to finish closing (see ``close``).
TLS_CLOSE_SECONDS = 5.0


def consumer(config: KafkaConfig, *topics: str, group: str | None, client_id: str,
             max_poll_records: int = 500, from_beginning: bool = True) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=config.bootstrap,
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        fetch_max_bytes=config.fetch_max_bytes,
        max_partition_fetch_bytes=config.max_partition_fetch_bytes,
        max_poll_records=max_poll_records,
        request_timeout_ms=int(config.request_timeout_seconds * 1000),
        session_timeout_ms=int(config.session_timeout_seconds * 1000),
        heartbeat_interval_ms=max(1000, int(config.session_timeout_seconds * 1000) // 3),
        isolation_level="read_committed",
        partition_assignment_strategy=(StickyPartitionAssignor,),
        **client_options(config),
    )


def producer(config: KafkaConfig, *, client_id: str) -> AIOKafkaProducer:
    """The producer; records sent through ``Output`` are compressed per topic (``codecs.py``), others as pages."""
    return AIOKafkaProducer(
        bootstrap_servers=config.bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        compression_type=None if config.compression_pages == "none" else config.compression_pages,
        linger_ms=config.producer_linger_ms,
        max_batch_size=config.producer_max_batch_bytes,
        max_request_size=config.max_request_bytes,
        request_timeout_ms=int(config.request_timeout_seconds * 1000),
        **client_options(config),
    )


def admin(config: KafkaConfig, *, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=config.bootstrap,
        client_id=client_id,
        request_timeout_ms=int(config.request_timeout_seconds * 1000),
        **client_options(config),
    )


async def start(client: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient,
                config: KafkaConfig) -> None:
    """Start a client, turning 'broker not there' or 'credentials refused' into a message that says what to check."""
    try:
        await client.start()
    except KafkaConnectionError as exc:
        await close(client, config)
        raise await diagnose(config) from exc


async def close(client: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient, config: KafkaConfig) -> None:
    """Stop a client, waiting at most ``TLS_CLOSE_SECONDS`` for its TLS connections to close.

    aiokafka waits for each connection's ``connection_lost``; over TLS, Python
    waits up to 30 s for the broker's close_notify, which Kafka brokers do not
    always send. A producer is flushed first, so the bound only cuts that
    goodbye short: every request has been answered by then.
    """
    if isinstance(client, AIOKafkaProducer):
        await client.flush()
    closing = client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop()
    if config.security_protocol not in ("SSL", "SASL_SSL"):
        await closing
        return
    try:
        await asyncio.wait_for(closing, TLS_CLOSE_SECONDS)
    except TimeoutError:
        log.debug("%s: TLS connections still closing after %.0f s; not waiting for them",
                  type(client).__name__, TLS_CLOSE_SECONDS)


async def topic_partitions(admin_client: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    described = await admin_client.describe_topics([topic])
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0:
            return [TopicPartition(topic, p["partition"]) for p in entry["partitions"]]
    return []


async def group_lag(admin_client: AIOKafkaAdminClient, probe: AIOKafkaConsumer, group: str,
                    partitions: Iterable[TopicPartition]) -> int | None:
    """Messages ``group`` has yet to consume on ``partitions``; None while the group has no offsets.

    A partition the group has not committed yet counts from its log start,
    because that is where a consumer reading from the beginning stands.
    """
    partitions = list(partitions)
    if not partitions:
        return None
    try:
        committed = await admin_client.list_consumer_group_offsets(group, partitions=partitions)
    except KafkaError as exc:
        log.debug("cannot read offsets of group %s: %r", group, exc)
        return None
    known = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    if not known:
        return None
    ends = await probe.end_offsets(partitions)
    missing = [tp for tp in partitions if tp not in known]
    starts = await probe.beginning_offsets(missing) if missing else {}
    lag: int = sum(max(0, ends[tp] - known.get(tp, starts.get(tp, 0))) for tp in partitions)
    return lag


async def require_topics(admin_client: AIOKafkaAdminClient, topics: Iterable[str]) -> None:
    """Refuse to start on topics that do not exist, naming them and the command that creates them.

    Without this a stage started before ``crawlpipe topics create`` logged hundreds of
    metadata errors and then a traceback.
    """
    wanted = sorted(set(topics))
    existing = set(await admin_client.list_topics())
    missing = [topic for topic in wanted if topic not in existing]
    if missing:
        raise MissingTopics(f"topic{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                            f"do{'' if len(missing) > 1 else 'es'} not exist: create the pipeline's topics with "
                            f"`crawlpipe topics create` (same --bootstrap and topic options)")
