"""Outages of Kafka and PostgreSQL mid-crawl: every stage waits them out, says so, and loses nothing.

The broker and the database are servers of this module's own (``outage.py``),
stopped and started again while a crawl of the demo shop runs.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import (
    StageProcesses,
    eventually,
    free_port,
    fresh_kafka_config,
    sqlite_rows,
)
from tests.integration.outage import Server, readiness, server
from tests.sink.storage_helpers import product_record

pytestmark = pytest.mark.kafka

STAGES = ("fetcher", "parser", "sink")
# A crawl slow enough for an outage to fall in its middle: one page per host every 0.1 s.
SLOW = {"CRAWLPIPE_MIN_DELAY_PER_HOST_SECONDS": "0.1", "CRAWLPIPE_FOLLOW_LINKS": "false",
        "CRAWLPIPE_HEALTH_CHECK_INTERVAL_SECONDS": "1"}


@pytest.fixture(scope="module")
def own_broker() -> Iterator[Server]:
    broker = server("kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.data_dir, ignore_errors=True)


@pytest.fixture
async def outage_config(own_broker: Server) -> KafkaConfig:
    return await fresh_kafka_config(own_broker.address)


@pytest.fixture
def outage_stages(outage_config: KafkaConfig, stages: StageProcesses) -> StageProcesses:
    """The usual stage processes, pointed at this module's broker."""
    stages.base_env.update({"CRAWLPIPE_BOOTSTRAP": outage_config.bootstrap,
                            "CRAWLPIPE_TOPIC_URLS": outage_config.topic_urls,
                            "CRAWLPIPE_TOPIC_PAGES": outage_config.topic_pages,
                            "CRAWLPIPE_TOPIC_PRODUCTS": outage_config.topic_products,
                            "CRAWLPIPE_TOPIC_DLQ": outage_config.topic_dlq,
                            "CRAWLPIPE_GROUP_PREFIX": outage_config.group_prefix})
    return stages


def product_rows(db: Path) -> dict[str, str]:
    return dict(sqlite_rows(db, "SELECT url, price FROM products"))


def log_lines(stages: StageProcesses, name: str) -> int:
    return len(stages.log(name).splitlines())


@pytest.mark.timeout(600)
async def test_the_broker_down_for_90_s_mid_crawl_is_waited_out_by_every_stage(
        own_broker: Server, outage_config: KafkaConfig, outage_stages: StageProcesses, tmp_path: Path):
    catalog = Catalog(pages=300)
    db = tmp_path / "products.db"
    ports = {stage: free_port() for stage in STAGES}
    async with await start_shop(catalog) as shop:
        expected = {p["url"]: p["price"] for p in catalog.expected_products(shop.base_url)}
        await publish(outage_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])
        for stage in STAGES:
            outage_stages.start(stage, CRAWLPIPE_METRICS_PORT=str(ports[stage]), **SLOW)
        await eventually(lambda: len(product_rows(db)) > 100, timeout=120, what="the crawl under way")
        assert len(product_rows(db)) < len(expected), "the crawl ended before the outage"

        lines_before = {stage: log_lines(outage_stages, stage) for stage in STAGES}
        own_broker.stop()
        stopped = time.monotonic()
        for stage in STAGES:
            # A background task meeting the outage first (the lag watcher) makes /readyz not ready a moment
            # before the broker probe names the cause.
            await eventually(lambda s=stage: _kafka_down(ports[s]), timeout=15,
                             what=f"{stage} /readyz to report kafka down")
        await asyncio.sleep(90 - (time.monotonic() - stopped))
        minutes = (time.monotonic() - stopped) / 60
        for stage in STAGES:
            assert outage_stages.processes[stage].poll() is None, f"{stage} exited during the outage"
            per_minute = (log_lines(outage_stages, stage) - lines_before[stage]) / minutes
            assert per_minute < 100, f"{stage} logged {per_minute:.0f} lines a minute during the outage"

        own_broker.start()
        await eventually(lambda: len(product_rows(db)) >= len(expected), timeout=240,
                         what=f"all {len(expected)} products after the outage")
        assert product_rows(db) == expected
        for stage in STAGES:
            await eventually(lambda s=stage: _ready(ports[s]), timeout=30, what=f"{stage} ready again")
            assert outage_stages.processes[stage].poll() is None


@pytest.mark.timeout(400)
async def test_postgresql_restarted_mid_crawl_is_waited_out_by_the_sink(
        outage_config: KafkaConfig, outage_stages: StageProcesses):
    database = server("postgres")
    database.start()
    try:
        catalog = Catalog(pages=200)
        port = free_port()
        async with await start_shop(catalog) as shop:
            expected = {p["url"]: Decimal(p["price"]) for p in catalog.expected_products(shop.base_url)}
            await publish(outage_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])
            for stage in STAGES:
                extra = {"CRAWLPIPE_STORAGE": database.address, "CRAWLPIPE_METRICS_PORT": str(port)} \
                    if stage == "sink" else {}
                outage_stages.start(stage, **SLOW, **extra)

            async def stored() -> dict[str, Decimal]:
                return await _postgres_rows(database.address)

            await eventually(lambda: _count_at_least(stored, 100), timeout=120, what="the crawl under way")
            database.stop()
            _, body = await eventually(lambda: _not_ready(port), timeout=10, what="the sink to report it")
            assert any(r.startswith("storage down") for r in body["reasons"]), body
            await asyncio.sleep(10)
            assert outage_stages.processes["sink"].poll() is None, "the sink exited during the outage"
            database.start()
            await eventually(lambda: _count_at_least(stored, len(expected)), timeout=180,
                             what=f"all {len(expected)} products after the restart")
            assert await stored() == expected
            await eventually(lambda: _ready(port), timeout=30, what="the sink ready again")
            assert all(outage_stages.processes[s].poll() is None for s in STAGES)
    finally:
        database.stop()
        shutil.rmtree(database.data_dir, ignore_errors=True)


