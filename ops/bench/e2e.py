"""ops/bench/e2e: crawlpipe end to end against a fair single-process baseline (sharded too) and Scrapy, by site shape.

For each ``--shape`` (default: every one of ``stages.demoshop.shapes.SHAPES``):

1. Writes the shape's static site (``write_shape_site``, into
   ``.cache/e2e-shop/<site>-<pages>-<seed>``, reused when complete) and serves
   it on loopback: nginx (keep-alive on, access log off, one worker) on one
   address, or on 64 (``many-hosts``); the ``slow`` shape's answers come from
   ``python -m stages.demoshop.latency``, 50-200 ms late.
2. Crawls the same URL list, one crawler after the other:
   - crawlpipe: its own broker, started and its topics created first, timed on
     a line of its own and outside crawlpipe's clock; then the three stages as
     processes (defaults, link following off, JSON-lines storage) and
     ``crawlpipe publish``, until the sink's group has committed every product
     the parser wrote. The clock starts when the stages are launched.
   - ``single_process.py``: one aiohttp process with crawlpipe's tuning and
     extraction (the same rules file) writing the same JSON lines;
   - the same, sharded: N = cores processes at once, each over every N-th URL;
   - Scrapy (``scrapy_shop.py``, in ``.cache/bench-venv``).
3. Checks each crawler's output holds exactly the expected product URLs, and
   reads CPU seconds per process (crawlpipe: the stages, ``publish`` and the
   broker's JVM; psutil just before the stages stop; the others from
   ``os.wait4``) and peak RSS (sampled every 0.5 s). The site's server's
   CPU is reported and counted for no one.

Every crawler gets the same concurrency against a host: 200 (the
baseline's semaphore, Scrapy's CONCURRENT_REQUESTS_PER_DOMAIN). crawlpipe's
fetcher holds 8 per host by default, which no fast shape waits on; on the
``slow`` shape, where a request waits 125 ms on average, it gets
``--max-connections-per-host 200`` like the others (``SHAPE_ENV``).

One line per shape, then (with every crawler and shape run)::

    e2e: shapes=<n> min_vs_sharded=<a> min_vs_single_cpu=<b> min_vs_scrapy=<c> min_cores_busy=<d> max_stage_rss_mb=<m>

``vs_sharded``: crawlpipe's pages/s over the sharded crawler's;
``vs_single_cpu``: crawlpipe's pages per CPU second (every process, broker
included) over the single process's; ``vs_scrapy``: pages/s over Scrapy's;
``cores_busy``: crawlpipe's CPU seconds over its wall seconds, on the shapes
whose site answers at once; each the minimum over shapes;
``max_stage_rss_mb``: the largest peak RSS of a stage. Exit 1 when a target
(``TARGETS``) is missed or a crawler's output is incomplete. Writes
``ops/bench/results/e2e-shapes-<date>.md`` with every figure per process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pstats
import resource
import subprocess
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
    machine_busy_seconds,
    monitor_clients,
    nginx,
    stop,
    tree_cpu_seconds,
)
from soak import committed

from stages.core.settings import KafkaConfig
from stages.demoshop.shapes import SHAPES, Shape, expected_product_urls, shape_urls, write_shape_site

CRAWLERS = ("crawlpipe", "single_process", "sharded", "scrapy")
STAGES = ("fetcher", "parser", "sink")
SAMPLE_SECONDS = 0.5
# Pages per shape in a default run: under 25 minutes on 2 shared cores, Scrapy (~30 pages/s) the longest part.
SHAPE_PAGES = {"listing": 4000, "detail": 1500, "large": 1000, "slow": 3000, "many-hosts": 4000}
SHAPE_ENV = {"slow": {"CRAWLPIPE_MAX_CONNECTIONS_PER_HOST": "200"}}
TARGETS = {"min_vs_sharded": 0.6, "min_vs_single_cpu": 0.6, "min_vs_scrapy": 8.0, "min_cores_busy": 1.6}
MAX_STAGE_RSS_MB = 120.0


@dataclass
class Result:
    """One crawler's run over one shape; ``cpu`` and ``peak_rss_mb`` are per process label."""

    crawler: str
    seconds: float
    pages: int
    cpu: dict[str, float]
    peak_rss_mb: dict[str, float]
    products: int
    expected: int
    complete: bool
    server_cpu_seconds: float
    other_load_cores: float
    # crawlpipe's broker start and topic creation, before its clock starts.
    startup_seconds: float = 0.0

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    @property
    def pages_per_cpu_s(self) -> float:
        return self.pages / self.cpu_seconds

    @property
    def cores_busy(self) -> float:
        return self.cpu_seconds / self.seconds


