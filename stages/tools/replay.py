"""``crawlpipe replay``: re-parse ``crawl.pages`` from a point in time with the current rules.

Step 6 of the data flow in ``stages/__init__.py``. A replay never fetches:

1. The pages topic's end offsets are captured now; the start offsets are the
   log start (``--from-beginning``) or the first offset at or after
   ``--since`` per partition (``offsets_for_times``).
2. A replay group of its own (default ``<group-prefix>-parser-replay``) gets
   the start offsets committed, so the live parser group is never touched and
   live parsing goes on beside the replay.
3. A parser stage runs in that group with link following off (re-parsing
   must not publish URLs again) until its committed offsets reach the
   captured ends, then stops. Its product records keep their ids, so the
   sink's upsert updates rows in place (an equal ``fetched_at`` with a newer
   ``parsed_at`` wins).

``--dry-run`` instead re-parses a sample of those pages, produces nothing,
and compares the records with the sink's current rows (``diff.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from stages.core import kafka
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.envelope import Envelope
from stages.core.errors import ConfigError, CrawlpipeError
from stages.core.runner import StageRunner
from stages.core.stage import StageContext
from stages.core.window import Window
from stages.parser.settings import ParserConfig
from stages.parser.stage import ParserStage
from stages.tools.diff import ProductsDiff, diff_products
from stages.tools.stored import stored_products

POLL_TIMEOUT_MS = 500


@dataclass(frozen=True, slots=True)
class ReplayRange:
    """Where a replay starts and ends on each partition of the pages topic (end exclusive)."""

    start: dict[TopicPartition, int]
    end: dict[TopicPartition, int]

    @property
    def pending(self) -> dict[TopicPartition, int]:
        """End offsets of the partitions that have pages to replay."""
        return {tp: end for tp, end in self.end.items() if self.start[tp] < end}

    @property
    def pages(self) -> int:
        return sum(max(0, self.end[tp] - self.start[tp]) for tp in self.end)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    pages: int
    products: int
    dead_lettered: int


@dataclass(frozen=True, slots=True)
class DryRunResult:
    pages: int
    failed: int
    old: dict[str, dict[str, Any]]
    new: dict[str, dict[str, Any]]
    diff: ProductsDiff


def replay_group(kafka_config: KafkaConfig, group: str | None) -> str:
    """The replay's consumer group; never the live parser's, whose offsets a replay must not move."""
    name = group or kafka_config.group("parser-replay")
    if name == kafka_config.group("parser"):
        raise ConfigError(f"--group {name!r} is the live parser group; a replay runs in a group of its own")
    return name


async def find_range(kafka_config: KafkaConfig, since: datetime | None) -> ReplayRange:
    """Start offsets for ``since`` (None: the log start) and the end offsets as of now."""
    probe = kafka.consumer(kafka_config, group=None, client_id="crawlpipe-replay-probe")
    admin = kafka.admin(kafka_config, client_id="crawlpipe-replay-probe")
    await kafka.start(probe, kafka_config)
    try:
        await kafka.start(admin, kafka_config)
        partitions = await kafka.topic_partitions(admin, kafka_config.topic_pages)
        if not partitions:
            raise ConfigError(f"topic {kafka_config.topic_pages!r} does not exist: nothing to replay")
        end = await probe.end_offsets(partitions)
        if since is None:
            start = await probe.beginning_offsets(partitions)
        else:
            found = await probe.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            # No record at or after the instant: that partition has nothing to replay.
            start = {tp: found[tp].offset if found[tp] is not None else end[tp] for tp in partitions}
    finally:
        await admin.close()
        await probe.stop()
    return ReplayRange(start=start, end=end)


async def reset_group(kafka_config: KafkaConfig, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` as ``group``'s positions; fails if the group has live members."""
    consumer = kafka.consumer(kafka_config, group=group, client_id="crawlpipe-replay-reset")
    await kafka.start(consumer, kafka_config)
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    except KafkaError as exc:
        raise ConfigError(f"cannot reset the offsets of group {group!r} ({exc!r}): is another replay "
                          "running in it? Stop it, or give another --group") from exc
    finally:
        await consumer.stop()


