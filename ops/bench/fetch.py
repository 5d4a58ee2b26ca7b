"""ops/bench/fetch: the fetcher stage alone next to a bare aiohttp loop, same shop, same concurrency, one run.

1. Writes the static demo shop (``--pages`` listing pages, default 5,000, about
   65 KB each) into ``.cache/e2e-shop/<pages>`` (shared with ops/bench/e2e,
   reused when complete), reads every file once so no contender pays for the
   disk, and serves it with nginx on a free loopback port (one worker,
   keep-alive on, access log off: ``harness.nginx``).
2. Starts a private broker. Each run measures three contenders over the same
   URL list, in this order for odd runs and the reverse for even ones:

   - ``crawlpipe``: fresh topics (``crawlpipe topics create``, names and group
     prefix unique to the run), every listing URL published with ``crawlpipe
     publish`` *before* the fetcher starts, then one ``crawlpipe fetcher``
     process and no other stage: robots.txt obeyed (the shop serves one that
     allows the listings), the SSRF guard on with
     ``CRAWLPIPE_ALLOWED_NETWORKS=127.0.0.0/8``, every other setting at its
     default except ``--max-connections-per-host``, set to ``--concurrency``:
     the shop is one host, so that is the fetcher's concurrency, which is
     min(max_in_flight, max_connections, max_connections_per_host) (above 200
     the first two are raised to match). It runs until the pages topic holds
     ``--pages`` records and the fetcher's group has committed every record of
     the URL topic (URLs it deferred through Kafka included); then the pages
     topic must hold exactly ``--pages`` records and the DLQ none, or the
     benchmark fails.
   - ``bare_aiohttp``: a child process (uvloop, as ``crawlpipe`` uses) with
     one ``ClientSession``, a ``TCPConnector(limit=concurrency)``, an
     ``asyncio.Semaphore(concurrency)`` and one task per URL that GETs it and
     reads the body; every answer must be a 200.
   - ``crawlpipe_engine``: the same loop calling ``HttpFetcher.fetch`` (the
     fetcher's HTTP engine: robots.txt, per-host slots and pacing, SSRF guard,
     URL checks, timeouts, streamed body caps; default settings with the same
     per-host limit), no Kafka. It splits the gap between the other two into
     what politeness and safety cost and what moving pages through Kafka does.

What is timed, the same way for all three: pages divided by the time between
the first and the last page completed. For crawlpipe those are the producer
timestamps of the first and last record in the pages topic (a page is
appended right after its body is read), so the process's start-up, Kafka
connections, group join and final offset commit are not counted; for the
loops, ``perf_counter`` when each body has been read, so interpreter start-up
and session creation are not counted. Every span begins after the first
response, so all leave out the first connections' set-up alike. Start-up
(launch to first page) is reported beside it.

CPU per 1,000 pages, which depends much less on the neighbours than wall
time, over the same span: for the fetcher, its process's CPU (psutil) between
the first poll that sees a page in the topic and the poll that sees the last,
per page produced between them (the topic is polled every 0.1 s); for the
loops, their ``process_time`` from the first page to the last. The broker's
and nginx's CPU are reported per 1,000 pages too, for no contender, and
"other load" is the machine's remaining busy cores over the span: on a
shared machine it says how far to trust a run's wall-clock rate.

``--runs N`` repeats and reports medians. Writes
``ops/bench/results/fetch-<date>-<pages>.md``; the table also goes to stderr.
Last two stdout lines:

    fetch: concurrency=<c> pages=<n> runs=<r> crawlpipe_cpu_s_per_1000=<a> bare_aiohttp_cpu_s_per_1000=<b> \
           engine_cpu_s_per_1000=<e> engine_pages_per_s=<z> engine_ratio=<z/y>
    fetch: crawlpipe_pages_per_s=<x> bare_aiohttp_pages_per_s=<y> ratio=<x/y>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psutil
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
    record_span_seconds,
    shop_dir,
    tree_cpu_seconds,
)
from soak import committed

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog

CONTENDERS = ("crawlpipe", "bare_aiohttp", "crawlpipe_engine")
POLL_SECONDS = 0.1
# The fetcher's defaults (FetchConfig.max_connections, RunnerConfig.max_in_flight) cap its concurrency here.
DEFAULT_CAP = 200


@dataclass
class Result:
    contender: str
    pages: int
    seconds: float  # first page completed to last
    cpu_per_1000: float  # the contender's own process
    startup_seconds: float  # launch to first page completed
    nginx_cpu_per_1000: float
    broker_cpu_per_1000: float | None = None
    deferred: int = 0  # URL records the fetcher re-published (crawlpipe only)
    other_load_cores: float = 0.0  # cores busy with neither contender, nginx nor the broker

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds


# ---------------------------------------------------------------- the bare loop (a child process)

async def bare_loop(urls: list[str], concurrency: int, engine: bool) -> dict[str, float]:
    """GET every URL and read its body, ``concurrency`` at a time; with ``engine``, through ``HttpFetcher``."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    done: list[float] = []
    failures: list[str] = []
    size = 0

    first: list[float] = []  # CPU and machine busy seconds at the first page

    async def run(get) -> float:
        async def fetch(url: str) -> None:
            nonlocal size
            async with semaphore:
                status, length = await get(url)
                if status != 200:
                    failures.append(f"{url}: HTTP {status}")
                size += length
                done.append(time.perf_counter())
                if not first:
                    first.extend((time.process_time(), machine_busy_seconds()))

        started = time.perf_counter()
        await asyncio.gather(*(fetch(url) for url in urls))
        return started

    if engine:
        from stages.fetcher.client import HttpFetcher
        from stages.fetcher.settings import FetchConfig

        config = FetchConfig(allowed_networks=("127.0.0.0/8",), max_connections_per_host=concurrency,
                             max_connections=max(concurrency, DEFAULT_CAP))
        async with HttpFetcher(config) as fetcher:

            async def get(url: str) -> tuple[int, int]:
                page = await fetcher.fetch(url)
                return page.status, len(page.body)

            started = await run(get)
    else:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def get(url: str) -> tuple[int, int]:
                async with session.get(url) as response:
                    return response.status, len(await response.read())

            started = await run(get)
    cpu, busy = time.process_time() - first[0], machine_busy_seconds() - first[1]
    return {"pages": len(done), "bytes": size, "failures": failures[:5], "failed": len(failures),
            "startup_seconds": done[0] - started, "seconds": done[-1] - done[0], "cpu_seconds": cpu,
            "busy_seconds": busy}