@dataclass
class RssSampler:
    """Peak RSS of each watched process, read every 0.5 s in a thread until ``running`` ends."""

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


@dataclass
class ShapeRun:
    """Everything one shape's crawls share: its URLs, what they must find, where its server runs."""

    shape: Shape
    pages: int
    urls_file: Path
    expected: set[str]
    rules: Path
    server: psutil.Process
    out: Path


# ---------------------------------------------------------------- the site

@contextlib.contextmanager
def served(shape: Shape, site: Path, seed: int) -> Iterator[tuple[list[str], psutil.Process]]:
    """The shape's site on loopback: its base URL on each of its hosts, and the server's process."""
    if shape.fast:
        with nginx(site, shape.addresses) as (base, server):
            port = base.rsplit(":", 1)[1]
            yield [f"http://{address}:{port}" for address in shape.addresses], server
        return
    process = subprocess.Popen([sys.executable, "-m", "stages.demoshop.latency", "--root", str(site),
                                "--seed", str(seed)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None  # stdout=PIPE
    try:
        yield [process.stdout.readline().strip()], psutil.Process(process.pid)
    finally:
        stop(process)


def site_dir(cache: Path, shape: Shape, pages: int, seed: int) -> Path:
    """The shape's static site, written once; the marker is written last, so a partial tree is redone."""
    directory = cache / f"{shape.site}-{pages}-{seed}"
    marker = directory / ".complete"
    if not marker.exists():
        started = time.monotonic()
        written = write_shape_site(shape.site, pages, seed, directory)
        marker.write_text(f"{written.files} files, {written.bytes} bytes\n")
        print(f"e2e: wrote {written.files} files ({written.bytes / 2**20:.0f} MB) in "
              f"{time.monotonic() - started:.0f} s to {directory}", file=sys.stderr)
    return directory


def rules_file(out: Path) -> Path:
    """The demo shop's rules for every loopback host (the many-hosts shape answers on 127.0.0.10 and up)."""
    text = (ROOT / "stages/demoshop/rules.toml").read_text()
    path = out / "rules.toml"
    path.write_text(text.replace('hosts = ["127.0.0.1", "localhost"]', 'hosts = ["127.0.0.*", "localhost"]'))
    return path


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


def run_crawlpipe(run: ShapeRun, sampler: RssSampler, timeout: float, extra_env: dict[str, str],
                  profile_stage: str | None) -> Result:
    out = run.out / "crawlpipe"
    state = out / "kafka"
    started = time.monotonic()
    with kafka_broker(state, free_port_pair()) as bootstrap:
        jsonl = out / "products"
        jsonl.mkdir(parents=True)
        env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
               "CRAWLPIPE_RULES": str(run.rules), "CRAWLPIPE_FOLLOW_LINKS": "false",
               "CRAWLPIPE_LOG_LEVEL": "WARNING", "CRAWLPIPE_STORAGE": f"jsonl:///{jsonl}",
               **SHAPE_ENV.get(run.shape.name, {}), **extra_env}
        crawlpipe("topics", "create", env=env)
        startup = time.monotonic() - started
        print(f"e2e shape={run.shape.name}: broker start-up and topics {startup:.1f} s (outside crawlpipe's clock)",
              flush=True)
        broker = broker_pid(state)
        sampler.watch("broker", broker)
        stages = Stages(env, out)
        busy, server_cpu, broker_cpu = machine_busy_seconds(), tree_cpu_seconds(run.server), cpu_seconds(broker)
        started = time.monotonic()
        try:
            for stage in STAGES:
                profile = out / f"{stage}.pstats" if stage == profile_stage else None
                sampler.watch(stage, stages.start(stage, profile).pid)
            # Only publish is reaped while the stages run, so the children's rusage delta is its CPU.
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            crawlpipe("publish", str(run.urls_file), env=env, stdout=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            asyncio.run(wait_for_pipeline(KafkaConfig(bootstrap=bootstrap), run.pages, stages, timeout))
            seconds = time.monotonic() - started
            cpu = {stage: cpu_seconds(stages.processes[stage].pid) for stage in STAGES}
            cpu["publish"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu["broker"] = cpu_seconds(broker) - broker_cpu
            server_cpu = tree_cpu_seconds(run.server) - server_cpu
            busy = machine_busy_seconds() - busy
        finally:
            codes = stages.stop_all()
    if any(codes.values()):
        print(f"e2e: crawlpipe stages exited with {codes}", file=sys.stderr)
    lines, found = read_product_urls(sorted(jsonl.glob("products-*.jsonl")) + sorted(jsonl.glob(".products-*.part")))
    print(f"e2e: crawlpipe wrote {lines} lines, {len(found)} distinct products", file=sys.stderr)
    return Result("crawlpipe", seconds, run.pages, cpu, {k: sampler.peaks[k] for k in (*STAGES, "broker")},
                  len(found), len(run.expected), found == run.expected, server_cpu,
                  (busy - sum(cpu.values()) - server_cpu) / seconds, startup)


def run_processes(name: str, run: ShapeRun, shards: int, sampler: RssSampler, python: str) -> Result:
    """Run ``shards`` crawler processes at once, each over every ``shards``-th URL, to their exit.

    ``os.wait4`` gives each one's exact CPU, children included; the wall time
    runs from the first launch to the last exit.
    """
    out = run.out / name
    script = ROOT / "ops/bench" / ("scrapy_shop.py" if name == "scrapy" else "single_process.py")
    urls = run.urls_file.read_text().split()
    busy, server_cpu = machine_busy_seconds(), tree_cpu_seconds(run.server)
    started = time.monotonic()
    pids, outputs = {}, []
    for shard in range(shards):
        label = name if shards == 1 else f"{name}-{shard}"
        shard_urls = out / f"urls-{shard}.txt"
        shard_urls.write_text("\n".join(urls[shard::shards]) + "\n")
        output = out / f"products-{shard}.jsonl"
        outputs.append(output)
        argv = [python, str(script), str(shard_urls), str(output)]
        if name != "scrapy":
            argv += ["--rules", str(run.rules)]
        with open(out / f"{label}.log", "wb") as log:
            pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)])
        pids[pid] = label
        sampler.watch(label, pid)
    cpu = {}
    for pid, label in pids.items():
        _, status, usage = os.wait4(pid, 0)
        cpu[label] = usage.ru_utime + usage.ru_stime
        if code := os.waitstatus_to_exitcode(status):
            print(f"e2e: {label} exited with {code}; see {out / label}.log", file=sys.stderr)
    seconds = time.monotonic() - started
    server_cpu = tree_cpu_seconds(run.server) - server_cpu
    busy = machine_busy_seconds() - busy
    lines, found = read_product_urls([path for path in outputs if path.exists()])
    print(f"e2e: {name} wrote {lines} lines, {len(found)} distinct products", file=sys.stderr)
    return Result(name, seconds, run.pages, cpu, {label: sampler.peaks[label] for label in cpu}, len(found),
                  len(run.expected), found == run.expected, server_cpu,
                  (busy - sum(cpu.values()) - server_cpu) / seconds)


