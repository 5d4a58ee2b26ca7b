"""The fetcher stage: consumes ``crawl.urls``, produces ``crawl.pages`` (and ``crawl.dlq``).

Step 2 of the data flow in ``stages/__init__.py``. One ``HttpFetcher`` (one
aiohttp session) per process does the HTTP; this module turns URL messages
into page records, schedules retries and reports failures.

Retries are re-published to the URL topic with ``attempt + 1`` and a
``not_before`` time, so a waiting retry survives a restart and holds no
memory while it waits in Kafka; the fetcher that reads it early waits out the
remainder (at most ``--retry-max-delay-seconds``).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson

from stages.core import metrics
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.envelope import Envelope
from stages.core.errors import ConfigError, CrawlpipeError
from stages.core.lag import Downstream
from stages.core.messages import decode_url, encode_page_headers, encode_url, utc_now
from stages.core.output import Record
from stages.core.stage import Stage, StageContext
from stages.core.topics import max_message_bytes
from stages.fetcher.client import FetchedPage, HttpFetcher
from stages.fetcher.config import FetchConfig
from stages.fetcher.settings import RetryConfig

# Room for the record's key and headers next to the body in one produce request.
RECORD_OVERHEAD_BYTES = 64 * 1024


class FetcherStage(Stage):
    name = "fetcher"
    # A URL message of ~200 bytes becomes a page of up to the body cap; the
    # window is charged with each page's real size while it awaits its ack.
    output_ratio = 0.0

    def __init__(self, kafka_config: KafkaConfig, fetch: FetchConfig, retry: RetryConfig) -> None:
        self._kafka = kafka_config
        self._fetch_config = fetch
        self._retry = retry
        self._http: HttpFetcher | None = None
        self._context: StageContext | None = None

    @property
    def input_topic(self) -> str:
        return self._kafka.topic_urls

    @property
    def downstream(self) -> Downstream:
        return Downstream(self._kafka.topic_pages, self._kafka.group("parser"))

    def extra_memory_bytes(self, runner: RunnerConfig) -> int:
        # Bodies being streamed in, before they are charged to the window: every
        # fetch up to the large-body threshold, the few large ones up to the cap
        # (twice: the chunks, then the joined body).
        c = self._fetch_config
        streams = min(runner.max_in_flight, c.max_connections)
        return streams * c.large_body_threshold_bytes + c.max_large_bodies * 2 * c.max_decompressed_bytes

    async def start(self, context: StageContext) -> None:
        await self._check_page_fits()
        self._context = context
        self._http = HttpFetcher(self._fetch_config)
        await self._http.__aenter__()

    async def _check_page_fits(self) -> None:
        largest = self._fetch_config.max_decompressed_bytes + RECORD_OVERHEAD_BYTES
        if largest > self._kafka.max_request_bytes:
            raise ConfigError(
                f"--max-decompressed-bytes ({self._fetch_config.max_decompressed_bytes}) does not fit the producer's "
                f"--max-request-bytes ({self._kafka.max_request_bytes}): raise --max-request-bytes to at least "
                f"{largest} or lower the body cap"
            )
        topic_limit = await max_message_bytes(self._kafka, self._kafka.topic_pages)
        if topic_limit is not None and largest > topic_limit:
            raise ConfigError(
                f"--max-decompressed-bytes ({self._fetch_config.max_decompressed_bytes}) does not fit topic "
                f"{self._kafka.topic_pages}'s max.message.bytes ({topic_limit}): raise the topic's "
                f"max.message.bytes to at least {largest} (crawlpipe topics create --pages-max-message-bytes) "
                f"or lower the body cap"
            )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.__aexit__(None, None, None)
            self._http = None

    def attempt(self, envelope: Envelope) -> int:
        try:
            return int(orjson.loads(envelope.value).get("attempt", 1))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return 1

    async def handle(self, envelope: Envelope) -> None:
        assert self._http is not None and self._context is not None
        message = decode_url(envelope)
        wait = message.get("not_before", 0) - time.time()
        if wait > 0:
            await asyncio.sleep(min(wait, self._retry.retry_max_delay_seconds))
        started = time.perf_counter()
        try:
            page = await self._http.fetch(message["url"])
        except CrawlpipeError as error:
            metrics.fetched(time.perf_counter() - started, getattr(error, "status", None))
            if error.retriable and message["attempt"] < self._retry.max_attempts:
                await self._schedule_retry(message, error)
                return
            raise
        metrics.fetched(time.perf_counter() - started, page.status)
        await self._publish(message, page)

    async def _publish(self, message: dict[str, Any], page: FetchedPage) -> None:
        assert self._context is not None
        meta: dict[str, Any] = {
            "url": message["url"],
            "final_url": page.final_url,
            "status": page.status,
            "content_type": page.content_type,
            "fetched_at": utc_now(),
            "timings": page.timings,
            "url_message": message,
        }
        if page.charset:
            meta["charset"] = page.charset
        size = len(page.body)
        self._context.window.charge(size)
        try:
            await self._context.output.send(Record(
                self._kafka.topic_pages, page.body, key=message["url"].encode(),
                headers=encode_page_headers(meta),
            ))
        finally:
            self._context.window.refund(size)

    async def _schedule_retry(self, message: dict[str, Any], error: CrawlpipeError) -> None:
        assert self._context is not None
        backoff = self._retry.retry_base_delay_seconds * 2 ** (message["attempt"] - 1)
        delay = random.uniform(backoff / 2, backoff)
        server_asked = getattr(error, "retry_after_seconds", None)
        if server_asked:
            delay = max(delay, server_asked)
        delay = min(delay, self._retry.retry_max_delay_seconds)
        retry = {**message, "attempt": message["attempt"] + 1, "not_before": time.time() + delay}
        key, value = encode_url(retry)
        await self._context.output.send(Record(self._kafka.topic_urls, value, key=key))
