"""Several replicas per stage on the real broker: rebalances lose and duplicate nothing, politeness holds.

The topics here have four partitions, so two replicas of a stage each own
two. URL messages are keyed by host, so the demo shop's URLs all land in one
partition of the URL topic and only the fetcher owning it fetches from the
shop; pages (keyed by URL) and products (keyed by id) spread over every
partition, so every parser and sink replica gets work.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from stages.core.config import KafkaConfig
from stages.core.messages import host_key
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually, fresh_kafka_config, sqlite_rows
from tests.integration.replicas import (
    PARTITIONS,
    assignment,
    consumed,
    end_offsets_total,
    partition_of,
    settled,
    start_replicas,
)

pytestmark = pytest.mark.kafka

NO_LINKS = {"CRAWLPIPE_FOLLOW_LINKS": "false"}
# Few URLs in flight per fetcher, so a kill or a join lands while work is still going on.
SLOW_FETCHER = {**NO_LINKS, "CRAWLPIPE_MAX_IN_FLIGHT": "4"}


@pytest.fixture
async def kafka_config(kafka_bootstrap: str) -> KafkaConfig:
    """Fresh topics and groups for one test, with four partitions each (overrides the shared fixture)."""
    return await fresh_kafka_config(kafka_bootstrap, PARTITIONS)


def product_rows(db: Path) -> list[tuple]:
    return sqlite_rows(db, "SELECT id, url, price FROM products")


async def two_of_each(stages: StageProcesses, kafka_config: KafkaConfig, fetcher_env: dict[str, str]):
    """Two replicas of every stage, each owning its partitions; returns their names and the fetchers' partitions."""
    fetchers = start_replicas(stages, "fetcher", 2, **fetcher_env)
    parsers = start_replicas(stages, "parser", 2, **NO_LINKS)
    sinks = start_replicas(stages, "sink", 2)
    owners = await settled(stages, fetchers, kafka_config.topic_urls)
    await settled(stages, parsers, kafka_config.topic_pages)
    await settled(stages, sinks, kafka_config.topic_products)
    return fetchers, parsers, sinks, owners


async def test_two_replicas_of_each_stage_store_every_product_once(kafka_config, stages: StageProcesses,
                                                                   tmp_path):
    catalog = Catalog(pages=80)
    db = tmp_path / "products.db"
    fetchers, parsers, sinks, owners = await two_of_each(stages, kafka_config, NO_LINKS)

    async with await start_shop(catalog) as shop:
        expected = {p["url"]: p["price"] for p in catalog.expected_products(shop.base_url)}
        await publish(kafka_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])
        await eventually(lambda: len(product_rows(db)) >= len(expected), timeout=90,
                         what=f"{len(expected)} products")
    rows = product_rows(db)
    assert len(rows) == len({row[0] for row in rows}) == len(expected)
    assert {url: price for _id, url, price in rows} == expected

    for name in fetchers + parsers + sinks:
        assert stages.stop(name) == 0, stages.log(name)
    # Every parser and sink replica did part of the work; the shop's one host
    # was served by exactly the fetcher owning its partition.
    assert all(consumed(stages, name) > 0 for name in parsers + sinks)
    shop_partition = partition_of(host_key(shop.base_url))
    for name in fetchers:
        assert (consumed(stages, name) > 0) == (shop_partition in owners[name]), stages.log(name)


