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
deferred: re-published, same attempt, ``deferrals + 1``, with a ``not_before``
at a turn booked with the host. So is one whose host asks for a longer wait
than ``--max-throttle-wait-seconds``. A URL back from a deferral is never
deferred again for a busy host (it parks past the host's bound, or waits in
the window): its booked turn is its last. The whole model, with its bounds,
is docs/fetcher-scheduling.md.

A URL message's ``purpose`` (discover, sitemap, recrawl) changes what a
fetch yields: ``discovery.py``, docs/discovery.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, ConfigError, CrawlpipeError
from stages.core.messages import decode_url, encode_page_headers, encode_url, host_key, utc_now
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.core.shorten import shorten
from stages.core.stage import Emit, Stage, StageContext
from stages.core.topics import max_message_bytes
from stages.core.urls import BadUrl
from stages.fetcher import discovery, metrics
from stages.fetcher.budget import RepublishBudget
from stages.fetcher.client import FetchedPage, HttpFetcher
from stages.fetcher.errors import (
    DEFERRED_TOO_OFTEN,
    SLOW_REQUEST,
    THROTTLED,
    RetriableFetchError,
)
from stages.fetcher.repeats import RepeatFilter
from stages.fetcher.settings import FetchConfig, ScheduleConfig

log = logging.getLogger("crawlpipe.fetcher")

# Room for the record's key and headers next to the body in one produce request.
RECORD_OVERHEAD_BYTES = 64 * 1024
# What one parked URL holds: its message, its task and the frames it waits in.
PARKED_MESSAGE_BYTES = 8 * 1024


