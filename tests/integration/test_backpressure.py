"""A slow parser makes the fetcher pause on lag, and its progress resumes once the parser catches up."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from stages.core import kafka
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually

pytestmark = pytest.mark.kafka


async def test_fetcher_pauses_while_the_parser_lags_and_resumes_after(kafka_config, stages: StageProcesses):
    catalog = Catalog(pages=40)
    # The test is the slow parser: a member of the parser's group that commits only when told to.
    slow_parser = kafka.consumer(kafka_config, kafka_config.topic_pages, group=kafka_config.group("parser"),
                                 client_id="slow-parser")
    await slow_parser.start()
    pages_tps = [TopicPartition(kafka_config.topic_pages, p) for p in range(2)]
    await slow_parser.commit({tp: 0 for tp in pages_tps})
    # Ten pages the slow parser has not read yet: the lag is above the high-water mark from the start.
    producer = kafka.producer(kafka_config, client_id="earlier-fetcher")
    await producer.start()
    for n in range(10):
        await producer.send_and_wait(kafka_config.topic_pages, b"<html></html>", key=f"earlier-{n}".encode())
    await producer.stop()
    try:
        async with await start_shop(catalog) as shop:
            await publish(kafka_config, [f"{url}\n" for url in catalog.listing_urls(shop.base_url)])
            fetcher = stages.start("fetcher", CRAWLPIPE_MAX_IN_FLIGHT="2", CRAWLPIPE_LAG_HIGH_WATER_MESSAGES="6",
                                   CRAWLPIPE_LAG_LOW_WATER_MESSAGES="3", CRAWLPIPE_LAG_CHECK_INTERVAL_SECONDS="0.2")

            async def fetched() -> int:
                ends = await slow_parser.end_offsets(pages_tps)
                return sum(ends.values())

            await eventually(lambda: "fetcher paused: lag" in stages.log("fetcher"), what="the lag pause")
            # Several lag checks later, nothing was fetched: the fetcher holds, Kafka keeps the work.
            await asyncio.sleep(1.0)
            assert await fetched() == 10
            assert shop.stats.requests_total == 0
            assert fetcher.poll() is None

            # The parser catches up: the fetcher resumes and fetches everything.
            await slow_parser.commit(await slow_parser.end_offsets(pages_tps))
            await eventually(lambda: "fetcher resumed from lag" in stages.log("fetcher"), what="the resume")

            async def caught_up() -> bool:
                await slow_parser.commit(await slow_parser.end_offsets(pages_tps))
                return await fetched() == 50

            await eventually(caught_up, what="all 40 pages fetched")
    finally:
        await slow_parser.stop()
