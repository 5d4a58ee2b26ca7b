"""The fetcher stage: consumes ``crawl.urls``, produces ``crawl.pages`` (and ``crawl.dlq``).

Step 2 of the data flow in ``stages/__init__.py``. One ``HttpFetcher`` (one
aiohttp session) per process does the HTTP; this module turns URL messages
into page records, schedules retries and reports failures.

Retries are re-published to the URL topic with ``attempt + 1`` and a
``not_before`` time, so a waiting retry survives a restart and holds no
memory while it waits in Kafka; the fetcher that reads it early waits out the
remainder (at most ``--retry-max-delay-seconds``).

Waiting URLs park: they lend their window slot back while they wait, so a
slow host cannot hold the window the other hosts need. A retry read before
its time parks; so does a URL whose host is busy (all its slots taken, or
paced by back-off, Retry-After or Crawl-delay), up to a bound per host.
Parking is bounded overall too. A URL that finds its host busy and cannot
park waits in the window for at most ``--max-host-wait-seconds`` and is then
deferred: re-published, same attempt, with a ``not_before`` at a turn booked
with the host's throttle. So is one whose host asks for a longer wait than
``--max-throttle-wait-seconds``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import orjson

from stages.core import metrics
from stages.core.envelope import Envelope
from stages.core.errors import ConfigError, CrawlpipeError
from stages.core.lag import Downstream
from stages.core.messages import decode_url, encode_page_headers, encode_url, utc_now
from stages.core.output import Record
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.core.stage import Stage, StageContext
from stages.core.topics import max_message_bytes
from stages.fetcher.client import FetchedPage, HttpFetcher
from stages.fetcher.errors import THROTTLED, RetriableFetchError
from stages.fetcher.settings import FetchConfig, ScheduleConfig

# Room for the record's key and headers next to the body in one produce request.
RECORD_OVERHEAD_BYTES = 64 * 1024
# What one parked URL holds: its message, its task and the frames it waits in.
PARKED_MESSAGE_BYTES = 8 * 1024


class FetcherStage(Stage):
    name = "fetcher"
    # A URL message of ~200 bytes becomes a page of up to the body cap; the
    # window is charged with each page's real size while it awaits its ack.
    output_ratio = 0.0
    # Mostly waiting on sites: the parser (the pipeline's CPU ceiling) gets a short core first.
    runner_defaults = {"nice": 10}

    def __init__(self, kafka_config: KafkaConfig, fetch: FetchConfig, schedule: ScheduleConfig) -> None:
        self._kafka = kafka_config
        self._fetch_config = fetch
        self._schedule = schedule
        self._http: HttpFetcher | None = None
        self._context: StageContext | None = None
        self._parked_per_host: dict[str, int] = {}

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
        parked = self._schedule.max_parked_messages * PARKED_MESSAGE_BYTES
        return streams * c.large_body_threshold_bytes + c.max_large_bodies * 2 * c.max_decompressed_bytes + parked

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
        assert self._http is not None
        message = decode_url(envelope)
        wait = message.get("not_before", 0) - time.time()
        if wait > 0:
            assert self._context is not None
            with self._context.window.lent(self._schedule.max_parked_messages):
                await asyncio.sleep(min(wait, self._schedule.retry_max_delay_seconds))
        started = time.perf_counter()
        try:
            page = await self._http.fetch(message["url"], waiting=self._wait_for_host)
        except CrawlpipeError as error:
            metrics.fetched(time.perf_counter() - started, getattr(error, "status", None))
            if error.error_class == THROTTLED:
                await self._requeue(message, error.retry_after_seconds or 0.0)
                return
            if error.retriable and message["attempt"] < self._schedule.max_attempts:
                await self._schedule_retry(message, error)
                return
            raise
        metrics.fetched(time.perf_counter() - started, page.status)
        await self._publish(message, page)

    @contextmanager
    def _parked(self, host: str) -> Iterator[bool]:
        """Lend the message's window slot back while it waits for busy ``host``, if parking has room."""
        assert self._context is not None
        parked = self._parked_per_host.get(host, 0)
        if parked >= self._schedule.max_parked_per_host:
            yield False
            return
        with self._context.window.lent(self._schedule.max_parked_messages) as lent:
            if not lent:
                yield False
                return
            self._parked_per_host[host] = parked + 1
            try:
                yield True
            finally:
                if (left := self._parked_per_host[host] - 1) > 0:
                    self._parked_per_host[host] = left
                else:
                    del self._parked_per_host[host]

    @asynccontextmanager
    async def _wait_for_host(self, host: str) -> AsyncIterator[None]:
        """Park while ``host`` is busy; with parking full, wait a little in the window, then give the turn up."""
        assert self._http is not None
        with self._parked(host) as parked:
            if parked:
                yield
                return
        try:
            async with asyncio.timeout(self._schedule.max_host_wait_seconds):
                yield
        except TimeoutError:
            raise RetriableFetchError(
                f"{host}: busy for longer than --max-host-wait-seconds with parking full",
                error_class=THROTTLED, retry_after_seconds=self._http.throttle.reserve(host),
            ) from None

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
        backoff = self._schedule.retry_base_delay_seconds * 2 ** (message["attempt"] - 1)
        delay = random.uniform(backoff / 2, backoff)
        server_asked = getattr(error, "retry_after_seconds", None)
        if server_asked:
            delay = max(delay, server_asked)
        delay = min(delay, self._schedule.retry_max_delay_seconds)
        await self._requeue({**message, "attempt": message["attempt"] + 1}, delay)

    async def _requeue(self, message: dict[str, Any], delay_seconds: float) -> None:
        """Send ``message`` back to the URL topic, to be fetched no earlier than ``delay_seconds`` from now."""
        assert self._context is not None
        key, value = encode_url({**message, "not_before": time.time() + delay_seconds})
        await self._context.output.send(Record(self._kafka.topic_urls, value, key=key))