class FetcherStage(Stage):
    name = "fetcher"
    input = "topic_urls"
    outputs = {"page": "topic_pages", "retry": "topic_urls", "discovered": "topic_urls"}
    settings = (FetchConfig, ScheduleConfig)
    # Each fetch awaits a site.
    concurrent = True
    # Mostly waiting on sites: the parser (the pipeline's CPU ceiling) gets a short core first. It builds
    # no parse trees, so it keeps no freed heap for them (--malloc-keep-mb).
    # Its heap churns with up to 200 bodies at once: trimmed every second, bursts leave less of it mapped.
    runner_defaults = {"nice": 10, "malloc_keep_mb": 0, "memory_trim_interval_seconds": 1.0}

    def __init__(self, kafka_config: KafkaConfig, fetch: FetchConfig, schedule: ScheduleConfig) -> None:
        self._kafka = kafka_config
        self._fetch_config = fetch
        self._schedule = schedule
        self._http: HttpFetcher | None = None
        self._context: StageContext | None = None
        self._parked_per_host: dict[str, int] = {}
        self._republishes = RepublishBudget(schedule.max_republishes_per_host_per_minute)
        self._repeats = (RepeatFilter(schedule.repeats_capacity, schedule.repeats_error_rate)
                         if schedule.skip_repeated_links else None)

    def memory_bytes(self, runner: RunnerConfig) -> int:
        # Bodies being streamed in, before they are charged to the window: every
        # fetch up to the large-body threshold, the few large ones up to the cap
        # (twice: the chunks, then the joined body).
        c = self._fetch_config
        streams = min(runner.max_in_flight, c.max_connections)
        parked = self._schedule.max_parked_messages * PARKED_MESSAGE_BYTES
        repeats = self._repeats.size_bytes if self._repeats else 0
        bodies = streams * c.large_body_threshold_bytes + c.max_large_bodies * 2 * c.max_decompressed_bytes
        return bodies + parked + repeats

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

    def partitions_assigned(self) -> None:
        # Politeness across replicas: the hosts of these partitions may have been fetched from elsewhere just now.
        if self._http is not None:
            self._http.throttle.take_over()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.__aexit__(None, None, None)
            self._http = None

    async def handle(self, envelope: Envelope) -> list[Emit]:
        """Fetch the URL until it is a page, goes back to Kafka (retry or deferral), or fails for good."""
        assert self._http is not None
        message = decode_url(envelope)
        # A recrawl is asked for on purpose, however often its URL was followed before.
        if self._repeats and discovery.purpose(message) != discovery.RECRAWL and self._repeats.is_repeat(message):
            metrics.repeated_link()
            return []
        while True:
            await self._wait_until(message.get("not_before", 0))
            started = time.perf_counter()
            waiting = partial(self._wait_for_host, returning=message.get("deferrals", 0) > 0,
                              slow=message.get("slow", False))
            try:
                if discovery.purpose(message) == discovery.DISCOVER:
                    return self._discovered(message, await self._http.sitemaps(message["url"]))
                page = await self._http.fetch(message["url"], waiting=waiting, slow=message.get("slow", False),
                                              any_type=discovery.purpose(message) == discovery.SITEMAP)
            except CrawlpipeError as error:
                status = getattr(error, "status", None)
                if status is not None and discovery.is_gone(message, status):
                    metrics.fetched(time.perf_counter() - started, status)
                    return [self._page(message, _gone_page(message["url"], status))]
                if error.error_class == SLOW_REQUEST:
                    # Learnt that this URL is slow: it waits for its host's slow lane, here, not in Kafka.
                    message = {**message, "slow": True}
                    continue
                metrics.fetched(time.perf_counter() - started, status)
                message = self._next_try(message, error)
                if self._republishes.take(host_key(message["url"]).decode()):
                    return [self._send_back(message)]
                continue  # the host's re-publish budget is spent: its URL waits here instead
            metrics.fetched(time.perf_counter() - started, page.status)
            return [self._page(message, page)]

    async def _wait_until(self, not_before: float) -> None:
        """Wait, parked if parking has room, until ``not_before`` (at most ``--retry-max-delay-seconds``)."""
        wait = not_before - time.time()
        if wait > 0:
            assert self._context is not None
            with self._context.window.lent(self._schedule.max_parked_messages):
                await asyncio.sleep(min(wait, self._schedule.retry_max_delay_seconds))

    def _next_try(self, message: dict[str, Any], error: CrawlpipeError) -> dict[str, Any]:
        """The message that tries again after ``error``: a deferral or the next attempt; raise if it may not."""
        if error.error_class == THROTTLED:
            return self._deferral(message, error)
        if not (error.retriable and message["attempt"] < self._schedule.max_attempts):
            error.attempt = message["attempt"]
            raise error
        backoff = self._schedule.retry_base_delay_seconds * 2 ** (message["attempt"] - 1)
        delay = random.uniform(backoff / 2, backoff)
        server_asked = getattr(error, "retry_after_seconds", None)
        if server_asked:
            delay = max(delay, server_asked)
        delay = min(delay, self._schedule.retry_max_delay_seconds)
        return {**message, "attempt": message["attempt"] + 1, "not_before": time.time() + delay}

    def _deferral(self, message: dict[str, Any], error: CrawlpipeError) -> dict[str, Any]:
        """``message`` deferred to the turn the error booked, with its history; past the bound, the DLQ."""
        now = time.time()
        wait = getattr(error, "retry_after_seconds", None) or 0.0
        history = [*message.get("history", ()),
                   {"at": round(now, 3), "wait_seconds": round(wait, 3), "why": shorten(str(error), 200)}]
        deferrals = message.get("deferrals", 0) + 1
        if deferrals > self._schedule.max_deferrals:
            told = "; ".join(f"{entry['wait_seconds']:.1f}s: {entry['why']}" for entry in history)
            refused = BadMessage(f"{shorten(message['url'])}: deferred {deferrals - 1} times "
                             f"(--max-deferrals {self._schedule.max_deferrals}) and its host is still busy; "
                                 f"history: {told}", error_class=DEFERRED_TOO_OFTEN)
            refused.attempt = message["attempt"]
            raise refused
        return {**message, "deferrals": deferrals, "history": history, "not_before": now + wait}

    @contextmanager
    def _parked(self, host: str, *, returning: bool) -> Iterator[bool]:
        """Lend the message's window slot back while it waits for busy ``host``, if parking has room.

        A URL back from a deferral may park past the host's bound (not past the overall one).
        """
        assert self._context is not None
        parked = self._parked_per_host.get(host, 0)
        if parked >= self._schedule.max_parked_per_host and not returning:
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
    async def _wait_for_host(self, host: str, *, returning: bool, slow: bool) -> AsyncIterator[None]:
        """Park while ``host`` is busy; with parking full, wait a little in the window, then give the turn up.

        A URL back from a deferral (``returning``) never gives its turn up: it waits for it in the window.
        """
        assert self._http is not None
        with self._parked(host, returning=returning) as parked:
            if parked:
                yield
                return
        if returning:
            yield
            return
        try:
            async with asyncio.timeout(self._schedule.max_host_wait_seconds):
                yield
        except TimeoutError:
            raise RetriableFetchError(
                f"{host}: busy for longer than --max-host-wait-seconds with parking full",
                error_class=THROTTLED, retry_after_seconds=self._http.booked_turn(host, slow=slow),
            ) from None

    def _page(self, message: dict[str, Any], page: FetchedPage) -> Emit:
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
        for carried in ("purpose", "lastmod"):
            if carried in message:
                meta[carried] = message[carried]
        return Emit("page", page.body, key=message["url"].encode(), headers=encode_page_headers(meta))

    def _discovered(self, seed: dict[str, Any], sitemaps: list[str]) -> list[Emit]:
        """The seed's sitemaps (and the seed as a page) to the URL topic; a Sitemap line that is no URL is skipped."""
        emits = []
        for message in discovery.discovered(seed, sitemaps):
            try:
                key, value = encode_url(message)
            except BadUrl as error:
                log.warning("%s: a Sitemap line of its robots.txt is skipped: %s", shorten(seed["url"]), error)
                continue
            emits.append(Emit("discovered", value, key=key))
            if discovery.purpose(message) == discovery.SITEMAP:
                metrics.sitemaps_discovered(1)
        return emits

    def _send_back(self, message: dict[str, Any]) -> Emit:
        """``message`` back to the URL topic, to be fetched no earlier than its ``not_before``."""
        key, value = encode_url(message)
        return Emit("retry", value, key=key)


def _gone_page(url: str, status: int) -> FetchedPage:
    """A recrawl's 404/410 as a page: that status, an empty body (``discovery.py``)."""
    return FetchedPage(url=url, final_url=url, status=status, content_type="", charset=None, body=b"",
                       redirects=(), timings={})
