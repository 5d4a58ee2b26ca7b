"""Replicas killed with SIGKILL and added, again and again, while a crawl runs: nothing is lost, and what is
done twice stays within what the killed replicas had in flight.

Eight shops on their own loopback addresses (URL messages are keyed by host,
so they spread over the four partitions) answer slowly enough that the crawl
is still going when each kill and each join lands. A killed replica commits
nothing more: its partitions' uncommitted messages are redone by whoever
takes them over, up to its window (messages in flight) plus what it finished
within the last commit interval. A join moves partitions too; work still
running on a moved partition is cancelled and redone by its new owner.
"""

from __future__ import annotations

import signal
from collections import Counter
from contextlib import AsyncExitStack

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
    end_offsets_total,
    read_topic,
    start_replicas,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

HOSTS = [f"127.0.0.{n}" for n in range(60, 68)]
PAGES_PER_HOST = 40
FETCHER_WINDOW = 8
PARSER_WINDOW = 4
COMMIT_INTERVAL_SECONDS = 0.2
FETCHER_ENV = {"CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_MAX_IN_FLIGHT": str(FETCHER_WINDOW),
               "CRAWLPIPE_MAX_CONNECTIONS_PER_HOST": "1",
               "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": str(COMMIT_INTERVAL_SECONDS)}
PARSER_ENV = {"CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_MAX_IN_FLIGHT": str(PARSER_WINDOW),
              "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": str(COMMIT_INTERVAL_SECONDS)}


@pytest.fixture
async def kafka_config(kafka_bootstrap: str) -> KafkaConfig:
    return await fresh_kafka_config(kafka_bootstrap, PARTITIONS)


def per_host_rules() -> str:
    """The shop's rules once per host, each a site of its own: the hosts share one catalog, and a product's id
    is made from its site and SKU."""
    shop = SHOP_RULES.read_text()
    return "\n".join(shop.replace('name = "demoshop"', f'name = "shop-{host}"')
                     .replace('hosts = ["127.0.0.1", "localhost"]', f'hosts = ["{host}"]') for host in HOSTS)


def repeats(counts: Counter) -> int:
    return sum(n - 1 for n in counts.values())


async def test_kills_and_joins_mid_crawl_lose_nothing_and_redo_at_most_the_windows(
        kafka_config, stages: StageProcesses, tmp_path):
    catalog = Catalog(pages=PAGES_PER_HOST)
    db = tmp_path / "products.db"
    async with AsyncExitStack() as stack:
        shops = [await stack.enter_async_context(await start_shop(catalog, host, hold_seconds=0.05))
                 for host in HOSTS]
        expected = {p["url"]: p["price"] for shop in shops for p in catalog.expected_products(shop.base_url)}
        urls = [f"{url}\n" for shop in shops for url in catalog.listing_urls(shop.base_url)]
        rules = tmp_path / "rules.toml"
        rules.write_text(per_host_rules())
        parser_env = {**PARSER_ENV, "CRAWLPIPE_RULES": str(rules)}
        start_replicas(stages, "fetcher", 2, **FETCHER_ENV)
        start_replicas(stages, "parser", 2, **parser_env)
        stages.start("sink")
        await publish(kafka_config, urls)

        # (stage killed, its replacement): each step waits for more pages before it strikes.
        steps = [("fetcher-1", "fetcher-3"), ("parser-1", "parser-3"), ("fetcher-2", "fetcher-4"),
                 ("parser-2", "parser-4")]
        for n, (victim, newcomer) in enumerate(steps, start=1):
            milestone = len(urls) * n // (len(steps) + 1)

            async def reached(milestone: int = milestone) -> bool:
                return await end_offsets_total(kafka_config, kafka_config.topic_pages) >= milestone
            await eventually(reached, timeout=90, what=f"{milestone} pages before killing {victim}")
            stages.stop(victim, signal.SIGKILL)
            stage = newcomer.split("-")[0]
            stages.start(stage, name=newcomer, **(FETCHER_ENV if stage == "fetcher" else parser_env))

        await eventually(lambda: len(sqlite_rows(db, "SELECT id FROM products")) >= len(expected), timeout=120,
                         what=f"{len(expected)} products")
    rows = sqlite_rows(db, "SELECT url, price FROM products")
    assert dict(rows) == expected and len(rows) == len(expected)

    pages = Counter(r.key.decode() for r in await read_topic(kafka_config, kafka_config.topic_pages))
    products = Counter(r.key for r in await read_topic(kafka_config, kafka_config.topic_products))
    assert set(pages) == {url.strip() for url in urls}
    per_page = len(expected) / len(urls)
    reparsed = repeats(products) / per_page
    print(f"rebalance: {len(urls)} pages, {repeats(pages)} fetched again, {repeats(products)} product records "
          f"again (~{reparsed:.0f} pages parsed again); 2 fetcher and 2 parser kills, 4 joins")
    # A SIGKILL leaves to be redone what the replica had in its window plus what it finished since its last
    # commit (its top rate times the commit interval); a join can hand over one window per replica.
    fetcher_rate = len(HOSTS) / 0.05  # one connection per host, each answer held 0.05 s
    parser_rate = 200  # pages per second: above what one parser replica manages on this machine
    fetcher_bound = 2 * (FETCHER_WINDOW + fetcher_rate * COMMIT_INTERVAL_SECONDS) + 4 * 2 * FETCHER_WINDOW
    parser_bound = 2 * (PARSER_WINDOW + parser_rate * COMMIT_INTERVAL_SECONDS) + 4 * 2 * PARSER_WINDOW
    assert repeats(pages) <= fetcher_bound
    # Pages fetched again are parsed again too.
    assert reparsed <= parser_bound + repeats(pages)