# ---------------------------------------------------------------- figures and report

@dataclass(frozen=True)
class ShapeFigures:
    """The ratios of one shape, as the last line defines them."""

    vs_sharded: float
    vs_single_cpu: float
    vs_scrapy: float
    cores_busy: float
    max_stage_rss_mb: float
    complete: bool

    @classmethod
    def of(cls, results: dict[str, Result]) -> ShapeFigures:
        crawlpipe = results["crawlpipe"]
        return cls(
            vs_sharded=crawlpipe.pages_per_s / results["sharded"].pages_per_s,
            vs_single_cpu=crawlpipe.pages_per_cpu_s / results["single_process"].pages_per_cpu_s,
            vs_scrapy=crawlpipe.pages_per_s / results["scrapy"].pages_per_s,
            cores_busy=crawlpipe.cores_busy,
            max_stage_rss_mb=max(crawlpipe.peak_rss_mb[stage] for stage in STAGES),
            complete=all(result.complete for result in results.values()),
        )


def shape_line(shape: Shape, pages: int, results: dict[str, Result]) -> str:
    rates = " ".join(f"{name}_pages_per_s={result.pages_per_s:.0f}" for name, result in results.items())
    line = f"e2e shape={shape.name} pages={pages}: {rates}"
    if set(results) == set(CRAWLERS):
        figures = ShapeFigures.of(results)
        line += (f" vs_sharded={figures.vs_sharded:.2f} vs_single_cpu={figures.vs_single_cpu:.2f} "
                 f"vs_scrapy={figures.vs_scrapy:.2f} cores_busy={figures.cores_busy:.2f}"
                 f"{'' if shape.fast else ' (slow site: not counted)'} "
                 f"max_stage_rss_mb={figures.max_stage_rss_mb:.0f} complete={'yes' if figures.complete else 'NO'}")
    return line


