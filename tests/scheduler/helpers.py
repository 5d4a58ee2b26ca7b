"""Records in the products topic's two shapes, a settable clock, and a scheduler run in this process."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stages.core.metrics import MetricsConfig
from stages.core.runner import StageRunner
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.scheduler.settings import SchedulerConfig
from stages.scheduler.stage import SchedulerStage

HOUR = 3600.0
DAY = 24 * HOUR


class Clock:
    """The scheduler's notion of now, moved by the test: interval logic without sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def instant(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def product(product_id: str, host: str, price: str, fetched: float, *, availability: str = "InStock",
            site: str = "shop") -> dict[str, Any]:
    """A product record of ``schemas/product.schema.json``."""
    url = f"http://{host}/product/{product_id}.html"
    return {"id": product_id, "site": site, "url": url, "title": f"Product {product_id}", "price": price,
            "currency": "EUR", "price_ok": True, "availability": availability, "page_url": url,
            "fetched_at": instant(fetched), "parsed_at": instant(fetched + 1), "parser_version": "test",
            "method": "rules"}


def discontinued(product_id: str, host: str, fetched: float, *, reason: str = "http_410",
                 site: str = "shop") -> dict[str, Any]:
    """A discontinued record of ``schemas/discontinued.schema.json`` (the contract's second shape)."""
    return {"id": product_id, "site": site, "url": f"http://{host}/product/{product_id}.html",
            "discontinued": True, "reason": reason, "fetched_at": instant(fetched),
            "parsed_at": instant(fetched + 1), "parser_version": "test"}


async def publish(config: KafkaConfig, *records: dict[str, Any]) -> None:
    """Straight to the products topic, keyed by product id as the parser does."""
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(config.topic_products, orjson.dumps(record), key=record["id"].encode())
    finally:
        await producer.stop()


def schedule(db: Path) -> dict[str, tuple[Any, ...]]:
    """product id -> (interval_seconds, due_at, misses) as stored."""
    if not db.exists():
        return {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            rows = conn.execute("SELECT product_id, interval_seconds, due_at, misses FROM recrawl_schedule")
            return {row[0]: row[1:] for row in rows}
        except sqlite3.OperationalError:
            return {}


def scheduler_config(db: Path, **settings: Any) -> SchedulerConfig:
    # The rounds the test asks for (``dispatcher.dispatch``) come between the stage's own, one a second: all
    # read the test's clock, so the stage's own find nothing more to do.
    defaults = {"dispatch_interval_seconds": 1.0, "schedule_batch_max_delay_seconds": 0.05,
                "gauge_interval_seconds": 0}
    return SchedulerConfig(schedule_storage=f"sqlite:///{db}", **{**defaults, **settings})


@contextlib.asynccontextmanager
async def running(config: KafkaConfig, settings: SchedulerConfig, clock: Clock,
                  metrics: MetricsConfig | None = None) -> AsyncIterator[StageRunner]:
    """A scheduler replica in this process (its own runner, the real broker), stopped at the end."""
    stage = SchedulerStage(config, settings, clock=clock)
    runner = StageRunner(stage, config, RunnerConfig(commit_interval_seconds=0.1, lag_check_interval_seconds=0,
                                                     memory_check_interval_seconds=0), metrics=metrics)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 60)


async def urls(config: KafkaConfig, expected: int, *, settle_seconds: float = 1.0) -> list[dict[str, Any]]:
    """The URL messages published, once ``expected`` have arrived and no more follow within ``settle_seconds``."""
    consumer = AIOKafkaConsumer(config.topic_urls, bootstrap_servers=config.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(found) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            found += [orjson.loads(record.value) for records in batch.values() for record in records]
        batch = await consumer.getmany(timeout_ms=int(settle_seconds * 1000))
        found += [orjson.loads(record.value) for records in batch.values() for record in records]
        return found
    finally:
        await consumer.stop()
