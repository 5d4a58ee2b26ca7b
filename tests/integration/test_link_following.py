"""Link following on the real broker: next-page links are followed down to --max-depth and no further."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import TopicPartition

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually

pytestmark = pytest.mark.kafka


async def committed(admin, config: KafkaConfig, stage: str, topic: str) -> int:
    partitions = await kafka.topic_partitions(admin, topic)
    offsets = await admin.list_consumer_group_offsets(config.group(stage), partitions=partitions)
    return sum(max(0, meta.offset) for meta in offsets.values())


async def test_following_stops_at_max_depth(kafka_config, stages: StageProcesses):
    async with await start_shop(Catalog(pages=6)) as shop:
        await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
        stages.start("fetcher")
        stages.start("parser", CRAWLPIPE_MAX_DEPTH="2")
        admin = kafka.admin(kafka_config, client_id="test-admin")
        probe = kafka.consumer(kafka_config, group=None, client_id="test-probe")
        await admin.start()
        await probe.start()
        try:
            async def settled() -> int:
                # Every page parsed (so every link it yields is published) and every URL fetched.
                urls = sum((await probe.end_offsets(
                    [TopicPartition(kafka_config.topic_urls, p) for p in range(2)])).values())
                done = (await committed(admin, kafka_config, "parser", kafka_config.topic_pages) == 3
                        and await committed(admin, kafka_config, "fetcher", kafka_config.topic_urls) == urls)
                return urls if done else 0
            published = await eventually(settled, what="pages 1-3 fetched and parsed")
        finally:
            await probe.stop()
            await admin.close()
        reader = kafka.consumer(kafka_config, kafka_config.topic_urls, group=None, client_id="test-reader")
        await reader.start()
        found: list = []
        try:
            async def read_all() -> bool:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    found.extend(orjson.loads(r.value) for r in records)
                return len(found) >= published
            await eventually(read_all, interval=0, what="the URL topic's messages")
        finally:
            await reader.stop()
        messages = sorted((m["depth"], m["url"]) for m in found)
        assert messages == [(n - 1, f"{shop.base_url}/list/{n}.html") for n in (1, 2, 3)]
        listings = {path: count for path, count in shop.stats.served_by_path.items() if path.startswith("/list/")}
        assert listings == {"/list/1.html": 1, "/list/2.html": 1, "/list/3.html": 1}
