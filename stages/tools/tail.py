"""``crawlpipe tail TOPIC``: print a topic's messages, decoded.

JSON values are printed as one JSON line each; raw pages (binary bodies) as
their headers and body size, never the body.
"""

from __future__ import annotations

import sys
from typing import IO

import orjson

from stages.core import kafka
from stages.core.settings import KafkaConfig


def render(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
           headers: list[tuple[str, bytes]]) -> str:
    where = {"topic": topic, "partition": partition, "offset": offset,
             "key": key.decode(errors="replace") if key else None}
    if headers:
        where["headers"] = {name: raw.decode(errors="replace") for name, raw in headers}
        where["body_bytes"] = len(value or b"")
        return orjson.dumps(where).decode()
    try:
        where["value"] = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        where["value_bytes"] = len(value or b"")
    return orjson.dumps(where).decode()


async def tail(kafka_config: KafkaConfig, topic: str, *, from_beginning: bool, max_messages: int | None,
               idle_seconds: float | None, out: IO[str] = sys.stdout) -> int:
    """Print messages until ``max_messages`` or ``idle_seconds`` without one; returns how many."""
    admin = kafka.admin(kafka_config, client_id="crawlpipe-tail")
    await kafka.start(admin, kafka_config)
    try:
        await kafka.require_topics(admin, [topic])
    finally:
        await admin.close()
    consumer = kafka.consumer(kafka_config, topic, group=None, client_id="crawlpipe-tail",
                              from_beginning=from_beginning)
    await kafka.start(consumer, kafka_config)
    printed = 0
    try:
        while max_messages is None or printed < max_messages:
            timeout_ms = int(idle_seconds * 1000) if idle_seconds else 1000
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch and idle_seconds:
                break
            for records in batch.values():
                for r in records:
                    if max_messages is not None and printed >= max_messages:
                        break
                    print(render(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or ())), file=out)
                    printed += 1
            out.flush()
    finally:
        await kafka.close(consumer, kafka_config)
    return printed
