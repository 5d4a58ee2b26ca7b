"""Four parser replicas crawl a linked site: a link that several of them publish is fetched once.

Each parser's own filter skips links it published before, but pages of the
shop all link to the first and the last page and to their neighbours, and the
pages are spread over four parsers, so the same link reaches ``crawl.urls``
several times. Those copies share the host key, hence one partition and one
fetcher, which skips the repeats (``stages/fetcher/repeats.py``). The shop
counts what it served, so "fetched once" is measured at the server.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from stages.core.config import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import (
    SHOP_RULES,
    StageProcesses,
    eventually,
    fresh_kafka_config,
    sqlite_rows,
)
from tests.integration.replicas import (
    PARTITIONS,
    caught_up,
    read_topic,
    settled,
    start_replicas,
)

pytestmark = pytest.mark.kafka

PAGES = 30


@pytest.fixture
async def kafka_config(kafka_bootstrap: str) -> KafkaConfig:
    return await fresh_kafka_config(kafka_bootstrap, PARTITIONS)


def numbered_links_rules(tmp_path: Path) -> Path:
    """The shop's rules, following every numbered page link as well as "next"."""
    rules = tmp_path / "rules.toml"
    rules.write_text(SHOP_RULES.read_text().replace('next_page = "a.next"', 'next_page = "a.next, a.page"'))
    return rules


async def crawl(kafka_config: KafkaConfig, stages: StageProcesses, tmp_path: Path,
                **fetcher_env: str) -> tuple[Counter[str], Counter[str], dict[str, int]]:
    """Crawl the shop from page 1 with 4 parsers; URL messages and pages per URL, and listings served."""
    catalog = Catalog(pages=PAGES)
    parsers = start_replicas(stages, "parser", PARTITIONS, CRAWLPIPE_RULES=str(numbered_links_rules(tmp_path)),
                             CRAWLPIPE_MAX_DEPTH=str(PAGES))
    await settled(stages, parsers, kafka_config.topic_pages)
    stages.start("fetcher", **fetcher_env)
    stages.start("sink")
    async with await start_shop(catalog) as shop:
        expected = {p["url"] for p in catalog.expected_products(shop.base_url)}
        await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
        db = tmp_path / "products.db"
        await eventually(lambda: len(sqlite_rows(db, "SELECT url FROM products")) >= len(expected), timeout=90,
                         what=f"{len(expected)} products")

        async def quiet() -> bool:
            # Every page parsed (so every link it carries is published) and every URL message handled.
            return (await caught_up(kafka_config, "parser", kafka_config.topic_pages)
                    and await caught_up(kafka_config, "fetcher", kafka_config.topic_urls))
        await eventually(quiet, timeout=60, what="the crawl to go quiet")
        served = {path: n for path, n in shop.stats.served_by_path.items() if path.startswith("/list/")}
    assert {url for (url,) in sqlite_rows(db, "SELECT url FROM products")} == expected
    urls = Counter(orjson.loads(r.value)["url"] for r in await read_topic(kafka_config, kafka_config.topic_urls))
    pages = Counter(r.key.decode() for r in await read_topic(kafka_config, kafka_config.topic_pages))
    return urls, pages, served


def repeats(counts: Counter[str]) -> int:
    return sum(n - 1 for n in counts.values())


async def test_a_link_published_by_several_parsers_is_fetched_once(kafka_config, stages: StageProcesses, tmp_path):
    urls, pages, served = await crawl(kafka_config, stages, tmp_path)
    print(f"link dedupe: {len(urls)} URLs, {repeats(urls)} published again by another parser, "
          f"{repeats(pages)} fetched again")
    assert repeats(urls) > 0, "the parsers published no link twice: this crawl does not exercise the filter"
    assert len(pages) == PAGES and repeats(pages) == 0
    assert served == {f"/list/{n}.html": 1 for n in range(1, PAGES + 1)}


async def test_without_the_fetchers_filter_those_links_are_fetched_again(kafka_config, stages: StageProcesses,
                                                                         tmp_path):
    urls, pages, served = await crawl(kafka_config, stages, tmp_path, CRAWLPIPE_SKIP_REPEATED_LINKS="false")
    print(f"no dedupe: {len(urls)} URLs, {repeats(urls)} published again, {repeats(pages)} fetched again")
    assert repeats(pages) == repeats(urls) > 0
    assert sum(served.values()) == sum(pages.values())