async def replay(kafka_config: KafkaConfig, runner_config: RunnerConfig, parser_config: ParserConfig, *,
                 group: str | None, since: datetime | None,
                 progress: Callable[[int], None] | None = None) -> ReplayResult:
    """Re-parse the pages topic from ``since`` (None: the beginning) up to its end as of now.

    ``progress`` is called with the pages re-parsed so far, twice a second.
    """
    name = replay_group(kafka_config, group)
    pages = await find_range(kafka_config, since)
    await reset_group(kafka_config, name, pages.start)
    if not pages.pending:
        return ReplayResult(pages=0, products=0, dead_lettered=0)
    stage = ParserStage(kafka_config, dataclasses.replace(parser_config, follow_links=False))
    runner = StageRunner(stage, kafka_config, runner_config, group=name, until=pages.pending,
                         client_id=f"crawlpipe-replay-{name}")
    reporter = asyncio.create_task(_report(runner, progress)) if progress else None
    try:
        await runner.run()
    finally:
        if reporter:
            reporter.cancel()
    return ReplayResult(pages=runner.counts.finished, products=runner.output.counts.produced,
                        dead_lettered=runner.output.counts.dlq)


async def _report(runner: StageRunner, progress: Callable[[int], None]) -> None:
    while True:
        progress(runner.counts.finished)
        await asyncio.sleep(0.5)


async def sample_pages(kafka_config: KafkaConfig, pages: ReplayRange, sample: int) -> list[Envelope]:
    """Up to ``sample`` pages from the range's start, partition by partition, without a consumer group."""
    pending = pages.pending
    if not pending or sample <= 0:
        return []
    consumer: AIOKafkaConsumer = kafka.consumer(kafka_config, group=None, client_id="crawlpipe-replay-sample")
    await kafka.start(consumer, kafka_config)
    found: list[Envelope] = []
    try:
        consumer.assign(list(pending))
        for tp in pending:
            consumer.seek(tp, pages.start[tp])
        while pending and len(found) < sample:
            batch = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=sample - len(found))
            for tp, records in batch.items():
                for record in records:
                    if tp in pending and record.offset < pending[tp] and len(found) < sample:
                        found.append(Envelope(
                            topic=record.topic, partition=record.partition, offset=record.offset,
                            key=record.key, value=record.value or b"", headers=tuple(record.headers or ()),
                            timestamp_ms=record.timestamp,
                        ))
                if tp in pending and await consumer.position(tp) >= pending[tp]:
                    consumer.pause(tp)
                    del pending[tp]
    finally:
        await consumer.stop()
    return found


async def dry_run(kafka_config: KafkaConfig, parser_config: ParserConfig, *, since: datetime | None,
                  sample: int, storage: str) -> DryRunResult:
    """Re-parse a sample with the current rules and compare with the stored rows; produce nothing."""
    envelopes = await sample_pages(kafka_config, await find_range(kafka_config, since), sample)
    stage = ParserStage(kafka_config, dataclasses.replace(parser_config, follow_links=False))
    await stage.start(StageContext(window=Window(max_messages=1, max_bytes=1)))
    failed = 0
    page_urls = set()
    new = {}
    try:
        for envelope in envelopes:
            try:
                emits = await stage.handle(envelope)
            except CrawlpipeError:
                failed += 1
                continue
            page_urls.add(dict(envelope.headers).get("final_url", b"").decode(errors="replace"))
            for emit in emits:
                if emit.kind == "product":
                    document = orjson.loads(emit.value)
                    new[document["id"]] = document
    finally:
        await stage.stop()
    old = await stored_products(storage, ids=new.keys(), page_urls=page_urls)
    return DryRunResult(pages=len(envelopes), failed=failed, old=old, new=new, diff=diff_products(old, new))
