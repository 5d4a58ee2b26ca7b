"""kill -9 of each stage mid-run, then a restart: every product arrives, exactly one row each."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from stages.core import kafka
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually, sqlite_rows

pytestmark = pytest.mark.kafka


def product_rows(db: Path) -> list[tuple]:
    return sqlite_rows(db, "SELECT id, url, price FROM products")


async def test_kill_9_of_every_stage_mid_run_loses_nothing_and_duplicates_nothing(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=150)
    db = tmp_path / "products.db"
    probe = kafka.consumer(kafka_config, group=None, client_id="probe")
    await probe.start()

    async def produced(topic: str) -> int:
        ends = await probe.end_offsets([TopicPartition(topic, p) for p in range(2)])
        return sum(ends.values())

    try:
        async with await start_shop(catalog) as shop:
            expected = {p["url"]: p["price"] for p in catalog.expected_products(shop.base_url)}
            await publish(kafka_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])
            slow = {"CRAWLPIPE_MAX_IN_FLIGHT": "4", "CRAWLPIPE_FOLLOW_LINKS": "false"}
            for stage in ("fetcher", "parser", "sink"):
                stages.start(stage, **slow)

            await eventually(lambda: produced(kafka_config.topic_pages), what="first pages")
            stages.stop("fetcher", signal.SIGKILL)
            stages.start("fetcher", name="fetcher-2", **slow)

            await eventually(lambda: produced(kafka_config.topic_products), what="first products")
            stages.stop("parser", signal.SIGKILL)
            stages.start("parser", name="parser-2", **slow)

            await eventually(lambda: product_rows(db), what="first rows")
            stages.stop("sink", signal.SIGKILL)
            stages.start("sink", name="sink-2", **slow)

            await eventually(lambda: len(product_rows(db)) >= len(expected), timeout=120,
                             what=f"{len(expected)} products")
            rows = product_rows(db)
            assert len(rows) == len({row[0] for row in rows}) == len(expected)
            assert {url: price for _id, url, price in rows} == expected
    finally:
        await probe.stop()
