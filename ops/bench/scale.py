"""ops/bench/scale: throughput of 1, 2 and 4 replicas of each stage, every replica in its own CPU-quota cgroup.

On a machine with few cores, replicas that may each take a whole core compete
for them and say nothing about how a stage scales. Here each measured replica
runs in a cgroup capped at ``--cores-per-replica`` (default 0.25), so 4
replicas take one core and the broker and the site keep the other; the
efficiency ``r<n> / (n * r1)`` then measures the stage: its partition
assignment, its broker round trips, what replicas share.

1. Prepares each stage's input in its topic beforehand (4 partitions, equal
   work per partition): the fetcher's URLs over ``--hosts`` loopback
   addresses (127.0.0.10 and up) of one nginx serving the static shop, one
   host's URLs in one partition as ``crawl.urls`` is keyed by host; the
   parser's pages (shop listing pages, as the fetcher writes them); the
   sink's products are what the parser runs wrote, copied
   ``--sink-input-copies`` more times (the sink reads them faster).
2. For each stage and 1, 2, 4 replicas (a fresh consumer group each time,
   reading its topic from the start): waits until the replicas own every
   partition between them, lets them warm up, then counts the offsets the
   group commits in ``--window-seconds``. The input must outlast the window;
   a run where it does not fails and says so. The replicas' groups, and one
   without a quota for the broker and the site, share a parent that outweighs
   the rest of the machine, so other work cannot starve them of their quota.
3. Prints each run's profile (CPU used by each replica against its quota,
   time throttled, broker CPU, partitions owned) and per stage::

       scale <stage>: r1=<p/s> r2=<p/s> r4=<p/s> eff2=<r2/2r1> eff4=<r4/4r1>

   and last ``scale: min_eff2=<x> min_eff4=<y>``; exits 1 when
   ``min_eff2 < 0.9`` or ``min_eff4 < 0.85``, 2 when CPU quotas cannot be set.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from cgroups import CgroupUnavailable, CpuGroup, CpuQuotas, CpuUse
from harness import (
    ROOT,
    Stages,
    broker_pid,
    cpu_seconds,
    crawlpipe,
    free_port_pair,
    kafka_broker,
    machine,
    monitor_clients,
    nginx,
    shop_dir,
)

from stages.core import kafka
from stages.core.config import KafkaConfig
from stages.core.messages import encode_page_headers, encode_url, utc_now
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing

REPLICAS = (1, 2, 4)
PARTITIONS = 4
TARGET_EFF2 = 0.9
TARGET_EFF4 = 0.85
# Any 127.0.0.1 URL: the shop's rules (stages/demoshop/rules.toml) apply, nothing is fetched.
PAGE_BASE = "http://127.0.0.1:8000"
FETCHED_PAGES_TOPIC = "scale.fetched"
FIRST_HOST = 10
PRELOAD_BATCH = 500
POLL_SECONDS = 0.2


@dataclass
class Phase:
    """One run of ``replicas`` replicas of ``stage`` over the measured window."""

    stage: str
    replicas: int
    messages: int
    seconds: float
    uses: list[CpuUse]
    broker_cpu_seconds: float
    owned: list[set[int]]
    per_partition: dict[int, int]

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    def profile(self, cores: float) -> str:
        used = " ".join(f"{u.cpu_seconds / self.seconds / cores:.2f}" for u in self.uses)
        throttled = " ".join(f"{u.throttled_periods / max(u.periods, 1):.2f}" for u in self.uses)
        owned = " ".join(",".join(map(str, sorted(parts))) for parts in self.owned)
        spread = " ".join(f"{p}:{n}" for p, n in sorted(self.per_partition.items()))
        return (f"scale {self.stage} r{self.replicas}: messages={self.messages} seconds={self.seconds:.1f} "
                f"per_s={self.per_second:.0f} quota_used=[{used}] throttled_periods=[{throttled}] "
                f"cpu_ms_per_message={sum(u.cpu_seconds for u in self.uses) / self.messages * 1000:.3f} "
                f"broker_cores={self.broker_cpu_seconds / self.seconds:.2f} partitions=[{owned}] "
                f"committed_per_partition=[{spread}]")


class InputExhausted(RuntimeError):
    """A run read its whole input before its window closed: its rate would be understated."""


def host_addresses(hosts: int) -> tuple[str, ...]:
    return tuple(f"127.0.0.{FIRST_HOST + i}" for i in range(hosts))


async def produce_all(config: KafkaConfig, records: Iterable[tuple[str, bytes, bytes, list, int]]) -> int:
    """Send ``(topic, value, key, headers, partition)`` records, a batch of acknowledgements awaited at a time."""
    producer = kafka.producer(config, client_id="scale-preload")
    await kafka.start(producer, config)
    count = 0
    try:
        pending = []
        for topic, value, key, headers, partition in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers, partition=partition))
            count += 1
            if len(pending) >= PRELOAD_BATCH:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


def shop_pages(config: KafkaConfig, catalog: Catalog) -> Iterator[tuple[str, bytes, bytes, list, int]]:
    """Every listing page of ``catalog`` as the fetcher writes it, dealt round-robin so each partition gets as many."""
    for n in range(1, catalog.pages + 1):
        url = f"{PAGE_BASE}{catalog.listing_path(n)}"
        headers = encode_page_headers({
            "url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
            "fetched_at": utc_now(), "timings": {"total": 0.01},
            "url_message": {"url": url, "depth": 0, "attempt": 1},
        })
        yield config.topic_pages, render_listing(catalog, n), url.encode(), headers, n % PARTITIONS


def shop_urls(config: KafkaConfig, catalog: Catalog, addresses: tuple[str, ...],
              port: int) -> Iterator[tuple[str, bytes, bytes, list, int]]:
    """Every listing page on every host as a URL message, host ``i`` in partition ``i % 4``.

    ``crawl.urls`` is keyed by host (one fetcher enforces a host's politeness);
    placing the hosts by hand rather than by hash gives each partition the same
    number of hosts and URLs, so the runs measure the stage, not the hash's luck.
    """
    for n in range(1, catalog.pages + 1):
        for i, address in enumerate(addresses):
            key, value = encode_url({"url": f"http://{address}:{port}{catalog.listing_path(n)}", "depth": 0,
                                     "attempt": 1})
            yield config.topic_urls, value, key, [], i % PARTITIONS


async def copy_records(config: KafkaConfig, topic: str, times: int) -> int:
    """Append ``times`` more copies of every record now in ``topic`` (same key, so same partition); returns its size.

    The sink reads products faster than the parser runs write them; copies of
    real parser output give its runs enough input. Streamed: one fetch at a time.
    """
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    reader = kafka.consumer(config, group=None, client_id="scale-copy")
    producer = kafka.producer(config, client_id="scale-copy")
    await reader.start()
    await kafka.start(producer, config)
    try:
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        await reader.seek_to_beginning(*tps)
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            pending = []
            for tp, records in (await reader.getmany(*left, timeout_ms=1000)).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        left.discard(tp)
                        break
                    pending += [await producer.send(topic, record.value, key=record.key, partition=tp.partition)
                                for _ in range(times)]
                    if record.offset == ends[tp] - 1:
                        left.discard(tp)
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
        await reader.stop()
    return sum(ends.values()) * (times + 1)


def owned_partitions(log: Path, topic: str) -> set[int] | None:
    if not log.exists():
        return None
    lines = re.findall(r"rebalance: assigned (.*)", log.read_text(errors="replace"))
    if not lines:
        return None
    return {int(p) for p in re.findall(rf"{re.escape(topic)}\[(\d+)\]", lines[-1])}


async def progress(admin, probe, group: str, tps: list[TopicPartition]) -> tuple[dict[int, int], int]:
    """The group's committed offset per partition, and the topic's end offsets summed."""
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    except GroupCoordinatorNotAvailableError:  # the offsets topic is still being created
        offsets = {}
    ends = await probe.end_offsets(tps)
    return {tp.partition: max(0, meta.offset) for tp, meta in offsets.items()}, sum(ends.values())


@dataclass(frozen=True)
class Run:
    """What every phase shares."""

    env: dict[str, str]
    out: Path
    state: Path
    quotas: CpuQuotas
    cores: float
    warmup_seconds: float
    window_seconds: float
    timeout_seconds: float


async def measure(run: Run, config: KafkaConfig, stage: str, topic: str, replicas: list[Stages],
                  groups: list[CpuGroup]) -> Phase:
    """Wait until the replicas share the topic, warm up, then count what the group commits in the window."""
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    group = config.group(stage)
    deadline = time.monotonic() + run.timeout_seconds
    while True:
        owned = [owned_partitions(r.log_dir / f"{stage}.log", topic) for r in replicas]
        every = [p for parts in owned if parts for p in parts]
        if all(owned) and len(every) == len(set(every)) == PARTITIONS:
            break
        for r in replicas:
            if r.processes[stage].poll() is not None:
                raise RuntimeError(f"{stage} exited; see {r.log_dir / f'{stage}.log'}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(replicas)} {stage} replicas did not share {topic}")
        await asyncio.sleep(POLL_SECONDS)
    # The benchmark's own measuring interval, not a wait for an event.
    await asyncio.sleep(run.warmup_seconds)
    broker = broker_pid(run.state)
    async with monitor_clients(config, "scale") as (admin, probe):
        done0, _ = await progress(admin, probe, group, tps)
        uses0 = [g.use() for g in groups]
        broker0 = cpu_seconds(broker)
        started = time.monotonic()
        await asyncio.sleep(run.window_seconds)
        done1, end = await progress(admin, probe, group, tps)
        uses1 = [g.use() for g in groups]
        seconds = time.monotonic() - started
        broker1 = cpu_seconds(broker)
    if sum(done1.values()) >= end:
        raise InputExhausted(f"{len(replicas)} {stage} replicas read all {end} messages of {topic} within the "
                             f"window: prepare more input (--pages) or shorten --window-seconds")
    per_partition = {p: done1.get(p, 0) - done0.get(p, 0) for p in range(PARTITIONS)}
    return Phase(stage, len(replicas), sum(per_partition.values()), seconds,
                 [after - before for after, before in zip(uses1, uses0)], broker1 - broker0,
                 [parts or set() for parts in owned], per_partition)


def run_phase(run: Run, stage: str, count: int, topic: str, env: dict[str, str]) -> Phase:
    prefix = f"scale-{stage}{count}-{int(time.time())}"
    env = {**run.env, **env, "CRAWLPIPE_GROUP_PREFIX": prefix}
    replicas = []
    for i in range(1, count + 1):
        log_dir = run.out / f"{stage}-r{count}" / f"replica-{i}"
        log_dir.mkdir(parents=True, exist_ok=True)
        replicas.append(Stages(env, log_dir))
    with run.quotas.groups(f"{stage}-r{count}", count, run.cores) as groups:
        try:
            for i, (replica, group) in enumerate(zip(replicas, groups), start=1):
                extra = {}
                if stage == "sink":
                    extra["CRAWLPIPE_STORAGE"] = f"jsonl:///{replica.log_dir / 'products'}"
                # Joined right after the spawn: the interpreter's start-up is not measured anyway.
                group.add(replica.start(stage, **extra).pid)
            config = KafkaConfig(bootstrap=env["CRAWLPIPE_BOOTSTRAP"], group_prefix=prefix)
            return asyncio.run(measure(run, config, stage, topic, replicas, groups))
        finally:
            for replica in replicas:
                replica.stop_all()


def efficiency(rates: dict[int, float], n: int) -> float:
    return rates[n] / (n * rates[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20000,
                        help="shop listing pages pre-loaded for the parser")
    parser.add_argument("--hosts", type=int, default=64, help="loopback addresses the fetcher's site answers on")
    parser.add_argument("--pages-per-host", type=int, default=2000,
                        help="listing pages of the fetcher's site, each fetched once from every host")
    parser.add_argument("--sink-input-copies", type=int, default=3,
                        help="copies of the parser runs' products appended for the sink (it reads faster)")
    parser.add_argument("--cores-per-replica", type=float, default=0.25, help="CPU quota of each replica")
    parser.add_argument("--warmup-seconds", type=float, default=3.0, help="after the join, before counting")
    parser.add_argument("--window-seconds", type=float, default=15.0, help="how long each run is counted")
    parser.add_argument("--stages", nargs="+", default=["fetcher", "parser", "sink"],
                        choices=["fetcher", "parser", "sink"], help="stages to measure (sink needs parser)")
    parser.add_argument("--port", type=int, default=None,
                        help="port of the benchmark's own broker (its controller takes the next one); default: free")
    parser.add_argument("--timeout-seconds", type=float, default=300, help="longest wait for replicas to join")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache/e2e-shop", help="where the static shop is written")
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"scale-{int(time.time())}")
    args = parser.parse_args()
    if "sink" in args.stages and "parser" not in args.stages:
        parser.error("--stages sink needs parser: the sink reads the products the parser runs wrote")
    try:
        quotas = CpuQuotas.detect("crawlpipe-bench")
    except CgroupUnavailable as error:
        print(f"scale: cannot set CPU quotas: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"scale: {machine()}; cgroup v{quotas.version}, {args.cores_per_replica} core per replica, "
          f"{PARTITIONS} partitions, window {args.window_seconds:.0f} s")
    catalog = Catalog(args.pages)
    state = ROOT / "var/bench/scale-kafka"
    rates: dict[str, dict[int, float]] = {}
    try:
        with quotas.groups("services", 1, None) as (services,), \
                kafka_broker(state, args.port or free_port_pair()) as bootstrap:
            services.add(broker_pid(state))
            config = KafkaConfig(bootstrap=bootstrap)
            env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_RULES": str(ROOT / "stages/demoshop/rules.toml"),
                   "CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_LOG_LEVEL": "INFO",
                   "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "0.2",
                   # Each stage is measured alone: no downstream group exists to watch.
                   "CRAWLPIPE_LAG_CHECK_INTERVAL_SECONDS": "0",
                   "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8"}
            run = Run(env, args.out, state, quotas, args.cores_per_replica, args.warmup_seconds,
                      args.window_seconds, args.timeout_seconds)
            p = str(PARTITIONS)
            crawlpipe("topics", "create", "--urls-partitions", p, "--pages-partitions", p, "--products-partitions",
                      p, env=env)
            crawlpipe("topics", "create", "--urls-partitions", p, "--pages-partitions", p, "--products-partitions",
                      p, env={**env, "CRAWLPIPE_TOPIC_PAGES": FETCHED_PAGES_TOPIC})

            def measure_stage(stage: str, topic: str, stage_env: dict[str, str] | None = None) -> None:
                rates[stage] = {}
                for n in REPLICAS:
                    phase = run_phase(run, stage, n, topic, stage_env or {})
                    print(phase.profile(args.cores_per_replica), flush=True)
                    rates[stage][n] = phase.per_second

            if "fetcher" in args.stages:
                site_catalog = Catalog(args.pages_per_host)
                site = shop_dir(args.cache, args.pages_per_host, label="scale")
                addresses = host_addresses(args.hosts)
                with nginx(site, addresses) as (base, server):
                    for process in [server, *server.children()]:
                        services.add(process.pid)
                    port = int(base.rsplit(":", 1)[1])
                    urls = asyncio.run(produce_all(config, shop_urls(config, site_catalog, addresses, port)))
                    print(f"scale: {urls} URLs over {args.hosts} hosts prepared", flush=True)
                    measure_stage("fetcher", config.topic_urls, {"CRAWLPIPE_TOPIC_PAGES": FETCHED_PAGES_TOPIC})
            if "parser" in args.stages:
                asyncio.run(produce_all(config, shop_pages(config, catalog)))
                print(f"scale: {args.pages} pages prepared", flush=True)
                measure_stage("parser", config.topic_pages)
            if "sink" in args.stages:
                products = asyncio.run(copy_records(config, config.topic_products, args.sink_input_copies))
                print(f"scale: {products} products prepared", flush=True)
                measure_stage("sink", config.topic_products)
    except InputExhausted as error:
        print(f"scale: {error}", file=sys.stderr)
        return 1
    finally:
        quotas.remove()

    for stage, by_count in rates.items():
        print(f"scale {stage}: " + " ".join(f"r{n}={by_count[n]:.0f}" for n in REPLICAS)
              + f" eff2={efficiency(by_count, 2):.2f} eff4={efficiency(by_count, 4):.2f}")
    min_eff2 = min(efficiency(r, 2) for r in rates.values())
    min_eff4 = min(efficiency(r, 4) for r in rates.values())
    met = min_eff2 >= TARGET_EFF2 and min_eff4 >= TARGET_EFF4
    print(f"scale: min_eff2={min_eff2:.2f} min_eff4={min_eff4:.2f} "
          f"(targets {TARGET_EFF2} and {TARGET_EFF4}: {'met' if met else 'MISSED'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
