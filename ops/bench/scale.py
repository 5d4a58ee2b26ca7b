"""ops/bench/scale: parser throughput with one replica and with two over the same pre-loaded pages, and per-stage costs.

1. Pre-loads the pages topic (``--partitions``, default 4) with N demo-shop
   listing pages, as the fetcher would write them (zstd), and compares the
   topic's log segments on disk with the raw bytes produced.
2. Runs 1 parser, then 2 parsers (a fresh consumer group each time, same
   topic), each until the group's committed offsets reach the end. The clock
   starts once every replica owns its partitions, so start-up and the join
   are not counted; CPU seconds of the parser processes and of the broker
   are read with psutil over the same interval.
3. Runs 1 sink (SQLite) over the products the parsers wrote, and 1 fetcher
   over the demo shop (its own pages topic), for their CPU per 1,000 pages
   and the compression the real fetcher's batches get.

The figures feed "Sizing" in docs/operations.md. Last line:

    scale: parsers_1_pages_per_s=<x> parsers_2_pages_per_s=<y> ratio=<y/x>
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (ROOT, Stages, broker_pid, cpu_seconds, crawlpipe, free_port_pair, kafka_broker, monitor_clients,
                     shop)

import psutil
from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError

from stages.core import kafka
from stages.core.config import KafkaConfig
from stages.core.messages import encode_page_headers, utc_now
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing

# Any 127.0.0.1 URL: the shop's rules (stages/demoshop/rules.toml) apply, nothing is fetched.
PAGE_BASE = "http://127.0.0.1:8000"
FETCHED_PAGES_TOPIC = "crawl.pages.fetched"
POLL_SECONDS = 0.1
PRELOAD_BATCH = 500


@dataclass
class Phase:
    label: str
    replicas: int
    messages: int
    seconds: float
    stage_cpu_seconds: float
    broker_cpu_seconds: float
    machine_busy_seconds: float

    @property
    def cores_per_replica(self) -> float:
        """Mean share of a core each replica got: near 1 when CPU-bound and not starved by other work."""
        return self.stage_cpu_seconds / self.seconds / self.replicas

    @property
    def other_load_cores(self) -> float:
        """Cores that processes other than these replicas and the broker kept busy: the run's noise."""
        return (self.machine_busy_seconds - self.stage_cpu_seconds - self.broker_cpu_seconds) / self.seconds

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


def per_1000(cpu_seconds_spent: float, units: float) -> float:
    return cpu_seconds_spent / units * 1000


async def preload(config: KafkaConfig, catalog: Catalog) -> int:
    """Produce every listing page of ``catalog`` to the pages topic; returns the raw bytes sent."""
    producer = kafka.producer(config, client_id="scale-preload")
    await kafka.start(producer, config)
    raw = 0
    try:
        pending = []
        for n in range(1, catalog.pages + 1):
            url = f"{PAGE_BASE}{catalog.listing_path(n)}"
            body = render_listing(catalog, n)
            headers = encode_page_headers({
                "url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
                "fetched_at": utc_now(), "timings": {"total": 0.01},
                "url_message": {"url": url, "depth": 0, "attempt": 1},
            })
            raw += len(body) + len(url) + sum(len(k) + len(v) for k, v in headers)
            pending.append(await producer.send(config.topic_pages, body, key=url.encode(), headers=headers))
            if len(pending) >= PRELOAD_BATCH:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return raw


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()._asdict()
    # Linux counts guest time inside user time already.
    idle = sum(times.get(name, 0.0) for name in ("idle", "iowait", "guest", "guest_nice"))
    return sum(times.values()) - idle


def topic_disk_bytes(state: Path, topic: str) -> int:
    """Bytes of the topic's log segments (index files are preallocated, so they are left out)."""
    return sum(f.stat().st_size for d in (state / "data").glob(f"{topic}-*") if d.is_dir()
               for f in d.glob("*.log"))


