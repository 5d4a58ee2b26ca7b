"""The soak's scheduler run: a catalogue of N product URLs through ``crawlpipe scheduler``, RSS sampled.

Publishes N product records (``--scheduler-hosts`` hosts, every record's last
visit one initial interval ago, so all are due) straight to a fresh products
topic on its own broker, then runs one ``crawlpipe scheduler`` over them with
its default settings but a dispatch rate for a catalogue this size. RSS is
sampled once a second against the records the scheduler has committed (its
schedule is durable up to there), while it consumes and then for
``--scheduler-dispatch-seconds`` while it only dispatches. It prints

    soak scheduler: peak_rss_mb=<x> baseline_rss_mb=<b> growth_mb_per_100k=<y> budget_mb=<m> ...

where the baseline is the scheduler's RSS before its first record and growth is the least-squares slope of
RSS against records committed after the first 10% (``harness.growth_per_100k``).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from harness import ROOT, Stages, crawlpipe, growth_per_100k, kafka_broker, monitor_clients, rss_mb

from stages.core.settings import KafkaConfig

# Every record's last visit: one default initial interval (a day) before the run, so all are due at once.
VISITED_AGO_SECONDS = 24 * 3600 + 60


@dataclass(frozen=True)
class SchedulerResult:
    peak_mb: float
    baseline_mb: float
    growth_mb_per_100k: float
    budget_mb: float
    consume_seconds: float
    dispatched: int


def record(n: int, hosts: int, fetched_at: str) -> tuple[bytes, bytes]:
    """Product ``n`` of the catalogue: a realistic id (a hash), its host one of ``hosts``."""
    product_id = "u" + hashlib.blake2b(n.to_bytes(8, "big"), digest_size=12).hexdigest()
    url = f"http://shop{n % hosts}.bench/product/{n}.html"
    value = {"id": product_id, "site": f"shop{n % hosts}", "url": url, "title": f"Product {n}",
             "price": f"{n % 997}.99", "currency": "EUR", "price_ok": True, "availability": "InStock",
             "page_url": url, "fetched_at": fetched_at, "parsed_at": fetched_at, "parser_version": "bench",
             "method": "rules"}
    return product_id.encode(), orjson.dumps(value)


async def publish_catalogue(config: KafkaConfig, urls: int, hosts: int) -> None:
    fetched_at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - VISITED_AGO_SECONDS))
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                compression_type="lz4", acks=1)
    await producer.start()
    try:
        pending = []
        for n in range(urls):
            key, value = record(n, hosts, fetched_at)
            pending.append(await producer.send(config.topic_products, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                print(f"soak scheduler: published {n + 1}", file=sys.stderr)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def monitor(config: KafkaConfig, stages: Stages, urls: int, partitions: int, dispatch_seconds: float,
                  out: Path, timeout: float) -> tuple[list[tuple[float, float]], float, float, int]:
    """Samples until every record is committed and then ``dispatch_seconds`` more: (points, baseline, seconds,
    URLs dispatched)."""
    process = stages.processes["scheduler"]
    inputs = [TopicPartition(config.topic_products, p) for p in range(partitions)]
    group = config.group("scheduler")
    async with monitor_clients(config, "soak-scheduler") as (admin, probe):
        points: list[tuple[float, float]] = []
        started = time.monotonic()
        consumed_at: float | None = None
        baseline = 0.0
        with open(out / "rss.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seconds", "rss_mb", "records_committed"])
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"scheduler exited with {process.returncode}; see {out}/scheduler.log")
                try:
                    offsets = await admin.list_consumer_group_offsets(group, partitions=inputs)
                except GroupCoordinatorNotAvailableError:  # the offsets topic is still being created
                    offsets = {}
                committed = sum(max(0, meta.offset) for meta in offsets.values())
                rss = rss_mb(process.pid)
                now = time.monotonic() - started
                if committed == 0:
                    baseline = rss
                points.append((committed, rss))
                writer.writerow([f"{now:.1f}", f"{rss:.1f}", committed])
                f.flush()
                if consumed_at is None and committed >= urls:
                    consumed_at = now
                if consumed_at is not None and now - consumed_at >= dispatch_seconds:
                    ends = await probe.end_offsets([TopicPartition(config.topic_urls, p) for p in range(partitions)])
                    return points, baseline, consumed_at, sum(ends.values())
                if now > timeout:
                    raise TimeoutError(f"the scheduler committed {committed} of {urls} in {timeout:.0f} s")
                print(f"soak scheduler: {now:6.0f} s committed {committed} rss={rss:.0f}MB", file=sys.stderr)
                await asyncio.sleep(1.0)


def soak_scheduler(urls: int, *, hosts: int, partitions: int, port: int, dispatch_seconds: float,
                   recrawls_per_second: float, out: Path, timeout: float,
                   logged_budget_mb) -> SchedulerResult:
    out.mkdir(parents=True, exist_ok=True)
    with kafka_broker(ROOT / f"var/bench/soak-kafka-{port}", port) as bootstrap:
        config = KafkaConfig(bootstrap=bootstrap)
        env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_LOG_LEVEL": "INFO",
               "CRAWLPIPE_SCHEDULE_STORAGE": f"sqlite:///{out / 'schedule.db'}",
               "CRAWLPIPE_MAX_RECRAWLS_PER_SECOND": str(recrawls_per_second)}
        crawlpipe("topics", "create", "--urls-partitions", str(partitions), "--pages-partitions", str(partitions),
                  "--products-partitions", str(partitions), env=env)
        started = time.monotonic()
        asyncio.run(publish_catalogue(config, urls, hosts))
        print(f"soak scheduler: published {urls} product records of {hosts} hosts in "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        stages = Stages(env, out)
        try:
            stages.start("scheduler")
            points, baseline, seconds, dispatched = asyncio.run(
                monitor(config, stages, urls, partitions, dispatch_seconds, out, timeout))
        finally:
            codes = stages.stop_all()
    print(f"soak scheduler: samples in {out / 'rss.csv'}; exit codes {codes}")
    return SchedulerResult(max(y for _, y in points), baseline, growth_per_100k(points, urls),
                           logged_budget_mb(out / "scheduler.log"), seconds, dispatched)


def misses(result: SchedulerResult, urls: int, *, max_peak_mb: float, max_growth: float) -> list[str]:
    print(f"soak scheduler: peak_rss_mb={result.peak_mb:.1f} baseline_rss_mb={result.baseline_mb:.1f} "
          f"peak_over_baseline={result.peak_mb / max(result.baseline_mb, 1):.2f} "
          f"growth_mb_per_100k={result.growth_mb_per_100k:.2f} budget_mb={result.budget_mb:.0f} urls={urls} "
          f"consumed_per_second={urls / max(result.consume_seconds, 1):.0f} dispatched={result.dispatched}")
    found = []
    if result.peak_mb > max_peak_mb:
        found.append(f"scheduler peak {result.peak_mb:.1f} MB above {max_peak_mb:.0f} MB")
    if result.growth_mb_per_100k > max_growth:
        found.append(f"scheduler growth {result.growth_mb_per_100k:.2f} MB per 100k URLs above {max_growth:.2f}")
    if result.dispatched == 0:
        found.append("scheduler dispatched nothing, though every URL was due")
    return found