@pytest.mark.timeout(300)
async def test_the_lag_watcher_pauses_the_parser_after_an_outage(
        own_broker: Server, outage_config: KafkaConfig, outage_stages: StageProcesses):
    products = [TopicPartition(outage_config.topic_products, p) for p in range(2)]
    sink_group = kafka.consumer(outage_config, outage_config.topic_products,
                                group=outage_config.group("sink"), client_id="stalled-sink")
    await sink_group.start()
    await sink_group.commit({tp: 0 for tp in products})
    await sink_group.stop()
    parser = outage_stages.start("parser", CRAWLPIPE_LAG_HIGH_WATER_MESSAGES="50",
                                 CRAWLPIPE_LAG_LOW_WATER_MESSAGES="10", CRAWLPIPE_LAG_CHECK_INTERVAL_SECONDS="0.5")
    await eventually(lambda: "parser consuming" in outage_stages.log("parser"), what="the parser to start")
    own_broker.stop()
    await eventually(lambda: "lag_watcher background task failing" in outage_stages.log("parser"), timeout=30,
                     what="the lag watcher to meet the outage")
    own_broker.start()
    # After the outage, a stalled sink: every page the fetcher sends is lag the parser must see.
    catalog = Catalog(pages=20)
    async with await start_shop(catalog) as shop:
        await publish(outage_config, [f"{u}\n" for u in catalog.listing_urls(shop.base_url)])
        outage_stages.start("fetcher", CRAWLPIPE_FOLLOW_LINKS="false")
        await eventually(lambda: "parser paused: lag" in outage_stages.log("parser"), timeout=120,
                         what="the parser to pause on the sink's lag")
    assert parser.poll() is None


async def _not_ready(port: int) -> tuple[int, dict] | None:
    status, body = await readiness(port)
    return (status, body) if status == 503 and body.get("reasons") else None


async def _kafka_down(port: int) -> bool:
    status, body = await readiness(port)
    return status == 503 and any(reason.startswith("kafka down") for reason in body.get("reasons", []))


async def _ready(port: int) -> bool:
    status, _ = await readiness(port)
    return status == 200


async def _count_at_least(rows, count: int) -> bool:
    return len(await rows()) >= count


async def _postgres_rows(url: str) -> dict[str, Decimal]:
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return {}
    try:
        return {row["url"]: row["price"] for row in await conn.fetch("SELECT url, price FROM products")}
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()


@pytest.mark.timeout(300)
async def test_crawlpipe_run_exits_3_when_the_broker_stays_away(
        own_broker: Server, outage_config: KafkaConfig, outage_stages: StageProcesses):
    run = outage_stages.start("run", CRAWLPIPE_KAFKA_UNREACHABLE_EXIT_SECONDS="5")
    await eventually(lambda: outage_stages.log("run").count(" consuming ") == 3, timeout=90,
                     what="the three stages of crawlpipe run to start")
    own_broker.stop()
    try:
        stopped = time.monotonic()
        await eventually(lambda: run.poll() is not None, timeout=60, what="crawlpipe run to give up")
        waited = time.monotonic() - stopped
    finally:
        own_broker.start()
    assert run.returncode == 3, outage_stages.log("run")
    assert "unreachable for 5 s (--kafka-unreachable-exit-seconds): every stage stopped" in outage_stages.log("run")
    assert outage_stages.log("run").count("exited with 0") == 3, outage_stages.log("run")[-3000:]
    assert waited < 40, f"took {waited:.0f} s"


@pytest.mark.timeout(300)
async def test_a_sink_started_while_postgresql_is_down_waits_for_it(
        outage_config: KafkaConfig, outage_stages: StageProcesses):
    database = server("postgres")
    url = database.start()
    database.stop()
    try:
        port = free_port()
        sink = outage_stages.start("sink", CRAWLPIPE_STORAGE=url, CRAWLPIPE_METRICS_PORT=str(port))
        _, body = await eventually(lambda: _not_ready(port), timeout=60, what="the sink to say storage is down")
        assert any(r.startswith("storage down") for r in body["reasons"]), body
        producer = kafka.producer(outage_config, client_id="test-parser")
        await producer.start()
        try:
            for n in range(20):
                record = {**product_record(f"p{n}"), "fetched_at": datetime.now(UTC).isoformat(),
                          "parsed_at": datetime.now(UTC).isoformat(), "method": "rules"}
                await producer.send_and_wait(outage_config.topic_products, orjson.dumps(record),
                                             key=f"p{n}".encode())
        finally:
            await producer.stop()
        await asyncio.sleep(5)
        assert sink.poll() is None, "the sink exited while PostgreSQL was down"
        database.start()
        await eventually(lambda: _count_at_least(lambda: _postgres_ids(url), 20), timeout=120,
                         what="the records stored once PostgreSQL is up")
        await eventually(lambda: _ready(port), timeout=30, what="the sink ready")
    finally:
        database.stop()
        shutil.rmtree(database.data_dir, ignore_errors=True)


async def _postgres_ids(url: str) -> set[str]:
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return set()
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM products")}
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await conn.close()
