"""Price tracking end to end with the demo shop: volatile products come back sooner, removed ones stop (#23).

The fetcher and parser run as processes, the scheduler in this process on the
real clock with intervals of seconds (initial 6 s, 2-60 s), over a live shop
whose every third product changes price at each visit and from which one
stable product is removed once it is scheduled.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stages.core.settings import KafkaConfig
from stages.demoshop.live import LiveCatalog
from stages.demoshop.server import start_shop
from stages.parser.ids import product_id
from stages.scheduler.settings import SchedulerConfig
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually
from tests.scheduler.helpers import running, schedule

pytestmark = pytest.mark.kafka


async def recrawls(config: KafkaConfig) -> Counter[str]:
    """Recrawl URL messages published so far, by product id."""
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(config.topic_urls, p) for p in range(2)]  # a test's topics have two partitions
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        found: Counter[str] = Counter()
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    message = orjson.loads(record.value)
                    if message.get("purpose") == "recrawl":
                        found[message["product"]] += 1
        return found
    finally:
        await consumer.stop()


async def test_volatile_products_are_recrawled_sooner_and_a_removed_one_stops(
        kafka_config: KafkaConfig, stages: StageProcesses, tmp_path: Path) -> None:
    catalog = LiveCatalog(pages=1, volatile_every=3)
    db = tmp_path / "schedule.db"
    settings = SchedulerConfig(schedule_storage=f"sqlite:///{db}", recrawl_initial_interval_seconds=6,
                               recrawl_min_interval_seconds=2, recrawl_max_interval_seconds=60, max_misses=2,
                               dispatch_interval_seconds=0.1, max_recrawls_per_host_per_minute=600,
                               schedule_batch_max_delay_seconds=0.05, gauge_interval_seconds=0)
    async with await start_shop(catalog) as shop:
        products = catalog.page_products(1)
        ids = {p.id: product_id("demoshop", shop.base_url + p.path, p.sku) for p in products}
        volatile = {ids[p.id] for p in products if catalog.is_volatile(p.id)}
        removed = next(p for p in products if not catalog.is_volatile(p.id))
        stable = set(ids.values()) - volatile - {ids[removed.id]}
        assert volatile and stable
        await publish(kafka_config, [f"{url}\n" for url in catalog.listing_urls(shop.base_url)])
        stages.start("fetcher")
        stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false")
        async with running(kafka_config, settings, time.time):
            await eventually(lambda: set(schedule(db)) >= set(ids.values()), what="every product scheduled")
            catalog.remove(removed.id)

            async def enough() -> Counter[str] | None:
                counts = await recrawls(kafka_config)
                gone = schedule(db)[ids[removed.id]]
                return counts if min(counts[i] for i in volatile) >= 4 and gone[1:] == (None, 2) else None

            counts = await eventually(enough, timeout=90, interval=0.5,
                                      what="four recrawls of every volatile product and the removed one given up")
            intervals = {pid: row[0] for pid, row in schedule(db).items()}
        given_up_after = counts[ids[removed.id]]
    assert max(counts[i] for i in stable) < min(counts[i] for i in volatile), counts
    assert max(intervals[i] for i in volatile) < min(intervals[i] for i in stable), intervals
    # Two misses, two recrawls: none after it was given up.
    assert given_up_after == 2 == (await recrawls(kafka_config))[ids[removed.id]]
    for stage in ("fetcher", "parser"):
        assert stages.stop(stage) == 0, stages.log(stage)
