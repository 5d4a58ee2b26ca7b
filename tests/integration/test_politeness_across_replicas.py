"""Four fetcher replicas and fifty hosts: each host's limits hold, measured by the host, while replicas come and go.

Every host is a demo shop on its own loopback address (127.0.0.10-59) that
takes a while to answer, as a real site does, and records the most requests
it had at once and the shortest time between two request starts (allowing
for its own stalls on a busy machine: ``stages/demoshop/stalls.py``). URL
messages are keyed by host, so one host's URLs are fetched by whichever
replica owns its partition; a rebalance hands a host from one replica to
another mid-crawl, and the limits must hold across that handover too.
"""

from __future__ import annotations

import signal
from contextlib import AsyncExitStack

import pytest

from stages.core.config import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import RunningShop, start_shop
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually, fresh_kafka_config
from tests.integration.replicas import (
    PARTITIONS,
    end_offsets_total,
    read_topic,
    settled,
    start_replicas,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

HOSTS = [f"127.0.0.{n}" for n in range(10, 60)]
PAGES_PER_HOST = 8
MAX_CONNECTIONS_PER_HOST = 2
MIN_DELAY_SECONDS = 0.5
# A gap is timed where the fetcher starts a request and measured where the server receives it: a new
# connection's set-up, or the fetcher's own loop being busy, delays one request's trip more than another's.
GAP_JITTER_SECONDS = 0.1
FETCHER_ENV = {
    "CRAWLPIPE_FOLLOW_LINKS": "false",
    "CRAWLPIPE_MAX_CONNECTIONS_PER_HOST": str(MAX_CONNECTIONS_PER_HOST),
    "CRAWLPIPE_MIN_DELAY_PER_HOST_SECONDS": str(MIN_DELAY_SECONDS),
    # A fetcher paces the moment a request starts, not the moment its bytes leave: a fetcher kept off the CPU
    # between the two sends paced requests together. Its default niceness (10) invites that on a busy machine.
    "CRAWLPIPE_NICE": "0",
}


@pytest.fixture
async def kafka_config(kafka_bootstrap: str) -> KafkaConfig:
    return await fresh_kafka_config(kafka_bootstrap, PARTITIONS)


def served(shops: list[RunningShop]) -> int:
    return sum(shop.stats.requests_total for shop in shops)


async def test_host_limits_hold_across_four_fetchers_joining_and_leaving(kafka_config, stages: StageProcesses):
    catalog = Catalog(pages=PAGES_PER_HOST)
    async with AsyncExitStack() as stack:
        # An answer takes longer than two delays: without the per-host limit, three requests would overlap.
        shops = [await stack.enter_async_context(await start_shop(catalog, host, hold_seconds=1.2))
                 for host in HOSTS]
        urls = [f"{url}\n" for shop in shops for url in catalog.listing_urls(shop.base_url)]
        fetchers = start_replicas(stages, "fetcher", 2, **FETCHER_ENV)
        await settled(stages, fetchers, kafka_config.topic_urls)
        await publish(kafka_config, urls)

        await eventually(lambda: served(shops) >= len(urls) // 4, what="a quarter of the pages served")
        fetchers += start_replicas(stages, "fetcher", 2, first=3, **FETCHER_ENV)
        await settled(stages, fetchers, kafka_config.topic_urls)

        await eventually(lambda: served(shops) >= len(urls) // 2, what="half of the pages served")
        assert stages.stop("fetcher-1", signal.SIGTERM) == 0
        await settled(stages, fetchers[1:], kafka_config.topic_urls)

        async def every_page_published() -> bool:
            return await end_offsets_total(kafka_config, kafka_config.topic_pages) >= len(urls)
        await eventually(every_page_published, timeout=120, what=f"{len(urls)} pages published")

        fetched = {record.key.decode() for record in await read_topic(kafka_config, kafka_config.topic_pages)}
        assert fetched == {url.strip() for url in urls}
        limits = {shop.base_url: (shop.stats.peak_in_flight, round(shop.stats.min_gap_seconds, 3))
                  for shop in shops}
        print(f"politeness: most at once {max(p for p, _ in limits.values())}, "
              f"shortest gap {min(g for _, g in limits.values()):.3f} s over {len(shops)} hosts")
        too_many = {host: peak for host, (peak, _) in limits.items() if peak > MAX_CONNECTIONS_PER_HOST}
        too_close = {host: gap for host, (_, gap) in limits.items() if gap < MIN_DELAY_SECONDS - GAP_JITTER_SECONDS}
        assert not too_many and not too_close
        # The limits were reached, so the check above had something to hold back.
        assert max(peak for peak, _ in limits.values()) == MAX_CONNECTIONS_PER_HOST