def owned_partitions(log: Path, topic: str) -> set[int] | None:
    if not log.exists():
        return None
    lines = re.findall(r"rebalance: assigned (.*)", log.read_text(errors="replace"))
    if not lines:
        return None
    return {int(p) for p in re.findall(rf"{re.escape(topic)}\[(\d+)\]", lines[-1])}


async def committed_and_end(admin, probe, group: str, tps: list[TopicPartition]) -> tuple[int, int]:
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    except GroupCoordinatorNotAvailableError:  # the offsets topic is still being created
        offsets = {}
    ends = await probe.end_offsets(tps)
    return sum(max(0, meta.offset) for meta in offsets.values()), sum(ends.values())


async def measure(config: KafkaConfig, group: str, topic: str, partitions: int, replicas: list[Stages],
                  stage: str, broker: int, timeout: float) -> Phase:
    """Wait until the replicas share the topic, then time them until the group has committed its end."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    async with monitor_clients(config, "scale") as (admin, probe):
        deadline = time.monotonic() + timeout
        while True:
            owned = [owned_partitions(r.log_dir / f"{stage}.log", topic) for r in replicas]
            every = [p for parts in owned if parts for p in parts]
            if all(owned) and len(every) == len(set(every)) == partitions:
                break
            for r in replicas:
                if r.processes[stage].poll() is not None:
                    raise RuntimeError(f"{stage} exited; see {r.log_dir / f'{stage}.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(replicas)} {stage} replicas did not share {topic}")
            await asyncio.sleep(POLL_SECONDS)
        pids = [r.processes[stage].pid for r in replicas]
        started = time.monotonic()
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        broker0 = cpu_seconds(broker)
        busy0 = machine_busy_seconds()
        done0, _ = await committed_and_end(admin, probe, group, tps)
        while True:
            done, end = await committed_and_end(admin, probe, group, tps)
            if done >= end:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stage} group {group} committed {done} of {end}")
            await asyncio.sleep(POLL_SECONDS)
        return Phase(label=f"{stage}s_{len(replicas)}", replicas=len(replicas), messages=done - done0,
                     seconds=time.monotonic() - started,
                     stage_cpu_seconds=sum(cpu_seconds(pid) for pid in pids) - cpu0,
                     broker_cpu_seconds=cpu_seconds(broker) - broker0,
                     machine_busy_seconds=machine_busy_seconds() - busy0)


def run_phase(stage: str, count: int, env: dict[str, str], out: Path, topic: str, partitions: int,
              state: Path, timeout: float) -> Phase:
    prefix = f"scale-{stage}s{count}-{int(time.time())}"
    env = {**env, "CRAWLPIPE_GROUP_PREFIX": prefix}
    replicas = []
    for i in range(1, count + 1):
        log_dir = out / f"{stage}s-{count}" / f"replica-{i}"
        log_dir.mkdir(parents=True, exist_ok=True)
        replicas.append(Stages(env, log_dir))
    try:
        for replica in replicas:
            replica.start(stage)
        config = KafkaConfig(bootstrap=env["CRAWLPIPE_BOOTSTRAP"], group_prefix=prefix)
        return asyncio.run(measure(config, config.group(stage), topic, partitions, replicas, stage,
                                   broker_pid(state), timeout))
    finally:
        for replica in replicas:
            replica.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4000, help="shop pages pre-loaded into the pages topic")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument("--port", type=int, default=None,
                        help="port of the benchmark's own broker (its controller takes the next one); default: free")
    parser.add_argument("--timeout-seconds", type=float, default=1800, help="longest wait for one phase")
    parser.add_argument("--skip-stage-costs", action="store_true", help="measure the parsers only")
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"scale-{int(time.time())}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(args.pages)
    state = ROOT / "var/bench/scale-kafka"
    partitions = str(args.partitions)

    with kafka_broker(state, args.port or free_port_pair()) as bootstrap:
        config = KafkaConfig(bootstrap=bootstrap)
        env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_RULES": str(ROOT / "stages/demoshop/rules.toml"),
               "CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_LOG_LEVEL": "INFO",
               # The clock stops at the last commit: commit often so it stops close to the last page.
               "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "0.1"}
        topics = ("topics", "create", "--urls-partitions", partitions, "--pages-partitions", partitions,
                  "--products-partitions", partitions)
        crawlpipe(*topics, env=env)
        raw = asyncio.run(preload(config, catalog))
        disk = topic_disk_bytes(state, config.topic_pages)
        print(f"scale: pages={args.pages} avg_page_kb={raw / args.pages / 1024:.1f} raw_mb={raw / 2**20:.1f} "
              f"on_disk_mb={disk / 2**20:.1f} pages_topic_compression_ratio={raw / disk:.2f} (preloaded)")

        phases = [run_phase("parser", n, env, args.out, config.topic_pages, args.partitions, state,
                            args.timeout_seconds) for n in (1, 2)]
        for phase in phases:
            print(f"scale {phase.label}: pages={phase.messages} seconds={phase.seconds:.2f} "
                  f"pages_per_s={phase.per_second:.0f} "
                  f"parser_cpu_s_per_1000_pages={per_1000(phase.stage_cpu_seconds, phase.messages):.3f} "
                  f"broker_cpu_s_per_1000_pages={per_1000(phase.broker_cpu_seconds, phase.messages):.3f} "
                  f"cores_per_replica={phase.cores_per_replica:.2f} other_load_cores={phase.other_load_cores:.2f}")

        products_disk = topic_disk_bytes(state, config.topic_products)
        print(f"scale: products_topic_on_disk_bytes_per_page={products_disk / (2 * args.pages):.0f} "
              f"(both parser runs wrote every page's products)")

        if not args.skip_stage_costs:
            products_per_page = sum(len(catalog.page_products(n)) for n in range(1, args.pages + 1)) / args.pages
            sink_env = {**env, "CRAWLPIPE_STORAGE": f"sqlite:///{args.out / 'products.db'}"}
            sink = run_phase("sink", 1, sink_env, args.out, config.topic_products, args.partitions, state,
                             args.timeout_seconds)
            sink_pages = sink.messages / products_per_page
            print(f"scale sinks_1: products={sink.messages} products_per_s={sink.per_second:.0f} "
                  f"sink_cpu_s_per_1000_pages={per_1000(sink.stage_cpu_seconds, sink_pages):.3f} "
                  f"broker_cpu_s_per_1000_pages={per_1000(sink.broker_cpu_seconds, sink_pages):.3f} "
                  f"(sqlite, {products_per_page:.1f} products per page)")

            fetch_env = {**env, "CRAWLPIPE_TOPIC_PAGES": FETCHED_PAGES_TOPIC,
                         "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8"}
            crawlpipe(*topics, env=fetch_env)
            with shop(args.pages) as base_url:
                seeds = args.out / "urls.txt"
                seeds.write_text("".join(f"{u}\n" for u in catalog.listing_urls(base_url)))
                crawlpipe("publish", str(seeds), env=fetch_env)
                fetcher = run_phase("fetcher", 1, fetch_env, args.out, config.topic_urls, args.partitions,
                                    state, args.timeout_seconds)
            # The shop serves the very bodies that were pre-loaded, so the pre-load's raw
            # bytes stand for what the fetcher wrote (its headers differ by a few bytes a page).
            fetched_disk = topic_disk_bytes(state, FETCHED_PAGES_TOPIC)
            print(f"scale fetchers_1: pages={fetcher.messages} pages_per_s={fetcher.per_second:.0f} "
                  f"fetcher_cpu_s_per_1000_pages={per_1000(fetcher.stage_cpu_seconds, fetcher.messages):.3f} "
                  f"broker_cpu_s_per_1000_pages={per_1000(fetcher.broker_cpu_seconds, fetcher.messages):.3f} "
                  f"pages_topic_compression_ratio={raw / fetched_disk:.2f} (fetcher's own batches; one host)")

    one, two = phases
    print(f"scale: parsers_1_pages_per_s={one.per_second:.0f} parsers_2_pages_per_s={two.per_second:.0f} "
          f"ratio={two.per_second / one.per_second:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
