"""Fair per-host scheduling with bounded deferral (docs/fetcher-scheduling.md), on the real broker.

Each test runs its own fetcher process against the hostile server on 127.0.0.1/127.0.0.2 and reads
everything the fetcher writes: pages, DLQ records and the URL messages it sends back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio

from stages.core.config import KafkaConfig
from tests.conftest import StageProcesses
from tests.fetcher.hostile import HostileServer
from tests.integration.test_fetcher_stage import Traffic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio(loop_scope="module")]

DRIPPING_URLS = 50
FAST_URLS = 20


@pytest_asyncio.fixture(loop_scope="module")
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


@asynccontextmanager
async def fetcher_traffic(config: KafkaConfig, stages: StageProcesses, **env: str) -> AsyncIterator[Traffic]:
    """A fetcher without robots.txt and with ``env``, and the test's side of its topics; it must run to the end."""
    traffic = Traffic(config)
    await traffic.start()
    try:
        stages.start("fetcher", CRAWLPIPE_OBEY_ROBOTS="false", **env)
        yield traffic
        assert stages.processes["fetcher"].poll() is None, stages.log("fetcher")
    finally:
        await traffic.stop()


async def test_fast_urls_of_a_host_pass_its_dripping_ones_and_the_topic_does_not_flood(
        kafka_config: KafkaConfig, stages: StageProcesses, hostile: HostileServer):
    """50 dripping then 20 fast URLs on one host: every fast one within 10 s, fewer than 3 messages per URL."""
    hostile.drip_seconds = 2.0
    async with fetcher_traffic(kafka_config, stages, CRAWLPIPE_SLOW_REQUEST_SECONDS="0.3",
                               CRAWLPIPE_READ_TIMEOUT_SECONDS="2") as traffic:
        dripping = [hostile.url(f"/drip/{n}") for n in range(DRIPPING_URLS)]
        fast = [hostile.url(f"/page/{n}") for n in range(FAST_URLS)]
        await traffic.send_urls(dripping + fast)
        published = time.time()

        def stored(urls: list[str]) -> list:
            wanted = set(urls)
            return [page for page in traffic.pages if page.key in wanted]

        fast_pages = await traffic.wait(lambda: len(stored(fast)) >= FAST_URLS and stored(fast),
                                        what="every fast page", timeout=60)
        slowest = max(page.timestamp_ms for page in fast_pages) / 1000 - published
        assert slowest < 10, f"the last fast URL was fetched {slowest:.1f} s after publishing: the dripping ones held it"

        await traffic.wait(lambda: len(stored(dripping)) >= DRIPPING_URLS, what="every dripping page", timeout=120)
        assert traffic.dead == []
        assert sorted(page.key for page in traffic.pages) == sorted(dripping + fast), "a URL was fetched twice"
        messages = len(traffic.url_messages)  # the test's own 70 and every one the fetcher sent back
        print(f"last fast page {slowest:.2f} s after publishing; {messages} URL messages for "
              f"{len(dripping + fast)} URLs")
        assert messages < 3 * len(dripping + fast), f"{messages} URL messages for {len(dripping + fast)} URLs"
        # A booked turn is a URL's last: none is deferred twice for its busy host.
        assert max(m.document.get("deferrals", 0) for m in traffic.url_messages) <= 1
        per_url = Counter(m.document["url"] for m in traffic.url_messages)
        assert max(per_url.values()) <= 2, per_url.most_common(3)
        # The slow lane kept its bound: each dripping URL was cut at most once, so asked at most twice.
        assert max(hostile.hits[f"/drip/{n}"] for n in range(DRIPPING_URLS)) <= 2


async def test_a_url_deferred_too_often_goes_to_the_dlq_with_its_history(
        kafka_config: KafkaConfig, stages: StageProcesses, hostile: HostileServer):
    """A host that keeps asking for an hour's wait: its URL is deferred --max-deferrals times, then dead-lettered."""
    hostile.busy_seconds = 3600
    async with fetcher_traffic(kafka_config, stages, CRAWLPIPE_MAX_DEFERRALS="3",
                               CRAWLPIPE_MAX_THROTTLE_WAIT_SECONDS="1", CRAWLPIPE_RETRY_BASE_DELAY_SECONDS="0.05",
                               CRAWLPIPE_RETRY_MAX_DELAY_SECONDS="0.2") as traffic:
        url = hostile.url("/busy/1")
        value = await traffic.send_url(url)
        [dead] = await traffic.wait(lambda: traffic.dead_of(url, value), what="the DLQ record", timeout=60)
        assert dead["error_class"] == "deferred_too_often", dead
        assert "deferred 3 times" in dead["error"] and "history" in dead["error"], dead["error"]
        tries = traffic.tries_of(url)
        # The retry after the 503, then three deferrals; never more.
        assert [t.document.get("deferrals", 0) for t in tries] == [0, 0, 1, 2, 3], [t.document for t in tries]
        assert len(tries[-1].document["history"]) == 3
        assert hostile.hits["/busy/1"] == 1, "a deferral sent a request"


async def test_a_throttled_host_next_to_a_fast_one_leaves_the_fast_one_at_full_speed(
        kafka_config: KafkaConfig, stages: StageProcesses, hostile: HostileServer):
    """The fast host's pages come as fast next to a host answering 503 + Retry-After as they do alone."""
    async with fetcher_traffic(kafka_config, stages) as traffic:
        # Warm up first, so that "alone" does not include the fetcher joining its group.
        warm = hostile.url("/page/warm-up")
        await traffic.send_urls([warm])
        await traffic.wait(lambda: traffic.pages_of(warm), what="the warm-up page")
        alone = [hostile.url(f"/page/alone-{n}") for n in range(FAST_URLS)]
        started = time.time()
        await traffic.send_urls(alone)
        await traffic.wait(lambda: {p.key for p in traffic.pages} >= set(alone), what="the fast pages alone")
        alone_seconds = time.time() - started

        hostile.busy_seconds = 30
        await traffic.send_urls([hostile.slow_url(f"/busy/{n}") for n in range(FAST_URLS)])
        await asyncio.wait_for(hostile.busy_arrived.wait(), timeout=30)
        beside = [hostile.url(f"/page/beside-{n}") for n in range(FAST_URLS)]
        started = time.time()
        await traffic.send_urls(beside)
        await traffic.wait(lambda: {p.key for p in traffic.pages} >= set(beside), what="the fast pages beside")
        beside_seconds = time.time() - started
        print(f"{FAST_URLS} fast pages: {alone_seconds:.2f} s alone, {beside_seconds:.2f} s beside a throttled host")
        assert beside_seconds < max(3 * alone_seconds, 2.0), (
            f"{FAST_URLS} fast pages took {beside_seconds:.2f} s beside the throttled host, {alone_seconds:.2f} s alone")
