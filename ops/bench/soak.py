"""ops/bench/soak: run the whole pipeline over N shop pages and show that memory stays flat.

Samples each stage's RSS every second into a CSV, plots RSS against pages
processed (PNG), and prints each stage's peak RSS and its growth after
warm-up (median RSS over the last fifth of the run against the second
fifth, in MB per 100,000 pages; see ``harness.growth_per_100k``). ``--hostile`` mixes in multi-MB pages: the peak must stay under the
bound the configuration implies (README, "Memory model"). Last lines:

    soak <stage>: peak_rss_mb=<x> growth_mb_per_100k=<y>
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from harness import (
    ROOT,
    Stages,
    crawlpipe,
    growth_per_100k,
    kafka_broker,
    monitor_clients,
    rss_mb,
    shop,
    stop,
)

from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog

STAGES = ("fetcher", "parser", "sink")


async def committed(admin, config: KafkaConfig, stage: str, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    try:
        offsets = await admin.list_consumer_group_offsets(config.group(stage), partitions=tps)
    except GroupCoordinatorNotAvailableError:  # the offsets topic is still being created
        return 0
    return sum(max(0, meta.offset) for meta in offsets.values())


async def monitor(config: KafkaConfig, stages: Stages, pages: int, products_per_page: float, out: Path,
                  partitions: int, timeout: float) -> dict[str, list[tuple[float, float]]]:
    """Sample until every page is parsed and every product stored; returns (pages, rss) per stage."""
    async with monitor_clients(config, "soak") as (admin, probe):
        series: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
        started = time.monotonic()
        with open(out / "rss.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seconds", "stage", "rss_mb", "pages_processed"])
            while True:
                fetched = await committed(admin, config, "fetcher", config.topic_urls, partitions)
                parsed = await committed(admin, config, "parser", config.topic_pages, partitions)
                stored = await committed(admin, config, "sink", config.topic_products, partitions)
                progress = {"fetcher": fetched, "parser": parsed, "sink": stored / products_per_page}
                now = time.monotonic() - started
                for stage in STAGES:
                    process = stages.processes[stage]
                    if process.poll() is not None:
                        raise RuntimeError(f"{stage} exited with {process.returncode}; see {out}/{stage}.log")
                    rss = rss_mb(process.pid)
                    series[stage].append((progress[stage], rss))
                    writer.writerow([f"{now:.1f}", stage, f"{rss:.1f}", f"{progress[stage]:.0f}"])
                f.flush()
                ends = await probe.end_offsets([TopicPartition(config.topic_products, p) for p in range(partitions)])
                if parsed >= pages and stored >= sum(ends.values()):
                    return series
                if now > timeout:
                    raise TimeoutError(f"soak did not finish in {timeout:.0f} s: fetched {fetched}, "
                                       f"parsed {parsed}, stored {stored}")
                print(f"soak: {now:6.0f} s fetched {fetched} parsed {parsed} stored {stored:.0f} "
                      + " ".join(f"{s}={series[s][-1][1]:.0f}MB" for s in STAGES), file=sys.stderr)
                await asyncio.sleep(1.0)


def plot(series: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for stage, points in series.items():
        ax.plot([x for x, _ in points], [y for _, y in points], label=stage)
    ax.set_xlabel("pages processed")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def summarise(series: dict[str, list[tuple[float, float]]], pages: int) -> dict[str, tuple[float, float]]:
    return {stage: (max(y for _, y in points), growth_per_100k(points, pages)) for stage, points in series.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200_000, help="shop pages to crawl")
    parser.add_argument("--hostile", action="store_true", help="make every 50th page a multi-MB page")
    parser.add_argument("--huge-bytes", type=int, default=4 * 2**20, help="size of the hostile pages")
    parser.add_argument("--port", type=int, default=39192, help="port of the benchmark's own broker")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--timeout-seconds", type=float, default=6 * 3600)
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"soak-{int(time.time())}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(args.pages)
    products_per_page = sum(len(catalog.page_products(n)) for n in range(1, min(args.pages, 500) + 1)) \
        / min(args.pages, 500)

    with kafka_broker(ROOT / "var/bench/soak-kafka", args.port) as bootstrap, shop(args.pages) as base_url:
        huge = None
        if args.hostile:
            huge = subprocess.Popen([sys.executable, str(ROOT / "ops/bench/hugepages.py"), "--pages",
                                     str(args.pages), "--bytes", str(args.huge_bytes)], stdout=subprocess.PIPE,
                                    text=True)
        try:
            huge_url = huge.stdout.readline().strip() if huge else None
            config = KafkaConfig(bootstrap=bootstrap)
            env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
                   "CRAWLPIPE_RULES": str(ROOT / "stages/demoshop/rules.toml"),
                   "CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_LOG_LEVEL": "INFO",
                   "CRAWLPIPE_STORAGE": f"sqlite:///{args.out / 'products.db'}"}
            partitions = str(args.partitions)
            crawlpipe("topics", "create", "--urls-partitions", partitions, "--pages-partitions", partitions,
                      "--products-partitions", partitions, env=env)
            seeds = args.out / "urls.txt"
            with open(seeds, "w") as f:
                for n in range(1, args.pages + 1):
                    if huge_url and n % 50 == 0:
                        f.write(f"{huge_url}/huge/{n}.html\n")
                    else:
                        f.write(f"{base_url}/list/{n}.html\n")
            crawlpipe("publish", str(seeds), env=env)
            stages = Stages(env, args.out)
            try:
                for stage in STAGES:
                    stages.start(stage)
                series = asyncio.run(monitor(config, stages, args.pages, products_per_page, args.out,
                                             args.partitions, args.timeout_seconds))
            finally:
                codes = stages.stop_all()
        finally:
            if huge:
                stop(huge)
    variant = "hostile (every 50th page multi-MB)" if args.hostile else "default settings"
    plot(series, args.out / "rss.png", f"crawlpipe soak: RSS per stage, {args.pages} pages, {variant}")
    print(f"soak: samples in {args.out / 'rss.csv'}, plot in {args.out / 'rss.png'}; exit codes {codes}")
    for stage, (peak, growth) in summarise(series, args.pages).items():
        print(f"soak {stage}: peak_rss_mb={peak:.1f} growth_mb_per_100k={growth:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