async def test_kill_9_of_a_parser_and_a_fetcher_mid_run_loses_and_duplicates_nothing(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=150)
    db = tmp_path / "products.db"
    fetchers, parsers, _sinks, owners = await two_of_each(stages, kafka_config, SLOW_FETCHER)

    async with await start_shop(catalog) as shop:
        expected = {p["url"]: p["price"] for p in catalog.expected_products(shop.base_url)}
        shop_partition = partition_of(host_key(shop.base_url))
        busy = next(name for name in fetchers if shop_partition in owners[name])
        survivor = next(name for name in fetchers if name != busy)
        await publish(kafka_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])

        await eventually(lambda: end_offsets_total(kafka_config, kafka_config.topic_pages), what="first pages")
        stages.stop(busy, signal.SIGKILL)
        await eventually(lambda: end_offsets_total(kafka_config, kafka_config.topic_products),
                         what="first products")
        stages.stop(parsers[0], signal.SIGKILL)

        await eventually(lambda: len(product_rows(db)) >= len(expected), timeout=100,
                         what=f"{len(expected)} products")
        rows = product_rows(db)
        assert len(rows) == len({row[0] for row in rows}) == len(expected)
        assert {url: price for _id, url, price in rows} == expected
        # The shop's pages after the kill came through the surviving fetcher,
        # which took over the dead one's partitions.
        assert shop_partition in assignment(stages, survivor, kafka_config.topic_urls)
    assert stages.stop(survivor) == 0, stages.log(survivor)
    assert consumed(stages, survivor) > 0


async def test_a_replica_added_mid_run_takes_partitions_and_the_work_completes(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=120)
    db = tmp_path / "products.db"
    for stage in ("fetcher", "parser", "sink"):
        stages.start(stage, name=f"{stage}-1", **SLOW_FETCHER)
    async with await start_shop(catalog) as shop:
        expected = {p["url"]: p["price"] for p in catalog.expected_products(shop.base_url)}
        urls = [f"{u}\n" for u in catalog.listing_urls(shop.base_url)]
        await publish(kafka_config, urls[: len(urls) // 2])
        await eventually(lambda: product_rows(db), what="first rows")

        stages.start("parser", name="parser-2", **NO_LINKS)
        owned = await settled(stages, ["parser-1", "parser-2"], kafka_config.topic_pages)
        # The second half goes out after the rebalance, so pages keyed into
        # parser-2's partitions can only be parsed by parser-2.
        await publish(kafka_config, urls[len(urls) // 2:])

        await eventually(lambda: len(product_rows(db)) >= len(expected), timeout=90,
                         what=f"{len(expected)} products")
        rows = product_rows(db)
        assert len(rows) == len({row[0] for row in rows}) == len(expected)
        assert {url: price for _id, url, price in rows} == expected
    assert len(owned["parser-2"]) == PARTITIONS // 2
    assert stages.stop("parser-2") == 0, stages.log("parser-2")
    assert consumed(stages, "parser-2") > 0


@dataclass
class SlowHost:
    """A host that takes a while to answer and records how many requests it serves at once."""

    hold_seconds: float
    current: int = 0
    peak: int = 0
    served: int = 0

    async def page(self, request: web.Request) -> web.Response:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            # The slowness is the behaviour under test, not a wait for an event.
            await asyncio.sleep(self.hold_seconds)
        finally:
            self.current -= 1
        self.served += 1
        return web.Response(text=f"<html><body>{request.match_info['n']}</body></html>",
                            content_type="text/html")


async def test_two_fetchers_never_exceed_a_slow_hosts_connection_limit(kafka_config, stages: StageProcesses):
    host = "127.0.0.2"
    slow = SlowHost(hold_seconds=0.3)
    app = web.Application()
    app.router.add_get("/slow/{n}.html", slow.page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        fetchers = start_replicas(stages, "fetcher", 2, CRAWLPIPE_MAX_CONNECTIONS_PER_HOST="2")
        await settled(stages, fetchers, kafka_config.topic_urls)
        urls = [f"http://{host}:{port}/slow/{n}.html\n" for n in range(24)]
        await publish(kafka_config, urls)

        async def all_fetched() -> bool:
            return slow.served >= len(urls) and \
                await end_offsets_total(kafka_config, kafka_config.topic_pages) >= len(urls)

        await eventually(all_fetched, timeout=60, what="every slow page fetched and published")
        assert all(stages.processes[name].poll() is None for name in fetchers)
    finally:
        await runner.cleanup()
    assert slow.peak == 2
