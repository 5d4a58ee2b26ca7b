"""``crawlpipe publish``: URL lines in, URL messages out.

Lines are plain URLs or JSON objects matching ``schemas/url.schema.json``.
A bad line is reported with its line number, and sent to the DLQ, and the
run goes on: one typo must not stop a million-URL seed file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import orjson
from yarl import URL

from stages.core import kafka
from stages.core.codecs import TopicCodecs
from stages.core.errors import BadMessage, CrawlpipeError
from stages.core.messages import encode_url
from stages.core.output import Output, Record
from stages.core.settings import KafkaConfig

log = logging.getLogger("crawlpipe.publish")

BATCH = 1000


@dataclass
class PublishResult:
    published: int = 0
    rejected: int = 0


def parse_line(line: str) -> dict | None:
    """The URL message for one input line; None for blank lines and comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadMessage(f"not JSON: {exc}", error_class="bad_json") from exc
        if isinstance(message, dict):
            message.setdefault("depth", 0)
            message.setdefault("attempt", 1)
    else:
        message = {"url": text, "depth": 0, "attempt": 1}
    url = message.get("url") if isinstance(message, dict) else None
    if isinstance(url, str):
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise BadMessage(f"not an absolute http(s) URL: {url[:200]!r}", error_class="bad_url")
    return message


async def publish(kafka_config: KafkaConfig, lines: Iterable[str], *, errors: IO[str] = sys.stderr,
                  progress=None) -> PublishResult:
    producer = kafka.producer(kafka_config, client_id="crawlpipe-publish")
    await kafka.start(producer, kafka_config)
    output = Output(producer, stage="publish", dlq_topic=kafka_config.topic_dlq,
                    linger_seconds=kafka_config.producer_linger_ms / 1000, codecs=TopicCodecs.of(kafka_config))
    result = PublishResult()
    pending: list[Record] = []
    try:
        for number, line in enumerate(lines, start=1):
            try:
                message = parse_line(line)
                if message is None:
                    continue
                key, value = encode_url(message)
            except CrawlpipeError as error:
                result.rejected += 1
                print(f"line {number}: {error.error_class}: {error}", file=errors)
                await output.dead_letter(error, topic=kafka_config.topic_urls, value=line.rstrip("\n").encode(),
                                         line=number)
                continue
            pending.append(Record(kafka_config.topic_urls, value, key=key))
            if len(pending) >= BATCH:
                await output.send_all(pending)
                result.published += len(pending)
                pending = []
                if progress:
                    progress(result.published)
        await output.send_all(pending)
        result.published += len(pending)
        if progress:
            progress(result.published)
    finally:
        await kafka.close(producer, kafka_config)
    return result
