"""``crawlpipe publish``: URL lines in, URL messages out.

Lines are plain URLs or JSON objects matching ``schemas/url.schema.json``,
in UTF-8. A bad line is reported with its line number, and sent to the DLQ,
and the run goes on: one typo must not stop a million-URL seed file. A line
that is not UTF-8 is ``bad_encoding``, never repaired: a replaced byte would
make a URL nobody gave. URLs are held to the one URL contract
(``stages/core/urls.py``) that the fetcher and the parser use too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import IO

import orjson

from stages.core import kafka
from stages.core.config import KafkaConfig
from stages.core.errors import BadMessage, CrawlpipeError
from stages.core.messages import encode_url
from stages.core.output import Output, Record
from stages.core.shorten import shorten
from stages.core.urls import normalize_url

log = logging.getLogger("crawlpipe.publish")

BATCH = 1000


@dataclass
class PublishResult:
    published: int = 0
    rejected: int = 0


def parse_line(line: bytes | str, *, on_userinfo: Callable[[str], None] | None = None) -> dict | None:
    """The URL message for one input line; None for blank lines and comments.

    ``on_userinfo(url)`` is called when credentials were stripped from the line's URL.
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadMessage(f"not UTF-8 at byte {exc.start}: {exc.reason}", error_class="bad_encoding") from exc
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
    if isinstance(message, dict) and isinstance(message.get("url"), str):
        message["url"] = normalize_url(message["url"], on_userinfo=on_userinfo)
    return message


async def publish(kafka_config: KafkaConfig, lines: Iterable[bytes | str], *, errors: IO[str] = sys.stderr,
                  progress=None) -> PublishResult:
    producer = kafka.producer(kafka_config, client_id="crawlpipe-publish")
    await kafka.start(producer, kafka_config)
    output = Output(producer, stage="publish", dlq_topic=kafka_config.topic_dlq,
                    linger_seconds=kafka_config.producer_linger_ms / 1000)
    result = PublishResult()
    pending: list[Record] = []
    try:
        for number, line in enumerate(lines, start=1):
            try:
                message = parse_line(line, on_userinfo=partial(_warn_userinfo, errors, number))
                if message is None:
                    continue
                key, value = encode_url(message)
            except CrawlpipeError as error:
                result.rejected += 1
                print(f"line {number}: {error.error_class}: {shorten(str(error), 300)}", file=errors)
                raw = line if isinstance(line, bytes) else line.encode()
                await output.dead_letter(error, topic=kafka_config.topic_urls, value=raw.rstrip(b"\r\n"),
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
        await producer.stop()
    return result


def _warn_userinfo(errors: IO[str], number: int, url: str) -> None:
    print(f"line {number}: warning: credentials stripped from the URL, published as {shorten(url)}", file=errors)
