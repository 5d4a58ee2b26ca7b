"""Replay on the real broker: new rules reach every stored product, and the shop is never asked again."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import RunningShop, start_shop
from stages.tools.publish import publish
from tests.conftest import ROOT, SHOP_RULES, StageProcesses, eventually

pytestmark = pytest.mark.kafka


def rows(db: Path) -> set[tuple]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        try:
            return set(conn.execute("SELECT url, title, price, currency FROM products"))
        except sqlite3.OperationalError:
            return set()


def new_rules(tmp_path: Path) -> Path:
    """The shop's rules with the title read from the product link's href: a change every row shows."""
    text = SHOP_RULES.read_text().replace('title = "h2.product-title"', 'title = "a.product-link@href"')
    assert "a.product-link@href" in text
    path = tmp_path / "new-rules.toml"
    path.write_text(text)
    return path


async def crawl(shop: RunningShop, kafka_config: KafkaConfig, stages: StageProcesses, db: Path) -> set[tuple]:
    """Crawl the whole shop through the three stages with the shop's own rules; return the stored rows."""
    expected = {(p["url"], p["title"], p["price"], p["currency"])
                for p in shop.catalog.expected_products(shop.base_url)}
    await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
    for stage in ("fetcher", "parser", "sink"):
        stages.start(stage, CRAWLPIPE_MAX_DEPTH="10")
    await eventually(lambda: rows(db) == expected, what="every product in the sink")
    return expected


async def crawlpipe(stages: StageProcesses, *args: str) -> str:
    """Run ``crawlpipe ARGS`` without blocking the loop the shop is served from; its stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stages.cli", *args, env={**os.environ, **stages.base_env}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode()
    return out.decode()


async def group_offsets(config: KafkaConfig, group: str) -> dict[TopicPartition, int]:
    admin = kafka.admin(config, client_id="test-offsets")
    await admin.start()
    try:
        partitions = await kafka.topic_partitions(admin, config.topic_pages)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items()}


async def test_replay_with_new_rules_updates_every_row_in_place_without_fetching(
        kafka_config, stages: StageProcesses, tmp_path):
    db = tmp_path / "products.db"
    catalog = Catalog(pages=3)
    async with await start_shop(catalog) as shop:
        before = await crawl(shop, kafka_config, stages, db)
        served = Counter(shop.stats.served_by_path)

        async def parser_committed_every_page():
            offsets = await group_offsets(kafka_config, kafka_config.group("parser"))
            return offsets if sum(max(0, offset) for offset in offsets.values()) == 3 else None
        live = await eventually(parser_committed_every_page, what="the live parser's commits")

        out = await crawlpipe(stages, "replay", "--from-beginning", "--rules", str(new_rules(tmp_path)))

        assert f"re-parsed 3 pages of {kafka_config.topic_pages} as group {kafka_config.group('parser-replay')}" \
            in out, out
        assert f"produced {len(before)} product records" in out, out
        expected = {(p["url"], p["url"].removeprefix(shop.base_url), p["price"], p["currency"])
                    for p in catalog.expected_products(shop.base_url)}
        await eventually(lambda: rows(db) == expected, what="the new titles in the sink")
        assert len(rows(db)) == len(before)
        # The fetcher (still running) asked the shop for nothing, and the live parser group did not move.
        assert shop.stats.served_by_path == served
        assert await group_offsets(kafka_config, kafka_config.group("parser")) == live
    for stage in ("fetcher", "parser", "sink"):
        assert stages.stop(stage) == 0, stages.log(stage)


async def test_dry_run_prints_the_diff_and_produces_nothing(kafka_config, stages: StageProcesses, tmp_path):
    db = tmp_path / "products.db"
    catalog = Catalog(pages=2)
    async with await start_shop(catalog) as shop:
        before = await crawl(shop, kafka_config, stages, db)
        probe = kafka.consumer(kafka_config, group=None, client_id="test-probe")
        await probe.start()
        products = [TopicPartition(kafka_config.topic_products, p) for p in range(2)]
        ends = await probe.end_offsets(products)

        out = await crawlpipe(stages, "replay", "--from-beginning", "--dry-run", "--sample", "1",
                              "--rules", str(new_rules(tmp_path)), "--storage", f"sqlite:///{db}")

        assert await probe.end_offsets(products) == ends
        await probe.stop()
    assert rows(db) == before
    changed = [line for line in out.splitlines() if line.startswith("  ~ ")]
    page = {p["url"]: p for p in catalog.expected_products(shop.base_url)}
    sampled = {page[line.split()[2].rstrip(":")]["page"] for line in changed}
    assert len(sampled) == 1, out
    on_page = [p for p in page.values() if p["page"] in sampled]
    assert len(changed) == len(on_page)
    for line in changed:
        product = page[line.split()[2].rstrip(":")]
        assert line.endswith(f": title {product['title']!r} → {product['url'].removeprefix(shop.base_url)!r}")
    assert f"changed: {len(on_page)} products, title in {len(on_page)}\n" in out
    assert "gained: 0 products\nlost: 0 products\nunchanged: 0 products\n" in out
    assert f"changed={len(on_page)} gained=0 lost=0 unchanged=0 (of which 0 the sink would keep" in out
