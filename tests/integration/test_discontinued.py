"""A removed product marked discontinued in storage, with its time, and cleared when it comes back (#23)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.live import LiveCatalog
from stages.demoshop.server import start_shop
from stages.parser.ids import product_id
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually, sqlite_rows
from tests.integration.test_pipeline import read_topic

pytestmark = pytest.mark.kafka


def discontinued(db: Path) -> dict[str, str | None]:
    return dict(sqlite_rows(db, "SELECT id, discontinued_at FROM products"))


async def dlq_records(config: KafkaConfig) -> int:
    admin = kafka.admin(config, client_id="test-admin")
    probe = kafka.consumer(config, group=None, client_id="test-probe")
    await admin.start()
    await probe.start()
    try:
        partitions = await kafka.topic_partitions(admin, config.topic_dlq)
        assert partitions, f"no topic {config.topic_dlq}"
        return sum((await probe.end_offsets(partitions)).values())
    finally:
        await probe.stop()
        await admin.close()


def recrawl(url: str, product: str) -> str:
    return orjson.dumps({"url": url, "depth": 0, "attempt": 1, "purpose": "recrawl", "product": product}).decode()


async def test_a_removed_product_is_marked_discontinued_and_a_product_coming_back_clears_it(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = LiveCatalog(pages=2)
    db = tmp_path / "products.db"
    async with await start_shop(catalog) as shop:
        await publish(kafka_config, [f"{url}\n" for url in catalog.listing_urls(shop.base_url)])
        for stage in ("fetcher", "sink"):
            stages.start(stage)
        stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false")
        everything = len(catalog.expected_products(shop.base_url))
        await eventually(lambda: len(discontinued(db)) >= everything, what="every product in the sink")
        gone_page, gone_listing = catalog.page_products(1)[:2]
        ids = {p.id: product_id("demoshop", shop.base_url + p.path, p.sku) for p in (gone_page, gone_listing)}
        catalog.remove(gone_page.id)
        catalog.remove(gone_listing.id)
        before = datetime.now(UTC)
        # One recrawl of the product's own page (410 now), one of the listing that no longer shows the other.
        await publish(kafka_config, [recrawl(shop.base_url + gone_page.path, ids[gone_page.id]) + "\n",
                                     recrawl(f"{shop.base_url}/list/1.html", ids[gone_listing.id]) + "\n"])
        marked = await eventually(lambda: {i: at for i, at in discontinued(db).items() if at} if all(
            discontinued(db).get(i) for i in ids.values()) else None, what="both products marked discontinued")
        assert set(marked) == set(ids.values())
        assert all(before <= datetime.fromisoformat(at) <= datetime.now(UTC) for at in marked.values())
        records = [orjson.loads(r.value) for r in await read_topic(kafka_config, kafka_config.topic_products,
                                                                     everything + len(catalog.page_products(1)) + 2)]
        reasons = {record["id"]: record["reason"] for record in records if record.get("discontinued")}
        assert reasons == {ids[gone_page.id]: "http_410", ids[gone_listing.id]: "not_on_page"}
        assert await dlq_records(kafka_config) == 0, "a recrawl's 410 is an answer, not a failure"

        catalog.restore(gone_page.id)
        await publish(kafka_config, [recrawl(shop.base_url + gone_page.path, ids[gone_page.id]) + "\n"])
        await eventually(lambda: discontinued(db)[ids[gone_page.id]] is None, what="the product back on sale")
        assert discontinued(db)[ids[gone_listing.id]] == marked[ids[gone_listing.id]]
        assert len(discontinued(db)) == everything
    for stage in ("fetcher", "parser", "sink"):
        assert stages.stop(stage) == 0, stages.log(stage)
