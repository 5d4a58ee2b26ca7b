"""ops/bench/e2e: crawlpipe end to end against a single-process crawler and Scrapy, over the same shop, in one run.

1. Writes the static demo shop (``--pages`` listing pages, default 20,000)
   with ``stages.demoshop.site.write_site`` into ``.cache/e2e-shop/<pages>``,
   reused when already complete, and serves it with nginx on a free loopback
   port (keep-alive on, access log off, one worker).
2. Runs, one after the other, over the same list of every listing URL:
   crawlpipe (its own broker, ``crawlpipe topics create``, the three stages as
   processes with link following off and JSON-lines storage, ``crawlpipe
   publish``, until the sink's group has committed every product the parser
   wrote), ``single_process.py`` (aiohttp + selectolax) and
   ``scrapy_shop.py`` (Scrapy, in ``.cache/bench-venv``).
3. For each: wall time, pages/s, CPU seconds per 1,000 pages summed over every
   process involved (crawlpipe: the three stages, ``publish`` and the broker's
   JVM over the crawl), peak RSS of each process (sampled every 0.5 s), and
   whether its output holds exactly the product URLs of
   ``Catalog.expected_products``. ``--runs N`` repeats and reports medians.

crawlpipe's clock starts when its stages are launched, so their start-up and
group join count, as the other two crawlers' interpreter start-up does; the
broker's start and topic creation do not. Its stages' CPU is read with psutil
just before they are stopped; the other two are timed and measured
(``os.wait4``) from launch to exit. nginx's CPU is reported but counted for
no one: it is the site being crawled.

Writes ``ops/bench/results/e2e-<date>-<pages>.md`` and a PNG chart next to
it. Last line:

    e2e: crawlpipe_pages_per_s=<a> single_process_pages_per_s=<b> scrapy_pages_per_s=<c> \
         crawlpipe_cpu_s_per_1000=<d> scrapy_cpu_s_per_1000=<e> vs_single=<a/b> vs_scrapy=<a/c>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson
import psutil
from aiokafka import TopicPartition
from harness import (
    ROOT,
    Stages,
    add_shop_run_arguments,
    broker_pid,
    cpu_seconds,
    crawlpipe,
    free_port_pair,
    kafka_broker,
    machine,
    monitor_clients,
    nginx,
    shop_dir,
    tree_cpu_seconds,
)
from scale import machine_busy_seconds
from soak import committed

from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog

CRAWLERS = ("crawlpipe", "single_process", "scrapy")
STAGES = ("fetcher", "parser", "sink")
SAMPLE_SECONDS = 0.5


@dataclass
class Result:
    """One crawler's run; ``cpu`` and ``peak_rss_mb`` are per process label."""

    crawler: str
    seconds: float
    pages: int
    cpu: dict[str, float]
    peak_rss_mb: dict[str, float]
    products: int
    expected: int
    complete: bool
    nginx_cpu_seconds: float
    other_load_cores: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return sum(self.cpu.values()) / self.pages * 1000


@dataclass
class RssSampler:
    """Peak RSS of each watched process, read every 0.5 s in a thread until ``stop``."""

    pids: dict[str, int] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    _done: threading.Event = field(default_factory=threading.Event)

    def watch(self, label: str, pid: int) -> None:
        self.pids[label] = pid
        self._sample(label, pid)

    def _sample(self, label: str, pid: int) -> None:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            rss = psutil.Process(pid).memory_info().rss / 2**20
            self.peaks[label] = max(self.peaks.get(label, 0.0), rss)

    def _run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            for label, pid in list(self.pids.items()):
                self._sample(label, pid)

    @contextlib.contextmanager
    def running(self) -> Iterator[RssSampler]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._done.set()
            thread.join()


# ---------------------------------------------------------------- the crawlers

def read_product_urls(paths: list[Path]) -> tuple[int, set[str]]:
    """Lines and distinct product URLs in JSON-lines files."""
    lines, urls = 0, set()
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                lines += 1
                urls.add(orjson.loads(line)["url"])
    return lines, urls


async def wait_for_pipeline(config: KafkaConfig, pages: int, stages: Stages, timeout: float) -> None:
    """Until the parser's group has committed every page and the sink's every product the parser wrote.

    Committed offsets, because each stage commits only after its output is
    acknowledged (the sink: after the batch is fsynced), and reading them costs
    the machine far less than re-reading the sink's files.
    """
    async with monitor_clients(config, "e2e") as (admin, probe):
        deadline = time.monotonic() + timeout
        described = {t["topic"]: len(t["partitions"])
                     for t in await admin.describe_topics([config.topic_pages, config.topic_products])}
        products = [TopicPartition(config.topic_products, p) for p in range(described[config.topic_products])]
        pages_partitions = described[config.topic_pages]
        while True:
            for name, process in stages.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {stages.log_dir}/{name}.log")
            parsed = await committed(admin, config, "parser", config.topic_pages, pages_partitions)
            if parsed >= pages:
                stored = await committed(admin, config, "sink", config.topic_products, len(products))
                if stored >= sum((await probe.end_offsets(products)).values()):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"crawlpipe did not finish in {timeout:.0f} s (parsed {parsed} of {pages})")
            await asyncio.sleep(SAMPLE_SECONDS)