def bare_main(urls_file: Path, concurrency: int, engine: bool) -> int:
    urls = urls_file.read_text().split()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(bare_loop(urls, concurrency, engine))
    else:
        result = uvloop.run(bare_loop(urls, concurrency, engine))
    print(json.dumps(result))
    return 0 if not result["failed"] and result["pages"] == len(urls) else 1


def run_loop(name: str, urls_file: Path, pages: int, concurrency: int, server: psutil.Process,
             timeout: float) -> Result:
    """The bare loop, or with ``name`` "crawlpipe_engine" the same loop through ``HttpFetcher``, in a child."""
    nginx_cpu = tree_cpu_seconds(server)
    engine = ["--engine"] if name == "crawlpipe_engine" else []
    process = subprocess.run([sys.executable, __file__, "--bare", str(urls_file), "--concurrency", str(concurrency),
                              *engine], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    nginx_cpu = tree_cpu_seconds(server) - nginx_cpu
    if process.returncode != 0:
        raise RuntimeError(f"the {name} loop failed ({process.returncode}): {process.stdout[-2000:]}"
                           f"{process.stderr[-2000:]}")
    out = json.loads(process.stdout.strip().splitlines()[-1])
    # nginx's CPU is read around the whole child (its start-up costs nginx nothing), spread over every page.
    nginx_per_page = nginx_cpu / pages
    counted = pages - 1  # pages completed after the first
    other = (out["busy_seconds"] - out["cpu_seconds"] - nginx_per_page * counted) / out["seconds"]
    return Result(name, out["pages"], out["seconds"], out["cpu_seconds"] / counted * 1000,
                  out["startup_seconds"], nginx_per_page * 1000, other_load_cores=other)


# ---------------------------------------------------------------- crawlpipe's fetcher

@dataclass
class Sample:
    at: float
    pages: int
    fetcher_cpu: float
    broker_cpu: float
    nginx_cpu: float
    busy: float


async def watch_fetcher(config: KafkaConfig, process, pages: int, broker: int, server: psutil.Process,
                        timeout: float, log: Path) -> tuple[Sample, Sample, int, int, int]:
    """Poll the pages topic until it holds ``pages`` records, then wait for the fetcher's last commit.

    Returns the samples at the first page and at the last, the URL records
    (published plus re-published), the pages and the DLQ records at the end.
    """
    async with monitor_clients(config, "bench-fetch") as (admin, probe):
        deadline = time.monotonic() + timeout
        urls_tps = await kafka.topic_partitions(admin, config.topic_urls)
        pages_tps = await kafka.topic_partitions(admin, config.topic_pages)
        dlq_tps = await kafka.topic_partitions(admin, config.topic_dlq)

        def alive() -> None:
            if process.poll() is not None:
                raise RuntimeError(f"the fetcher exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fetcher did not finish in {timeout:.0f} s; see {log}")

        async def produced() -> int:
            return sum((await probe.end_offsets(pages_tps)).values())

        def sample(count: int) -> Sample:
            return Sample(time.monotonic(), count, cpu_seconds(process.pid), cpu_seconds(broker),
                          tree_cpu_seconds(server), machine_busy_seconds())

        first = None
        while True:
            alive()
            count = await produced()
            if first is None and count > 0:
                first = sample(count)
            if count >= pages:
                last = sample(count)
                break
            await asyncio.sleep(POLL_SECONDS)
        while True:
            alive()
            url_records = sum((await probe.end_offsets(urls_tps)).values())
            if await committed(admin, config, "fetcher", config.topic_urls, len(urls_tps)) >= url_records:
                break
            await asyncio.sleep(POLL_SECONDS)
        return first, last, url_records, await produced(), sum((await probe.end_offsets(dlq_tps)).values())



def run_crawlpipe(bootstrap: str, state: Path, run: int, urls_file: Path, pages: int, concurrency: int,
                  server: psutil.Process, out: Path, timeout: float, extra_env: dict[str, str]) -> Result:
    prefix = f"fetchbench-r{run}"
    env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_LOG_LEVEL": "WARNING",
           "CRAWLPIPE_TOPIC_URLS": f"{prefix}.urls", "CRAWLPIPE_TOPIC_PAGES": f"{prefix}.pages",
           "CRAWLPIPE_TOPIC_PRODUCTS": f"{prefix}.products", "CRAWLPIPE_TOPIC_DLQ": f"{prefix}.dlq",
           "CRAWLPIPE_GROUP_PREFIX": prefix}
    config = KafkaConfig(bootstrap=bootstrap, topic_urls=env["CRAWLPIPE_TOPIC_URLS"],
                         topic_pages=env["CRAWLPIPE_TOPIC_PAGES"], topic_products=env["CRAWLPIPE_TOPIC_PRODUCTS"],
                         topic_dlq=env["CRAWLPIPE_TOPIC_DLQ"], group_prefix=prefix)
    # Their reports go to stderr: stdout is for the result lines.
    crawlpipe("topics", "create", env=env, stdout=sys.stderr)
    crawlpipe("publish", str(urls_file), env=env, stdout=sys.stderr)
    fetcher_env = {"CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
                   "CRAWLPIPE_MAX_CONNECTIONS_PER_HOST": str(concurrency)}
    if concurrency > DEFAULT_CAP:
        fetcher_env |= {"CRAWLPIPE_MAX_CONNECTIONS": str(concurrency), "CRAWLPIPE_MAX_IN_FLIGHT": str(concurrency)}
    stages = Stages({**env, **fetcher_env, **extra_env}, out)
    broker = broker_pid(state)
    launched = time.monotonic()
    try:
        process = stages.start("fetcher")
        first, last, url_records, produced, dead = asyncio.run(
            watch_fetcher(config, process, pages, broker, server, timeout, out / "fetcher.log"))
    finally:
        codes = stages.stop_all()
    if codes["fetcher"] != 0:
        raise RuntimeError(f"the fetcher exited with {codes['fetcher']}; see {out / 'fetcher.log'}")
    if produced != pages or dead:
        raise RuntimeError(f"the pages topic holds {produced} records (expected {pages}) and the DLQ {dead}; "
                           f"see {out / 'fetcher.log'} and `crawlpipe tail {config.topic_dlq}`")
    span = asyncio.run(record_span_seconds(config, config.topic_pages))
    counted = last.pages - first.pages
    fetcher, broker_cpu, nginx_cpu = (last.fetcher_cpu - first.fetcher_cpu, last.broker_cpu - first.broker_cpu,
                                      last.nginx_cpu - first.nginx_cpu)
    other = (last.busy - first.busy - fetcher - broker_cpu - nginx_cpu) / (last.at - first.at)
    return Result("crawlpipe", pages, span, fetcher / counted * 1000, first.at - launched,
                  nginx_cpu / counted * 1000, broker_cpu / counted * 1000, url_records - pages, other)


