"""A running stage serves real numbers on /metrics, answers its probes, and `crawlpipe status` shows them."""

from __future__ import annotations

import os
import subprocess
import sys

import aiohttp
import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from stages.core import kafka
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import ROOT, StageProcesses, eventually, free_port, kafka_env

pytestmark = pytest.mark.kafka

PAGES = 3


async def scrape(session: aiohttp.ClientSession, base: str) -> dict[tuple[str, frozenset], float]:
    async with session.get(f"{base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


async def test_a_fetcher_reports_its_work_and_status_shows_topics_lag_and_the_stage(kafka_config,
                                                                                   stages: StageProcesses):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The parser group stands at the start of the pages topic: its lag is every page fetched.
    parser_group = kafka.consumer(kafka_config, kafka_config.topic_pages, group=kafka_config.group("parser"),
                                  client_id="test-parser")
    await parser_group.start()
    try:
        await parser_group.commit({TopicPartition(kafka_config.topic_pages, p): 0 for p in range(2)})
    finally:
        await parser_group.stop()
    catalog = Catalog(pages=PAGES)
    async with await start_shop(catalog) as shop, aiohttp.ClientSession() as session:
        await publish(kafka_config, [f"{url}\n" for url in catalog.listing_urls(shop.base_url)[:PAGES]])
        fetcher = stages.start("fetcher", CRAWLPIPE_METRICS_PORT=str(port), CRAWLPIPE_LAG_CHECK_INTERVAL_SECONDS="0.2")

        async def finished() -> dict | None:
            try:
                samples = await scrape(session, base)
            except aiohttp.ClientConnectionError:
                return None
            done = value(samples, "crawlpipe_finished_messages_total", stage="fetcher") >= PAGES
            seen = value(samples, "crawlpipe_downstream_lag_messages", stage="fetcher") >= PAGES
            return samples if done and seen else None

        samples = await eventually(finished, what="the fetcher's metrics to show its work")
        assert value(samples, "crawlpipe_consumed_messages_total", stage="fetcher") == PAGES
        assert value(samples, "crawlpipe_consumed_bytes_total", stage="fetcher") > 0
        assert value(samples, "crawlpipe_produced_messages_total", stage="fetcher") == PAGES
        assert value(samples, "crawlpipe_produced_bytes_total") > PAGES * 1000
        assert value(samples, "crawlpipe_rss_bytes", stage="fetcher") > 20 * 2**20
        assert value(samples, "crawlpipe_window_capacity_messages", stage="fetcher") == 200
        assert value(samples, "crawlpipe_downstream_lag_messages", group=kafka_config.group("parser")) == PAGES
        assert value(samples, "crawlpipe_fetcher_fetch_seconds_count") == PAGES
        assert value(samples, "crawlpipe_fetcher_http_responses_total", status="200") == PAGES
        assert value(samples, "crawlpipe_paused", stage="fetcher", reason="lag") == 0
        assert {dict(ls)["reason"] for (n, ls) in samples if n == "crawlpipe_paused"} == {
            "window", "lag", "memory", "shutdown"}

        async with session.get(f"{base}/healthz") as response:
            assert response.status == 200 and (await response.json())["alive"] is True
        async with session.get(f"{base}/readyz") as response:
            ready = await response.json()
            assert response.status == 200 and ready["ready"] is True
            assert ready["subscribed"] == [kafka_config.topic_urls] and ready["assigned"]

        await eventually(lambda: _status(kafka_config, port, expect=kafka_config.group("fetcher")),
                         what="status to show the fetcher group caught up")
        out = _status(kafka_config, port)
        lines = out.splitlines()
        assert any(kafka_config.topic_pages in line and f" {PAGES} " in line for line in lines), out
        assert _row(lines, kafka_config.group("parser"), kafka_config.topic_pages) == str(PAGES), out
        assert _row(lines, kafka_config.group("fetcher"), kafka_config.topic_urls) == "0", out
        assert _row(lines, kafka_config.group("sink"), kafka_config.topic_products) == "no offsets", out
        stage_row = next(line for line in lines if f"127.0.0.1:{port}" in line)
        assert "fetcher" in stage_row and f" {PAGES} " in stage_row and "/s" in stage_row, out
    assert stages.stop("fetcher") == 0 and fetcher.returncode == 0


def _row(lines: list[str], group: str, topic: str) -> str:
    """The lag cell of ``group``'s row for ``topic`` in status's group table."""
    line = next(line for line in lines if f" {group} " in line and f" {topic} " in line)
    return [cell.strip() for cell in line.strip("│┃ ").split("│")][2]


def _status(kafka_config, port: int, expect: str | None = None) -> str | bool:
    done = subprocess.run(
        [sys.executable, "-m", "stages.cli", "status", "--metrics-ports", f"{port}", "--interval-seconds", "0.5"],
        env={**os.environ, **kafka_env(kafka_config), "COLUMNS": "200"}, capture_output=True, text=True,
        cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    if expect is None:
        return done.stdout
    lines = done.stdout.splitlines()
    return _row(lines, expect, kafka_config.topic_urls) == "0"


def test_status_says_in_one_line_that_the_broker_is_unreachable():
    done = subprocess.run([sys.executable, "-m", "stages.cli", "status", "--bootstrap", f"127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 3
    assert "crawlpipe status: cannot reach Kafka at 127.0.0.1:" in done.stderr
    assert done.stdout == ""
