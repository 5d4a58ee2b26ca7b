"""``crawlpipe dlq`` and ``crawlpipe redrive``: read the dead-letter topic, and send failures back.

The DLQ record format is ``schemas/dlq.schema.json`` (written by
``stages.core.dlq``). ``redrive`` re-sends the records of one error class to
the input topic of the stage they failed in, e.g. after a rule is fixed or a
limit raised:

- fetcher: the URL message, inline in the record, with ``attempt`` reset to 1
  (the retries it used up belonged to the failure being redriven);
- parser: the raw page, read back from ``input.topic/partition/offset`` with
  its headers (the DLQ never holds page headers, and large bodies not at all);
- sink: the product record, inline (or read back when it was too large).

Records from ``publish`` (bad input lines) have no stage to go back to and
are skipped; pages already deleted by retention are counted as missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.tools.printable import printable

Headers = list[tuple[str, bytes]]


@dataclass
class ClassSummary:
    stage: str
    error_class: str
    count: int = 0
    first_failed_at: str = ""
    last_failed_at: str = ""
    example: dict = field(default_factory=dict)

    def example_text(self, width: int = 160) -> str:
        """The example's failed input (inline value, else key and where it is in Kafka) and its error."""
        source = self.example.get("input", {})
        where = source.get("value") or " ".join(filter(None, (
            source.get("key"), f"at {source.get('topic')}[{source.get('partition')}]@{source.get('offset')}"
            if source.get("offset") is not None else None))) or "?"
        where = where if len(where) <= width else where[: width - 1] + "…"
        return printable(f"{where} → {self.example.get('error', '')}")


@dataclass
class RedriveResult:
    sent: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


async def read_to_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``tps`` from their start up to the end offsets seen when reading began."""
    if not tps:
        return
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}


async def _dlq_records(config: KafkaConfig) -> AsyncIterator[dict]:
    admin = kafka.admin(config, client_id="crawlpipe-dlq")
    await kafka.start(admin, config)
    try:
        tps = await kafka.topic_partitions(admin, config.topic_dlq)
    finally:
        await kafka.close(admin, config)
    consumer = kafka.consumer(config, group=None, client_id="crawlpipe-dlq")
    await kafka.start(consumer, config)
    try:
        async for record in read_to_end(consumer, tps):
            try:
                document = orjson.loads(record.value or b"")
            except orjson.JSONDecodeError:
                document = {"stage": "?", "error_class": "unreadable_dlq_record", "error": "not JSON",
                            "failed_at": "", "input": {"topic": ""}}
            yield document
    finally:
        await kafka.close(consumer, config)


async def summarise(config: KafkaConfig) -> list[ClassSummary]:
    """Count the DLQ by (stage, error class), keeping the first record of each as the example."""
    summaries: dict[tuple[str, str], ClassSummary] = {}
    async for document in _dlq_records(config):
        key = (document.get("stage", "?"), document.get("error_class", "?"))
        summary = summaries.get(key)
        if summary is None:
            summary = summaries[key] = ClassSummary(*key, first_failed_at=document.get("failed_at", ""),
                                                    example=document)
        summary.count += 1
        summary.last_failed_at = document.get("failed_at", "")
    return sorted(summaries.values(), key=lambda s: (-s.count, s.stage, s.error_class))


def _failed_at(document: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(document.get("failed_at", "").replace("Z", "+00:00"))
    except ValueError:
        return None


async def redrive(config: KafkaConfig, error_class: str, since: datetime | None = None) -> RedriveResult:
    """Re-send the DLQ records of ``error_class`` (failed at or after ``since``) to their stage's input."""
    targets = {"fetcher": config.topic_urls, "parser": config.topic_pages, "sink": config.topic_products}
    result = RedriveResult()
    producer = kafka.producer(config, client_id="crawlpipe-redrive")
    await kafka.start(producer, config)
    try:
        reader = kafka.consumer(config, group=None, client_id="crawlpipe-redrive")
        await kafka.start(reader, config)
        try:
            async for document in _dlq_records(config):
                if document.get("error_class") != error_class:
                    continue
                failed_at = _failed_at(document)
                if since is not None and (failed_at is None or failed_at < since):
                    continue
                target = targets.get(document.get("stage", ""))
                if target is None:
                    result.skipped += 1
                    continue
                original = await _original(reader, document)
                if original is None:
                    result.missing += 1
                    continue
                key, value, headers = original
                await (await producer.send(target, value, key=key, headers=headers or None))
                result.sent[target] = result.sent.get(target, 0) + 1
        finally:
            await kafka.close(reader, config)
    finally:
        await kafka.close(producer, config)
    return result


async def _original(reader: AIOKafkaConsumer, document: dict) -> tuple[bytes | None, bytes, Headers] | None:
    source = document.get("input", {})
    key = source["key"].encode() if source.get("key") is not None else None
    if document["stage"] != "parser" and source.get("value") is not None and not source.get("value_truncated"):
        value = source["value"].encode()
        if document["stage"] == "fetcher":
            value = _fresh_url_message(value)
        return key, value, []
    if source.get("partition") is None or source.get("offset") is None:
        return None
    record = await read_one(reader, TopicPartition(source["topic"], source["partition"]), source["offset"])
    if record is None:
        return None
    value = record.value or b""
    if document["stage"] == "fetcher":
        value = _fresh_url_message(value)
    return record.key, value, list(record.headers or ())


def _fresh_url_message(value: bytes) -> bytes:
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(message, dict):
        return value
    message.pop("not_before", None)
    return orjson.dumps({**message, "attempt": 1})


async def read_one(reader: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at ``offset`` of ``tp``; None when retention deleted it or it never existed."""
    reader.assign([tp])
    start = (await reader.beginning_offsets([tp]))[tp]
    end = (await reader.end_offsets([tp]))[tp]
    if not start <= offset < end:
        return None
    reader.seek(tp, offset)
    while await reader.position(tp) < end:
        batch = await reader.getmany(tp, timeout_ms=1000)
        for record in batch.get(tp, []):
            if record.offset == offset:
                return record
            if record.offset > offset:
                return None
    return None
