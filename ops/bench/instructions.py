"""ops/bench/instructions: CPU instructions per parser page and per sink record, counted by valgrind.

This machine's speed drifts by 15% and more within minutes, more than most
single changes gain, so timings cannot rank them; instruction counts
(valgrind's callgrind, the same to a fraction of a percent from run to run)
can. Each figure is the difference between two runs of the same in-process
harness, one with N units of work and one with none, divided by N, so
start-up cancels out:

- parser: the stage loop running ``ParserStage.handle`` on shop listing pages (shop rules, links not
  followed), its records packed into batches by the stage's own ``Output``
  over a stand-in producer that acknowledges each batch at once;
- sink: aiokafka's record objects, the runner admitting and finishing them
  and the stage loop running ``SinkStage.handle``, writing them to JSON-lines files, for
  product records the parser made from those pages.

Not counted: Kafka I/O, compression, the event loop's waiting and cache
effects (``ops/bench/e2e`` has those). Run it on two checkouts to compare
them. Last line:

    instructions: parser_per_page=<x> sink_per_record=<y>
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile

from harness import ROOT

import uvloop
from aiokafka import TopicPartition
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import ConsumerRecord

from stages.core.config import MIB, KafkaConfig, RunnerConfig
from stages.core.envelope import Envelope
from stages.core.memory import pace_collector
from stages.core.messages import encode_page_headers
from stages.core.output import Output
from stages.core.runner import StageRunner
from stages.core.stage import StageContext
from stages.core.window import Window
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing
from stages.parser.settings import ParserConfig
from stages.parser.stage import ParserStage
from stages.sink.settings import SinkConfig
from stages.sink.stage import SinkStage

RULES = ROOT / "stages/demoshop/rules.toml"
BASE_URL = "http://127.0.0.1:8080"
# Work done in both runs (caches, first batches), so the difference is steady-state work only.
WARM_UP = 10
PARTITIONS = 6
POOL_PAGES = 40


class AcknowledgingProducer:
    """Stands in for ``AIOKafkaProducer`` under ``Output``: batches are built, then acknowledged at once."""

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(MIB, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[None]:
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


def page_envelopes(count: int) -> list[Envelope]:
    """``count`` pages, cycling through the same POOL_PAGES (rendered in every run, so their cost cancels out)."""
    catalog = Catalog(pages=POOL_PAGES)
    pool = []
    for n in range(1, POOL_PAGES + 1):
        url = f"{BASE_URL}/list/{n}.html"
        headers = encode_page_headers({
            "url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
            "fetched_at": "2026-11-27T00:00:00.000000Z", "url_message": {"url": url, "depth": 0, "attempt": 1},
        })
        pool.append(Envelope("crawl.pages", 0, n, url.encode(), render_listing(catalog, n), tuple(headers), 0))
    return [pool[i % POOL_PAGES] for i in range(count)]


def parser_stage() -> ParserStage:
    return ParserStage(KafkaConfig(), ParserConfig(rules=str(RULES), follow_links=False))


async def feed(runner: StageRunner, consumed: list[ConsumerRecord[bytes, bytes]]) -> None:
    """Hand records to the runner's admission as polls would, and wait until each is acknowledged."""
    tp = TopicPartition(consumed[0].topic, consumed[0].partition)
    # No more than the window admits: a seek would need a started consumer.
    poll = min(500, runner.config.max_in_flight)
    for first in range(0, len(consumed), poll):
        runner._admit_batch({tp: consumed[first:first + poll]})
        while runner._tasks:
            await asyncio.gather(*runner._tasks)


def as_consumed(envelopes: list[Envelope]) -> list[ConsumerRecord[bytes, bytes]]:
    return [ConsumerRecord(e.topic, e.partition, offset, 0, 0, e.key, e.value, None, len(e.key or b""),
                           len(e.value), list(e.headers)) for offset, e in enumerate(envelopes)]


async def parse(pages: int) -> None:
    stage = parser_stage()
    # The runner's clients are never started: its output acknowledges at once, as a broker would later.
    runner = StageRunner(stage, KafkaConfig(), RunnerConfig(**ParserStage.runner_defaults))
    runner.output = Output(AcknowledgingProducer(), stage="parser", dlq_topic="crawl.dlq", linger_seconds=0.005)
    await stage.start(StageContext(window=runner.window))
    pace_collector(RunnerConfig().gc_young_threshold)
    await feed(runner, as_consumed(page_envelopes(WARM_UP + pages)))
    await stage.stop()


async def product_values(count: int) -> list[tuple[bytes, bytes]]:
    """Keys and values of ``count`` product records as the parser writes them (pages repeat as needed)."""
    stage = parser_stage()
    await stage.start(StageContext(window=Window(max_messages=32, max_bytes=8 * MIB)))
    records = [emit for envelope in page_envelopes(POOL_PAGES) for emit in await stage.handle(envelope)
               if emit.kind == "product"]
    await stage.stop()
    return [(records[i % len(records)].key or b"", records[i % len(records)].value) for i in range(count)]


async def sink(records: int) -> None:
    values = await product_values(WARM_UP * 100 + records)
    tp = TopicPartition("crawl.products", 0)
    consumed = [ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, key, value, None, len(key), len(value), ())
                for offset, (key, value) in enumerate(values)]
    with tempfile.TemporaryDirectory() as directory:
        stage = SinkStage(KafkaConfig(), SinkConfig(storage=f"jsonl:///{directory}"))
        # The runner's clients are never started: records go straight to its admission, as a poll's would.
        runner = StageRunner(stage, KafkaConfig(), RunnerConfig(**SinkStage.runner_defaults))
        await stage.start(StageContext(window=runner.window))
        pace_collector(RunnerConfig().gc_young_threshold)
        await feed(runner, consumed)
        await stage.stop()


def count_instructions(kind: str, units: int) -> int:
    with tempfile.NamedTemporaryFile(prefix="callgrind-") as out:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
             sys.executable, __file__, "--child", kind, str(units)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(kind: str, units: int) -> float:
    return (count_instructions(kind, units) - count_instructions(kind, 0)) / units


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50, help="parser pages counted")
    parser.add_argument("--records", type=int, default=3000, help="sink records counted")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "UNITS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, units = args.child
        uvloop.run(parse(int(units)) if kind == "parser" else sink(int(units)))
        return 0
    parser_per_page = per_unit("parser", args.pages)
    print(f"instructions: parser {parser_per_page / 1e6:.2f} M per page ({args.pages} pages)")
    sink_per_record = per_unit("sink", args.records)
    print(f"instructions: sink {sink_per_record / 1e3:.1f} k per record ({args.records} records)")
    print(f"instructions: parser_per_page={parser_per_page:.0f} sink_per_record={sink_per_record:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
