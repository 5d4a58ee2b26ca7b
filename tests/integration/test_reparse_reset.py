"""Re-parsing the Kafka way fetches nothing again: a parser on a reset group publishes no link twice.

Crawl the demo shop, stop the parser, reset its group to the earliest
offsets with Kafka's own tool, start it again: every page is parsed again
and its products produced again, but no URL message is published and the
shop serves no request (its request log is the witness).
"""

from __future__ import annotations

import subprocess

import pytest

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import ROOT, StageProcesses, eventually, sqlite_rows

pytestmark = pytest.mark.kafka


async def end_offsets(config: KafkaConfig, topic: str) -> dict:
    probe = kafka.consumer(config, group=None, client_id="test-ends")
    admin = kafka.admin(config, client_id="test-ends")
    await probe.start()
    await admin.start()
    try:
        return await probe.end_offsets(await kafka.topic_partitions(admin, topic))
    finally:
        await probe.stop()
        await admin.close()


async def caught_up(config: KafkaConfig, group: str, topic: str) -> bool:
    admin = kafka.admin(config, client_id="test-committed")
    await admin.start()
    try:
        ends = await end_offsets(config, topic)
        committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
        return all(committed[tp].offset == end or end == 0 for tp, end in ends.items())
    finally:
        await admin.close()


async def test_a_parser_on_a_reset_group_reparses_everything_and_fetches_nothing_again(
        kafka_config: KafkaConfig, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=3)
    async with await start_shop(catalog) as shop:
        expected = len(catalog.expected_products(shop.base_url))
        await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
        for stage in ("fetcher", "parser", "sink"):
            stages.start(stage, CRAWLPIPE_MAX_DEPTH="10")
        db = tmp_path / "products.db"
        await eventually(lambda: len(sqlite_rows(db, "SELECT id FROM products")) >= expected, what="the crawl")
        await eventually(lambda: caught_up(kafka_config, kafka_config.group("parser"), kafka_config.topic_pages),
                         what="the parser's last commit")
        assert stages.stop("parser") == 0, stages.log("parser")
        await eventually(lambda: caught_up(kafka_config, kafka_config.group("fetcher"), kafka_config.topic_urls),
                         what="the fetcher's last commit")
        served = shop.stats.requests_total
        urls = await end_offsets(kafka_config, kafka_config.topic_urls)
        products = sum((await end_offsets(kafka_config, kafka_config.topic_products)).values())

        subprocess.run([str(ROOT / "ops/kafka/tool"), "consumer-groups", "--bootstrap-server", kafka_config.bootstrap,
                        "--group", kafka_config.group("parser"), "--reset-offsets", "--to-earliest",
                        "--topic", kafka_config.topic_pages, "--execute"], check=True, capture_output=True, timeout=120)
        stages.start("parser", name="parser-reset", CRAWLPIPE_MAX_DEPTH="10")
        await eventually(lambda: caught_up(kafka_config, kafka_config.group("parser"), kafka_config.topic_pages),
                         what="the reset parser's re-parse of every page")
        reproduced = sum((await end_offsets(kafka_config, kafka_config.topic_products)).values()) - products
        assert reproduced == products, "every page was parsed again and its products sent again"
        assert await end_offsets(kafka_config, kafka_config.topic_urls) == urls, "no link was published again"
        await eventually(lambda: caught_up(kafka_config, kafka_config.group("fetcher"), kafka_config.topic_urls),
                         what="the fetcher idle")
        assert shop.stats.requests_total == served, "the shop was asked again"
        assert "were published already: not following them again" in stages.log("parser-reset")