def run_crawlpipe(urls_file: Path, pages: int, expected: set[str], out: Path, sampler: RssSampler,
                  server: psutil.Process, timeout: float, extra_env: dict[str, str]) -> Result:
    state = out / "kafka"
    with kafka_broker(state, free_port_pair()) as bootstrap:
        jsonl = out / "products"
        jsonl.mkdir(parents=True)
        env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
               "CRAWLPIPE_RULES": str(ROOT / "stages/demoshop/rules.toml"), "CRAWLPIPE_FOLLOW_LINKS": "false",
               "CRAWLPIPE_LOG_LEVEL": "WARNING", "CRAWLPIPE_STORAGE": f"jsonl:///{jsonl}", **extra_env}
        crawlpipe("topics", "create", env=env)
        broker = broker_pid(state)
        sampler.watch("broker", broker)
        stages = Stages(env, out)
        busy, nginx_cpu, broker_cpu = machine_busy_seconds(), tree_cpu_seconds(server), cpu_seconds(broker)
        started = time.monotonic()
        try:
            for stage in STAGES:
                sampler.watch(stage, stages.start(stage).pid)
            # Only publish is reaped while the stages run, so the children's rusage delta is its CPU.
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            crawlpipe("publish", str(urls_file), env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            asyncio.run(wait_for_pipeline(KafkaConfig(bootstrap=bootstrap), pages, stages, timeout))
            seconds = time.monotonic() - started
            cpu = {stage: cpu_seconds(stages.processes[stage].pid) for stage in STAGES}
            cpu["publish"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu["broker"] = cpu_seconds(broker) - broker_cpu
            nginx_cpu = tree_cpu_seconds(server) - nginx_cpu
            busy = machine_busy_seconds() - busy
        finally:
            codes = stages.stop_all()
    if any(codes.values()):
        print(f"e2e: crawlpipe stages exited with {codes}", file=sys.stderr)
    lines, found = read_product_urls(sorted(jsonl.glob("products-*.jsonl")) + sorted(jsonl.glob(".products-*.part")))
    print(f"e2e: crawlpipe wrote {lines} lines, {len(found)} distinct products", file=sys.stderr)
    return Result("crawlpipe", seconds, pages, cpu, {k: sampler.peaks[k] for k in (*STAGES, "broker")},
                  len(found), len(expected), found == expected, nginx_cpu,
                  (busy - sum(cpu.values()) - nginx_cpu) / seconds)


def run_process(name: str, argv: list[str], pages: int, expected: set[str], output: Path, out: Path,
                sampler: RssSampler, server: psutil.Process) -> Result:
    """Run one crawler process to its exit; ``os.wait4`` gives its exact CPU, children included."""
    busy, nginx_cpu = machine_busy_seconds(), tree_cpu_seconds(server)
    started = time.monotonic()
    with open(out / f"{name}.log", "wb") as log:
        pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)])
    sampler.watch(name, pid)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    nginx_cpu = tree_cpu_seconds(server) - nginx_cpu
    busy = machine_busy_seconds() - busy
    if os.waitstatus_to_exitcode(status):
        print(f"e2e: {name} exited with {os.waitstatus_to_exitcode(status)}; see {out / name}.log", file=sys.stderr)
    lines, found = read_product_urls([output] if output.exists() else [])
    print(f"e2e: {name} wrote {lines} lines, {len(found)} distinct products", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    return Result(name, seconds, pages, {name: cpu}, {name: sampler.peaks[name]}, len(found), len(expected),
                  found == expected, nginx_cpu, (busy - cpu - nginx_cpu) / seconds)


# ---------------------------------------------------------------- reporting

def median(results: list[Result], value) -> float:
    return statistics.median(value(r) for r in results)


def report(runs: dict[str, list[Result]], pages: int, machine_text: str, path: Path, chart: Path) -> str:
    rows = ["| crawler | wall s | pages/s | CPU s per 1,000 pages | CPU s per process | peak RSS MB per process "
            "| products / expected | complete | other load (cores) | nginx CPU s |",
            "|---|---:|---:|---:|---|---|---|---|---:|---:|"]
    for name, results in runs.items():
        labels = results[0].cpu.keys()
        cpu = ", ".join(f"{k} {median(results, lambda r, k=k: r.cpu[k]):.1f}" for k in labels)
        rss = ", ".join(f"{k} {median(results, lambda r, k=k: r.peak_rss_mb[k]):.0f}"
                        for k in results[0].peak_rss_mb)
        rows.append(
            f"| {name} | {median(results, lambda r: r.seconds):.1f} | {median(results, lambda r: r.pages_per_s):.0f} "
            f"| {median(results, lambda r: r.cpu_per_1000):.2f} | {cpu} | {rss} "
            f"| {min(r.products for r in results)} / {results[0].expected} "
            f"| {'yes' if all(r.complete for r in results) else 'NO'} "
            f"| {median(results, lambda r: r.other_load_cores):.2f} "
            f"| {median(results, lambda r: r.nginx_cpu_seconds):.1f} |")
    count = len(next(iter(runs.values())))
    text = (f"# ops/bench/e2e: {pages:,} shop listing pages, {count} run(s), medians\n\n"
            f"Machine: {machine_text}.\n\n"
            f"Command: `ops/bench/e2e --pages {pages} --runs {count}`. Same URL list (every listing page, "
            f"served by nginx on loopback) for all three, one after the other. CPU per 1,000 pages sums every "
            f"process of the crawler (crawlpipe: fetcher, parser, sink, publish and the broker's JVM during the "
            f"crawl). \"Other load\" is the cores kept busy by everything else while the crawler ran (nginx, "
            f"this driver, other work on the machine).\n\n" + "\n".join(rows) + f"\n\n![chart]({chart.name})\n")
    path.write_text(text)
    return text


def plot(runs: dict[str, list[Result]], pages: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    panels = [("pages/s (higher is better)", lambda r: r.pages_per_s),
              ("CPU s per 1,000 pages, all processes", lambda r: r.cpu_per_1000),
              ("peak RSS MB, sum over processes", lambda r: sum(r.peak_rss_mb.values()))]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 4))
    for ax, (title, value) in zip(axes, panels, strict=False):
        values = [median(runs[n], value) for n in names]
        bars = ax.bar(names, values, color=["#2b6cb0", "#718096", "#c05621"][:len(names)])
        ax.bar_label(bars, fmt="%.1f")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"ops/bench/e2e: {pages:,} shop pages on nginx, medians of {len(runs[names[0]])} run(s)")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20_000, help="shop listing pages to crawl")
    parser.add_argument("--runs", type=int, default=1, help="repetitions; medians are reported")
    parser.add_argument("--scrapy-python", required=True, help="python of the venv Scrapy is installed in")
    add_shop_run_arguments(parser, "e2e", timeout_seconds=3600, timeout_help="longest crawlpipe run",
                           env_help="extra CRAWLPIPE_* setting for crawlpipe's stages (repeatable), to try tuning")
    parser.add_argument("--crawlers", nargs="+", choices=CRAWLERS, default=list(CRAWLERS),
                        help="run only these (to try tuning); the last line needs all three")
    args = parser.parse_args()
    extra_env = dict(args.crawlpipe_env)
    machine_text = machine()
    site = shop_dir(args.cache, args.pages, "e2e")
    catalog = Catalog(args.pages)
    runs: dict[str, list[Result]] = {name: [] for name in args.crawlers}
    with nginx(site) as (base, server):
        expected = {product["url"] for product in catalog.expected_products(base)}
        args.out.mkdir(parents=True, exist_ok=True)
        urls_file = args.out / "urls.txt"
        urls_file.write_text("\n".join(catalog.listing_urls(base)) + "\n")
        for run in range(1, args.runs + 1):
            out = args.out / f"run-{run}"
            for name in args.crawlers:
                (out / name).mkdir(parents=True)
                print(f"e2e: run {run}/{args.runs}: {name}", file=sys.stderr)
                with RssSampler().running() as sampler:
                    if name == "crawlpipe":
                        result = run_crawlpipe(urls_file, args.pages, expected, out / name, sampler, server,
                                               args.timeout_seconds, extra_env)
                    else:
                        script = ROOT / "ops/bench" / f"{'scrapy_shop' if name == 'scrapy' else name}.py"
                        python = args.scrapy_python if name == "scrapy" else sys.executable
                        output = out / name / "products.jsonl"
                        result = run_process(name, [python, str(script), str(urls_file), str(output)],
                                             args.pages, expected, output, out / name, sampler, server)
                runs[name].append(result)
                print(f"e2e: {name}: {result.seconds:.1f} s, {result.pages_per_s:.0f} pages/s, "
                      f"{result.cpu_per_1000:.2f} CPU s/1000 pages {result.cpu}, peak RSS {result.peak_rss_mb}, "
                      f"{result.products}/{result.expected} products", file=sys.stderr)
    stem = f"e2e-{date.today().isoformat()}-{args.pages}"
    if set(args.crawlers) != set(CRAWLERS):
        # A tuning run never overwrites the table of a full one.
        stem += "-" + "-".join(args.crawlers)
    args.results.mkdir(parents=True, exist_ok=True)
    chart = args.results / f"{stem}.png"
    plot(runs, args.pages, chart)
    print(report(runs, args.pages, machine_text, args.results / f"{stem}.md", chart))
    if set(runs) != set(CRAWLERS):
        return 0
    a, b, c = (median(runs[n], lambda r: r.pages_per_s) for n in CRAWLERS)
    d, e = (median(runs[n], lambda r: r.cpu_per_1000) for n in ("crawlpipe", "scrapy"))
    complete = all(r.complete for results in runs.values() for r in results)
    print(f"e2e: crawlpipe_pages_per_s={a:.0f} single_process_pages_per_s={b:.0f} scrapy_pages_per_s={c:.0f} "
          f"crawlpipe_cpu_s_per_1000={d:.2f} scrapy_cpu_s_per_1000={e:.2f} vs_single={a / b:.2f} vs_scrapy={a / c:.2f}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
