"""ops/bench/soak: run the whole pipeline over N shop pages and show that memory stays flat.

Two runs, each with its own broker, shop and stages at default settings:
the shop (``--pages``, default 50,000: cycles that only a collector frees
take 30,000+ pages to show) and the hostile mix (``--hostile-pages``, every
50th page multi-MB). Each samples every stage's RSS once a second into a
CSV, plots RSS against pages processed (PNG) and prints per stage:

    soak <stage>: peak_rss_mb=<x> growth_mb_per_100k=<y> budget_mb=<b>
    soak hostile <stage>: peak_rss_mb=<x> growth_mb_per_100k=<y> budget_mb=<b>

A third run, the scheduler's (``--scheduler-urls``, default 1,000,000;
``soak_scheduler.py``), puts a catalogue of product URLs through ``crawlpipe
scheduler`` and prints its peak RSS and growth per 100k URLs the same way
(targets ``--scheduler-max-peak-mb`` 150 and ``--scheduler-max-growth-mb-per-100k`` 2).
``--pages 0`` / ``--hostile-pages 0`` / ``--scheduler-urls 0`` skip a run.

Growth is the least-squares slope of RSS against pages processed after the
first 10% of the run (``harness.growth_per_100k``); the budget is the one the
stage logged at start. It exits 1 when any shop peak passes ``--max-peak-mb``
or its budget, any shop growth passes ``--max-growth-mb-per-100k``, any
hostile peak passes its budget (multi-MB pages are what the budget is for),
or the scheduler misses one of its targets.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from harness import ROOT, Stages, crawlpipe, growth_per_100k, kafka_broker, monitor_clients, rss_mb, shop, stop
from soak_scheduler import misses as scheduler_misses
from soak_scheduler import soak_scheduler

from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog

STAGES = ("fetcher", "parser", "sink")
BUDGET_LINE = re.compile(r"memory budget: (\d+) MB")


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


def logged_budget_mb(log: Path) -> float:
    match = BUDGET_LINE.search(log.read_text(errors="replace"))
    if match is None:
        raise RuntimeError(f"{log} has no 'memory budget' line: did the stage start?")
    return float(match.group(1))


@dataclass(frozen=True)
class StageResult:
    peak_mb: float
    growth_mb_per_100k: float
    budget_mb: float


def soak(pages: int, *, hostile: bool, args: argparse.Namespace) -> dict[str, StageResult]:
    """One run of the whole pipeline over ``pages`` pages, in its own directory under ``args.out``."""
    out = args.out / ("hostile" if hostile else "shop")
    out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(pages)
    products_per_page = sum(len(catalog.page_products(n)) for n in range(1, min(pages, 500) + 1)) \
        / min(pages, 500)
    port = args.port + 2 if hostile else args.port
    with kafka_broker(ROOT / f"var/bench/soak-kafka-{port}", port) as bootstrap, shop(pages) as base_url:
        huge = None
        if hostile:
            huge = subprocess.Popen([sys.executable, str(ROOT / "ops/bench/hugepages.py"), "--pages",
                                     str(pages), "--bytes", str(args.huge_bytes)], stdout=subprocess.PIPE,
                                    text=True)
        try:
            huge_url = huge.stdout.readline().strip() if huge and huge.stdout else None
            config = KafkaConfig(bootstrap=bootstrap)
            env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
                   "CRAWLPIPE_RULES": str(ROOT / "stages/demoshop/rules.toml"),
                   "CRAWLPIPE_FOLLOW_LINKS": "false", "CRAWLPIPE_LOG_LEVEL": "INFO",
                   "CRAWLPIPE_STORAGE": f"sqlite:///{out / 'products.db'}"}
            partitions = str(args.partitions)
            crawlpipe("topics", "create", "--urls-partitions", partitions, "--pages-partitions", partitions,
                      "--products-partitions", partitions, env=env)
            seeds = out / "urls.txt"
            with open(seeds, "w") as f:
                for n in range(1, pages + 1):
                    if huge_url and n % 50 == 0:
                        f.write(f"{huge_url}/huge/{n}.html\n")
                    else:
                        f.write(f"{base_url}/list/{n}.html\n")
            crawlpipe("publish", str(seeds), env=env)
            stages = Stages(env, out)
            try:
                for stage in STAGES:
                    stages.start(stage)
                series = asyncio.run(monitor(config, stages, pages, products_per_page, out,
                                             args.partitions, args.timeout_seconds))
            finally:
                codes = stages.stop_all()
        finally:
            if huge:
                stop(huge)
    variant = "hostile mix (every 50th page multi-MB)" if hostile else "default settings"
    plot(series, out / "rss.png", f"crawlpipe soak: RSS per stage, {pages} pages, {variant}")
    print(f"soak: samples in {out / 'rss.csv'}, plot in {out / 'rss.png'}; exit codes {codes}")
    return {stage: StageResult(max(y for _, y in points), growth_per_100k(points, pages),
                               logged_budget_mb(out / f"{stage}.log"))
            for stage, points in series.items()}


def misses(results: dict[str, StageResult], *, label: str, max_peak_mb: float | None,
           max_growth: float | None) -> list[str]:
    found = []
    for stage, result in results.items():
        print(f"soak {label}{stage}: peak_rss_mb={result.peak_mb:.1f} "
              f"growth_mb_per_100k={result.growth_mb_per_100k:.2f} budget_mb={result.budget_mb:.0f}")
        if result.peak_mb > result.budget_mb:
            found.append(f"{label}{stage} peak {result.peak_mb:.1f} MB above its budget {result.budget_mb:.0f} MB")
        if max_peak_mb is not None and result.peak_mb > max_peak_mb:
            found.append(f"{label}{stage} peak {result.peak_mb:.1f} MB above {max_peak_mb:.0f} MB")
        if max_growth is not None and result.growth_mb_per_100k > max_growth:
            found.append(f"{label}{stage} growth {result.growth_mb_per_100k:.2f} MB per 100k pages "
                         f"above {max_growth:.2f}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50_000, help="shop pages to crawl")
    parser.add_argument("--hostile-pages", type=int, default=5_000,
                        help="pages of the hostile run (every 50th multi-MB); 0 skips it")
    parser.add_argument("--huge-bytes", type=int, default=4 * 2**20, help="size of the hostile pages")
    parser.add_argument("--max-peak-mb", type=float, default=120.0, help="target: peak RSS of each stage")
    parser.add_argument("--max-growth-mb-per-100k", type=float, default=2.0,
                        help="target: RSS growth of each stage per 100,000 pages")
    parser.add_argument("--port", type=int, default=39192, help="port of the benchmark's own broker")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--scheduler-urls", type=int, default=1_000_000,
                        help="product URLs of the scheduler run; 0 skips it")
    parser.add_argument("--scheduler-hosts", type=int, default=5_000, help="hosts the scheduler run's URLs are on")
    parser.add_argument("--scheduler-dispatch-seconds", type=float, default=60.0,
                        help="how long the scheduler run goes on dispatching after its last record")
    parser.add_argument("--scheduler-recrawls-per-second", type=float, default=1000.0,
                        help="the scheduler run's --max-recrawls-per-second")
    parser.add_argument("--scheduler-max-peak-mb", type=float, default=150.0, help="target: scheduler peak RSS")
    parser.add_argument("--scheduler-max-growth-mb-per-100k", type=float, default=2.0,
                        help="target: scheduler RSS growth per 100,000 URLs")
    parser.add_argument("--timeout-seconds", type=float, default=6 * 3600)
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"soak-{int(time.time())}")
    args = parser.parse_args()
    found = []
    if args.pages:
        found += misses(soak(args.pages, hostile=False, args=args), label="", max_peak_mb=args.max_peak_mb,
                        max_growth=args.max_growth_mb_per_100k)
    if args.hostile_pages:
        found += misses(soak(args.hostile_pages, hostile=True, args=args), label="hostile ",
                        max_peak_mb=None, max_growth=None)
    if args.scheduler_urls:
        result = soak_scheduler(args.scheduler_urls, hosts=args.scheduler_hosts, partitions=args.partitions,
                                port=args.port + 4, dispatch_seconds=args.scheduler_dispatch_seconds,
                                recrawls_per_second=args.scheduler_recrawls_per_second, out=args.out / "scheduler",
                                timeout=args.timeout_seconds, logged_budget_mb=logged_budget_mb)
        found += scheduler_misses(result, args.scheduler_urls, max_peak_mb=args.scheduler_max_peak_mb,
                                  max_growth=args.scheduler_max_growth_mb_per_100k)
    for miss in found:
        print(f"soak: MISSED: {miss}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