# ---------------------------------------------------------------- reporting

def warm_page_cache(site: Path) -> None:
    """Read every file of the shop once, so the first contender does not pay for the disk."""
    for path in (site / "list").iterdir():
        path.read_bytes()


def median(results: list[Result], value) -> float:
    return statistics.median(value(r) for r in results)


LABELS = {"crawlpipe": "crawlpipe fetcher stage", "bare_aiohttp": "bare aiohttp loop",
          "crawlpipe_engine": "HttpFetcher alone (no Kafka)"}


def table(runs: dict[str, list[Result]]) -> str:
    rows = ["| fetcher | pages | first to last page, s | pages/s | CPU s per 1,000 pages | start-up s "
            "| nginx CPU s per 1,000 | broker CPU s per 1,000 | other load, cores | pages/s of each run |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, results in runs.items():
        broker = "–" if results[0].broker_cpu_per_1000 is None else \
            f"{median(results, lambda r: r.broker_cpu_per_1000):.2f}"
        rows.append(
            f"| {LABELS[name]} | {results[0].pages} | {median(results, lambda r: r.seconds):.2f} "
            f"| {median(results, lambda r: r.pages_per_s):.0f} | {median(results, lambda r: r.cpu_per_1000):.3f} "
            f"| {median(results, lambda r: r.startup_seconds):.2f} "
            f"| {median(results, lambda r: r.nginx_cpu_per_1000):.3f} | {broker} "
            f"| {median(results, lambda r: r.other_load_cores):.2f} "
            f"| {', '.join(f'{r.pages_per_s:.0f}' for r in results)} |")
    return "\n".join(rows)


def report(runs: dict[str, list[Result]], args: argparse.Namespace, machine_text: str, summary: str) -> str:
    deferred = sum(r.deferred for r in runs["crawlpipe"])
    tuning = "".join(f" --crawlpipe-env {name}={value}" for name, value in args.crawlpipe_env)
    return (f"# ops/bench/fetch: {args.pages:,} shop listing pages, concurrency {args.concurrency}, "
            f"{args.runs} run(s), medians\n\n"
            f"Machine: {machine_text}.\n\n"
            f"Command: `ops/bench/fetch --pages {args.pages} --concurrency {args.concurrency} --runs {args.runs}"
            f"{tuning}`. The same list of every listing page, served by nginx on loopback (one worker), fetched "
            f"by one `crawlpipe fetcher` process (robots.txt obeyed, SSRF guard on with 127.0.0.0/8 allowed, "
            f"`--max-connections-per-host {args.concurrency}`, all else default; URLs published before it "
            f"starts; a private broker on the same machine), by a bare aiohttp loop (one session, connector "
            f"limit and semaphore {args.concurrency}), and by the same loop calling `HttpFetcher.fetch` (the "
            f"fetcher's HTTP engine with its politeness and safety checks, no Kafka), in turn, the order "
            f"reversed every other run. Pages/s is pages over the time from the first page completed to the "
            f"last (crawlpipe: the pages topic's record timestamps), so start-up is left out of all three and "
            f"shown apart. CPU is each one's own process over the same span; nginx and the broker are shown "
            f"apart; \"other load\" is the rest of the machine's busy cores over the span (other work on a "
            f"shared machine). The fetcher re-published {deferred} URL records (deferred for a busy host) over "
            f"all runs; every crawlpipe run ended with exactly {args.pages} pages and an empty DLQ.\n\n"
            + table(runs) + f"\n\n```\n{summary}\n```\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5_000, help="shop listing pages to fetch")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight to the one host, for all three (the fetcher's "
                             "--max-connections-per-host)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    add_shop_run_arguments(parser, "fetch", timeout_seconds=600, timeout_help="longest run of any contender",
                           env_help="extra CRAWLPIPE_* setting for the fetcher (repeatable), to try tuning")
    parser.add_argument("--bare", type=Path, metavar="URLS_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--engine", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        return bare_main(args.bare, args.concurrency, args.engine)
    extra_env = dict(args.crawlpipe_env)
    machine_text = machine()
    site = shop_dir(args.cache, args.pages, "fetch")
    warm_page_cache(site)
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Result]] = {name: [] for name in CONTENDERS}
    print(f"fetch: {args.pages} pages, concurrency {args.concurrency} (crawlpipe: min(max_in_flight, "
          f"max_connections, max_connections_per_host={args.concurrency}); loops: connector limit and "
          f"semaphore {args.concurrency})", file=sys.stderr)
    with nginx(site) as (base, server):
        urls_file = args.out / "urls.txt"
        urls_file.write_text("\n".join(Catalog(args.pages).listing_urls(base)) + "\n")
        state = args.out / "kafka"
        with kafka_broker(state, free_port_pair()) as bootstrap:
            for run in range(1, args.runs + 1):
                out = args.out / f"run-{run}"
                out.mkdir(parents=True)
                for name in (CONTENDERS if run % 2 else CONTENDERS[::-1]):
                    if name == "crawlpipe":
                        result = run_crawlpipe(bootstrap, state, run, urls_file, args.pages, args.concurrency,
                                               server, out, args.timeout_seconds, extra_env)
                    else:
                        result = run_loop(name, urls_file, args.pages, args.concurrency, server,
                                          args.timeout_seconds)
                    runs[name].append(result)
                    print(f"fetch: run {run}/{args.runs}: {name}: {result.pages_per_s:.0f} pages/s "
                          f"({result.seconds:.2f} s first to last page, start-up {result.startup_seconds:.2f} s), "
                          f"{result.cpu_per_1000:.3f} CPU s per 1,000 pages, other load "
                          f"{result.other_load_cores:.2f} cores"
                          + (f", {result.deferred} deferred" if name == "crawlpipe" else ""), file=sys.stderr)
    x, y, z = (median(runs[n], lambda r: r.pages_per_s) for n in CONTENDERS)
    a, b, c = (median(runs[n], lambda r: r.cpu_per_1000) for n in CONTENDERS)
    summary = (f"fetch: concurrency={args.concurrency} pages={args.pages} runs={args.runs} "
               f"crawlpipe_cpu_s_per_1000={a:.3f} bare_aiohttp_cpu_s_per_1000={b:.3f} "
               f"engine_cpu_s_per_1000={c:.3f} engine_pages_per_s={z:.0f} engine_ratio={z / y:.2f}\n"
               f"fetch: crawlpipe_pages_per_s={x:.0f} bare_aiohttp_pages_per_s={y:.0f} ratio={x / y:.2f}")
    print("\n" + table(runs) + "\n", file=sys.stderr)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"fetch-{date.today().isoformat()}-{args.pages}.md"
    path.write_text(report(runs, args, machine_text, summary))
    print(f"fetch: wrote {path}", file=sys.stderr)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