def final_line(figures: dict[str, ShapeFigures]) -> tuple[str, bool]:
    """The last line, and whether every target is met and every output complete."""
    fast = [f for name, f in figures.items() if SHAPES[name].fast]
    values = {
        "min_vs_sharded": min(f.vs_sharded for f in figures.values()),
        "min_vs_single_cpu": min(f.vs_single_cpu for f in figures.values()),
        "min_vs_scrapy": min(f.vs_scrapy for f in figures.values()),
        "min_cores_busy": min(f.cores_busy for f in fast) if fast else float("nan"),
    }
    max_rss = max(f.max_stage_rss_mb for f in figures.values())
    met = (all(values[name] >= target for name, target in TARGETS.items()) and max_rss <= MAX_STAGE_RSS_MB
           and all(f.complete for f in figures.values()))
    text = (f"e2e: shapes={len(figures)} " + " ".join(f"{name}={value:.2f}" for name, value in values.items())
            + f" max_stage_rss_mb={max_rss:.0f}")
    return text, met


def hot_spots(path: Path, stage: str, pages: int, count: int = 25) -> str:
    """The stage's functions by their own CPU time (cProfile's tottime, timed by ``time.process_time``) per page."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = [f"cProfile of the {stage}, timed by CPU (a profiled run: slower than the benchmark's, start-up "
            f"included), {total:.1f} CPU s in all, {total / pages * 1000:.2f} ms a page; functions by their own "
            "CPU time:\n",
            "| function | own ms per page | share | calls per page | cumulative ms per page |",
            "|---|---:|---:|---:|---:|"]
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    for (file, line, function), (_, calls, own, cumulative, _) in entries[:count]:
        where = f"{Path(file).name}:{line}({function})" if line else function
        rows.append(f"| `{where}` | {own / pages * 1000:.3f} | {own / total:.1%} | {calls / pages:.1f} "
                    f"| {cumulative / pages * 1000:.3f} |")
    return "\n".join(rows) + "\n"


def table(results: dict[str, Result]) -> str:
    rows = ["| crawler | wall s | pages/s | CPU s | CPU s per 1,000 pages | pages per CPU s | cores busy "
            "| CPU s per process | peak RSS MB per process | products / expected | other load (cores) "
            "| site server CPU s |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|"]
    for name, r in results.items():
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu.items())
        rss = ", ".join(f"{k} {v:.0f}" for k, v in r.peak_rss_mb.items())
        rows.append(f"| {name} | {r.seconds:.1f} | {r.pages_per_s:.0f} | {r.cpu_seconds:.1f} "
                    f"| {r.cpu_seconds / r.pages * 1000:.2f} | {r.pages_per_cpu_s:.0f} | {r.cores_busy:.2f} | {cpu} "
                    f"| {rss} | {r.products} / {r.expected}{'' if r.complete else ' (INCOMPLETE)'} "
                    f"| {r.other_load_cores:.2f} | {r.server_cpu_seconds:.1f} |")
    return "\n".join(rows)


def write(path: Path, header: str, sections: list[str], last: str) -> None:
    path.write_text(header + "\n" + "\n".join(sections) + (f"\n`{last}`\n" if last.startswith("e2e:") else
                                                          f"\n{last}\n" if last else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs="+", choices=list(SHAPES), default=list(SHAPES),
                        help="site shapes to crawl (default: all)")
    parser.add_argument("--pages", type=int, default=None,
                        help=f"pages per shape (default per shape: {SHAPE_PAGES})")
    parser.add_argument("--seed", type=int, default=7, help="catalog, template and size seed")
    parser.add_argument("--scrapy-python", required=True, help="python of the venv Scrapy is installed in")
    add_shop_run_arguments(parser, "e2e", timeout_seconds=3600, timeout_help="longest crawlpipe run per shape",
                           env_help="extra CRAWLPIPE_* setting for crawlpipe's stages (repeatable), to try tuning")
    parser.add_argument("--crawlers", nargs="+", choices=CRAWLERS, default=list(CRAWLERS),
                        help="run only these (to try tuning); the last line needs all")
    parser.add_argument("--profile-stage", choices=STAGES, default=None,
                        help="run this crawlpipe stage under cProfile and add its hot spots to the results (it "
                             "runs slower: such a run's figures are a profile's, never the benchmark's)")
    args = parser.parse_args()
    machine_text = machine()
    shards = os.cpu_count() or 1
    args.out.mkdir(parents=True, exist_ok=True)
    rules = rules_file(args.out)
    complete_run = set(args.crawlers) == set(CRAWLERS) and not args.profile_stage
    stem = f"e2e-shapes-{date.today().isoformat()}"
    if not complete_run or set(args.shape) != set(SHAPES):
        # A partial run never overwrites the table of a full one.
        stem += "-" + "-".join(args.shape + (args.crawlers if not complete_run else []))
    if args.profile_stage:
        stem += f"-profile-{args.profile_stage}"
    args.results.mkdir(parents=True, exist_ok=True)
    results_file = args.results / f"{stem}.md"
    # The wrapper script adds --scrapy-python first: the command a reader types is without it.
    command = " ".join(["ops/bench/e2e", *sys.argv[3:]])
    header = (f"# ops/bench/e2e by site shape\n\nMachine: {machine_text}.\n\nCommand: `{command}`; N = {shards} "
              "shards. CPU sums every process of a crawler (crawlpipe: fetcher, parser, sink, publish and the "
              "broker's JVM during the crawl). \"Other load\" is the cores kept busy by everything else while the "
              "crawler ran (this driver, other work on the machine); the site's server is counted apart.\n")
    sections: list[str] = []
    figures: dict[str, ShapeFigures] = {}
    done: list[str] = []
    for name in args.shape:
        shape = SHAPES[name]
        pages = args.pages or SHAPE_PAGES[name]
        site = site_dir(args.cache, shape, pages, args.seed)
        out = args.out / name
        out.mkdir()
        results: dict[str, Result] = {}
        with served(shape, site, args.seed) as (bases, server):
            urls_file = out / "urls.txt"
            urls_file.write_text("\n".join(shape_urls(shape, pages, args.seed, bases)) + "\n")
            run = ShapeRun(shape, pages, urls_file, expected_product_urls(shape, pages, args.seed, bases), rules,
                           server, out)
            for crawler in args.crawlers:
                (out / crawler).mkdir()
                print(f"e2e: shape {name}: {crawler}", file=sys.stderr)
                with RssSampler().running() as sampler:
                    if crawler == "crawlpipe":
                        result = run_crawlpipe(run, sampler, args.timeout_seconds, dict(args.crawlpipe_env),
                                               args.profile_stage)
                    else:
                        result = run_processes(crawler, run, shards if crawler == "sharded" else 1, sampler,
                                               args.scrapy_python if crawler == "scrapy" else sys.executable)
                results[crawler] = result
                print(f"e2e: shape {name}: {crawler}: {result.seconds:.1f} s, {result.pages_per_s:.0f} pages/s, "
                      f"{result.cpu_seconds:.1f} CPU s {result.cpu}, peak RSS {result.peak_rss_mb}, "
                      f"{result.products}/{result.expected} products", file=sys.stderr)
        line = shape_line(shape, pages, results)
        print(line, flush=True)
        if set(results) == set(CRAWLERS):
            figures[name] = ShapeFigures.of(results)
        settings = ", ".join(f"`{k}={v}`" for k, v in {**SHAPE_ENV.get(name, {}), **dict(args.crawlpipe_env)}.items())
        startup = (f"crawlpipe's broker start-up and topic creation: {results['crawlpipe'].startup_seconds:.1f} s, "
                   "outside its clock.\n\n" if "crawlpipe" in results else "")
        sections.append(f"## {name} ({pages:,} pages{', crawlpipe with ' + settings if settings else ''})\n\n"
                        f"`{line}`\n\n{startup}{table(results)}\n")
        done.append(name)
        if args.profile_stage and "crawlpipe" in results:
            sections.append(hot_spots(out / "crawlpipe" / f"{args.profile_stage}.pstats", args.profile_stage,
                                      pages))
        sections.append("Load average after this shape: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + ".\n")
        # Written after every shape: a run stopped midway keeps what it measured.
        write(results_file, header, sections, f"(stopped or running: shapes done: {', '.join(done)})")
    last, met = final_line(figures) if complete_run and figures else ("", True)
    write(results_file, header, sections, last or "")
    if last:
        print(last)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
