"""End to end on the real broker: publish → fetch → parse → sink on the demo shop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import ROOT, StageProcesses, eventually, sqlite_rows

pytestmark = pytest.mark.kafka


def rows(db: Path) -> list[tuple]:
    return sqlite_rows(db, "SELECT url, title, price, currency FROM products")


async def read_topic(config: KafkaConfig, topic: str, expected: int, timeout: float = 30.0) -> list:
    consumer = kafka.consumer(config, topic, group=None, client_id="test-reader")
    await consumer.start()
    found = []
    try:
        async def enough():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(records)
            return len(found) >= expected
        await eventually(enough, timeout=timeout, interval=0, what=f"{expected} records on {topic}")
    finally:
        await consumer.stop()
    return found


async def test_a_seed_url_becomes_exactly_the_expected_products(kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=4)
    async with await start_shop(catalog) as shop:
        expected = {(p["url"], p["title"], p["price"], p["currency"])
                    for p in catalog.expected_products(shop.base_url)}
        result = await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
        assert result.published == 1
        for stage in ("fetcher", "parser", "sink"):
            stages.start(stage, CRAWLPIPE_MAX_DEPTH="10")
        db = tmp_path / "products.db"
        await eventually(lambda: len(rows(db)) >= len(expected), what="every product in the sink")
        assert set(rows(db)) == expected
        # Each listing page was fetched once: link following never published a URL twice.
        assert all(shop.stats.served_by_path[f"/list/{n}.html"] == 1 for n in range(1, 5))
    for stage in ("fetcher", "parser", "sink"):
        assert stages.stop(stage) == 0, stages.log(stage)
    # The Kafka CLI tools from the project's jars see the topics and the three stages' groups.
    tool = [str(ROOT / "ops/kafka/tool")]
    topics = subprocess.run(tool + ["topics", "--bootstrap-server", kafka_config.bootstrap, "--list"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert {kafka_config.topic_urls, kafka_config.topic_pages, kafka_config.topic_products} <= set(topics)
    groups = subprocess.run(tool + ["consumer-groups", "--bootstrap-server", kafka_config.bootstrap, "--list"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert {kafka_config.group(s) for s in ("fetcher", "parser", "sink")} <= set(groups)


async def test_bad_input_reaches_the_dlq_with_a_reason_and_the_stage_keeps_going(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=1)
    async with await start_shop(catalog) as shop:
        lines = ["ftp://example.invalid/file\n", f"{shop.base_url}/list/1.html\n", "{not json\n"]
        result = await publish(kafka_config, lines)
        assert (result.published, result.rejected) == (1, 2)
        producer = kafka.producer(kafka_config, client_id="test")
        await producer.start()
        await producer.send_and_wait(kafka_config.topic_urls, b"\x00not json", key=b"x")
        await producer.send_and_wait(kafka_config.topic_urls, orjson.dumps({"depth": 0, "attempt": 1}), key=b"x")
        await producer.stop()
        stages.start("fetcher")
        dead = await read_topic(kafka_config, kafka_config.topic_dlq, 4)
        classes = sorted((orjson.loads(r.value)["stage"], orjson.loads(r.value)["error_class"]) for r in dead)
        assert classes == [("fetcher", "bad_json"), ("fetcher", "schema"),
                           ("publish", "bad_json"), ("publish", "bad_url")]
        ftp = next(orjson.loads(r.value) for r in dead if orjson.loads(r.value)["error_class"] == "bad_url")
        assert ftp["input"]["line"] == 1 and "ftp://" in ftp["input"]["value"]
        pages = await read_topic(kafka_config, kafka_config.topic_pages, 1)
        assert pages[0].key.decode() == f"{shop.base_url}/list/1.html"
        assert stages.processes["fetcher"].poll() is None


async def test_a_restarted_stage_resumes_from_its_committed_offset(kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=6)
    async with await start_shop(catalog) as shop:
        first = [f"{shop.base_url}/list/{n}.html\n" for n in (1, 2, 3)]
        second = [f"{shop.base_url}/list/{n}.html\n" for n in (4, 5, 6)]
        stages.start("fetcher", CRAWLPIPE_FOLLOW_LINKS="false")
        await publish(kafka_config, first)
        await read_topic(kafka_config, kafka_config.topic_pages, 3)
        assert stages.stop("fetcher") == 0
        await publish(kafka_config, second)
        stages.start("fetcher", name="fetcher-again")
        pages = await read_topic(kafka_config, kafka_config.topic_pages, 6)
        assert sorted(r.key.decode() for r in pages) == sorted(u.strip() for u in first + second)
        assert all(count == 1 for path, count in shop.stats.served_by_path.items() if path.startswith("/list/"))
