"""``crawlpipe status``: where work is waiting, and how each running stage is doing.

Reads three things and shows them as tables, once or live (``--watch``):
every pipeline topic's size and end offsets; every stage group's lag per
topic (end offset minus committed offset; "no offsets" when the group has
committed nothing, which is not the same as zero); and, from the stages'
``/metrics`` endpoints, each process's throughput, window use, RSS and why
it is paused. Throughput is the difference between two scrapes. A scheduler's
endpoint adds its recrawl schedule: URLs scheduled, due, overdue, no longer
scheduled, and dispatched.

``--watch`` in a terminal narrower than ``WIDE_COLUMNS`` (80x24, say) shows a
compact layout, stages first; piped, it prints one line per stage, group and
topic at every refresh (``lines``), so ``grep`` and ``tee`` see it as it comes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from stages.core import kafka
from stages.core.settings import MIB, KafkaConfig

SCRAPE_TIMEOUT_SECONDS = 2.0
# Narrower terminals get the compact layout.
WIDE_COLUMNS = 120
TEXT_COLUMNS = frozenset({"stage", "port", "paused", "group", "topic"})
# The scheduler's gauges and counter (stages/scheduler/metrics.py), as status shows them; per-host series summed.
SCHEDULE_COLUMNS = (
    ("scheduled", "crawlpipe_scheduler_scheduled_urls"),
    ("due", "crawlpipe_scheduler_due_urls"),
    ("overdue", "crawlpipe_scheduler_overdue_urls"),
    ("unscheduled", "crawlpipe_scheduler_unscheduled_urls"),
    ("dispatched", "crawlpipe_scheduler_dispatched_urls_total"),
)


@dataclass(frozen=True)
class TopicState:
    name: str
    end_offsets: dict[int, int]
    messages: int
    exists: bool = True


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    lag: int | None
    committed: int | None


@dataclass(frozen=True)
class StageSample:
    """What one scrape of a stage's /metrics said; ``error`` when it did not answer."""

    url: str
    taken_at: float
    stage: str = "?"
    values: dict[str, float] = field(default_factory=dict)
    paused: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    topics: list[TopicState]
    groups: list[GroupLag]
    stages: list[StageSample]


def metrics_urls(urls: Sequence[str], ports: str | None) -> tuple[list[str], list[str]]:
    """(given URLs, URLs to try from a port list like ``9400-9403,9410``)."""
    given = [url if url.rstrip("/").endswith("/metrics") else url.rstrip("/") + "/metrics" for url in urls]
    tried: list[str] = []
    for part in (ports or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        tried += [f"http://127.0.0.1:{port}/metrics" for port in range(int(low), int(high or low) + 1)]
    return given, tried


async def read_kafka(config: KafkaConfig) -> tuple[list[TopicState], list[GroupLag]]:
    admin = kafka.admin(config, client_id="crawlpipe-status")
    await kafka.start(admin, config)
    try:
        probe = kafka.consumer(config, group=None, client_id="crawlpipe-status")
        await kafka.start(probe, config)
        try:
            return await _read(config, admin, probe)
        finally:
            await kafka.close(probe, config)
    finally:
        await kafka.close(admin, config)


async def _read(config: KafkaConfig, admin: AIOKafkaAdminClient,
                probe: AIOKafkaConsumer) -> tuple[list[TopicState], list[GroupLag]]:
    names = [config.topic_urls, config.topic_pages, config.topic_products, config.topic_dlq]
    partitions = {name: await kafka.topic_partitions(admin, name) for name in names}
    every = [tp for tps in partitions.values() for tp in tps]
    ends = await probe.end_offsets(every) if every else {}
    starts = await probe.beginning_offsets(every) if every else {}
    topics = [TopicState(name, {tp.partition: ends[tp] for tp in tps}, sum(ends[tp] - starts[tp] for tp in tps),
                         exists=bool(tps)) for name, tps in partitions.items()]
    inputs = {"fetcher": config.topic_urls, "parser": config.topic_pages, "sink": config.topic_products}
    groups = {config.group(stage) for stage in inputs}
    groups.update(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(config.group_prefix + "-"))
    lags = []
    for group in sorted(groups):
        committed = await _committed(admin, group)
        stage = group.removeprefix(config.group_prefix + "-")
        # A stage group that committed nothing yet still gets its row: "no offsets" is worth seeing.
        shown = sorted({tp.topic for tp in committed} | ({inputs[stage]} if stage in inputs else set()))
        for topic in shown:
            tps = partitions.get(topic) or await kafka.topic_partitions(admin, topic)
            lags.append(await _lag(probe, group, topic, tps, committed, ends, starts))
    return topics, lags


async def _committed(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:
        return {}
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def _lag(probe: AIOKafkaConsumer, group: str, topic: str, tps: list[TopicPartition],
               committed: dict[TopicPartition, int], ends: dict, starts: dict) -> GroupLag:
    mine = {tp: offset for tp, offset in committed.items() if tp.topic == topic}
    if not mine or not tps:
        return GroupLag(group, topic, None, None)
    missing = [tp for tp in tps if tp not in ends]
    if missing:
        ends = {**ends, **await probe.end_offsets(missing)}
        starts = {**starts, **await probe.beginning_offsets(missing)}
    # A partition without a commit counts from its log start, where a new consumer begins.
    lag = sum(max(0, ends[tp] - mine.get(tp, starts[tp])) for tp in tps)
    return GroupLag(group, topic, lag, sum(mine.values()))


async def scrape(session: aiohttp.ClientSession, url: str) -> StageSample:
    now = time.monotonic()
    try:
        async with session.get(url) as response:
            response.raise_for_status()
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return StageSample(url, now, error=type(exc).__name__)
    values: dict[str, float] = {}
    paused: list[str] = []
    stage = "?"
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith("crawlpipe_"):
                continue
            stage = sample.labels.get("stage", stage)
            if sample.name == "crawlpipe_paused":
                if sample.value:
                    paused.append(sample.labels["reason"])
                continue
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return StageSample(url, now, stage, values, tuple(sorted(paused)))


async def scrape_all(given: list[str], tried: list[str]) -> list[StageSample]:
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        samples = await asyncio.gather(*(scrape(session, url) for url in given + tried))
    # Ports tried by discovery that nobody listens on are simply not stages.
    return [s for s in samples if s.error is None or s.url in given]


async def snapshot(config: KafkaConfig, given: list[str], tried: list[str]) -> Snapshot:
    topics, groups = await read_kafka(config)
    stages = await scrape_all(given, tried) if given or tried else []
    return Snapshot(topics, groups, stages)


def _count(n: int | float | None) -> str:
    return "—" if n is None else f"{int(n):,}"


def _rate(now: StageSample, before: StageSample | None, name: str) -> str:
    if before is None or before.error or now.error or now.taken_at <= before.taken_at:
        return "—"
    delta = now.values.get(name, 0.0) - before.values.get(name, 0.0)
    return f"{delta / (now.taken_at - before.taken_at):,.1f}/s"


def render(snap: Snapshot, previous: Snapshot | None = None) -> Group:
    topics = Table(title="topics", title_justify="left")
    for column in ("topic", "partitions", "messages", "end offsets"):
        topics.add_column(column, justify="left" if column in ("topic", "end offsets") else "right")
    for t in snap.topics:
        ends = " ".join(f"{p}:{o}" for p, o in sorted(t.end_offsets.items())) if t.exists else "missing"
        topics.add_row(t.name, str(len(t.end_offsets)), _count(t.messages), ends)
    groups = Table(title="consumer groups", title_justify="left")
    for column in ("group", "topic", "lag", "committed"):
        groups.add_column(column, justify="left" if column in ("group", "topic") else "right")
    for g in snap.groups:
        groups.add_row(g.group, g.topic, _count(g.lag) if g.lag is not None else "no offsets", _count(g.committed))
    parts: list[Table] = [topics, groups]
    if snap.stages:
        before = {s.url: s for s in previous.stages} if previous else {}
        stages = Table(title="stages", title_justify="left")
        for column in ("stage", "endpoint", "consumed", "consumed/s", "produced/s", "in flight", "RSS MB",
                       "DLQ", "paused"):
            stages.add_column(column, justify="left" if column in ("stage", "endpoint", "paused") else "right")
        for s in snap.stages:
            if s.error:
                stages.add_row(s.stage, s.url, "", "", "", "", "", "", f"down ({s.error})")
                continue
            v = s.values
            window = (f"{int(v.get('crawlpipe_in_flight_messages', 0))}"
                      f"/{int(v.get('crawlpipe_window_capacity_messages', 0))}")
            stages.add_row(s.stage, s.url, _count(v.get("crawlpipe_consumed_messages_total")),
                           _rate(s, before.get(s.url), "crawlpipe_consumed_messages_total"),
                           _rate(s, before.get(s.url), "crawlpipe_produced_messages_total"), window,
                           f"{v.get('crawlpipe_rss_bytes', 0) / MIB:,.0f}",
                           _count(v.get("crawlpipe_dlq_messages_total", 0)), ", ".join(s.paused) or "no")
        parts.append(stages)
        parts += _schedules(snap.stages)
    return Group(*parts)


def render_compact(snap: Snapshot, previous: Snapshot | None, prefix: str) -> Group:
    """For 80x24: stages first, short columns, no end offsets, group names without the common prefix."""

    def table(title: str, columns: Sequence[str]) -> Table:
        compact = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                        padding=(0, 1))
        for column in columns:
            compact.add_column(column, justify="left" if column in TEXT_COLUMNS else "right", no_wrap=True)
        return compact

    parts: list[Table] = []
    if snap.stages:
        before = {s.url: s for s in previous.stages} if previous else {}
        stages = table("stages", ("stage", "port", "in/s", "out/s", "window", "MB", "DLQ", "paused"))
        for s in snap.stages:
            port = s.url.rsplit(":", 1)[-1].removesuffix("/metrics")
            if s.error:
                stages.add_row(s.stage, port, "", "", "", "", "", f"down ({s.error})")
                continue
            v = s.values
            stages.add_row(s.stage, port, _short_rate(s, before.get(s.url), "crawlpipe_consumed_messages_total"),
                           _short_rate(s, before.get(s.url), "crawlpipe_produced_messages_total"),
                           f"{int(v.get('crawlpipe_in_flight_messages', 0))}/"
                           f"{int(v.get('crawlpipe_window_capacity_messages', 0))}",
                           f"{v.get('crawlpipe_rss_bytes', 0) / MIB:,.0f}",
                           _count(v.get("crawlpipe_dlq_messages_total", 0)), ", ".join(s.paused) or "no")
        parts.append(stages)
    groups = table(f"groups (named {prefix}-GROUP)", ("group", "topic", "lag", "committed"))
    for g in snap.groups:
        groups.add_row(g.group.removeprefix(prefix + "-"), g.topic,
                       _count(g.lag) if g.lag is not None else "no offsets", _count(g.committed))
    topics = table("topics", ("topic", "partitions", "messages"))
    for t in snap.topics:
        topics.add_row(t.name, str(len(t.end_offsets)) if t.exists else "missing", _count(t.messages))
    return Group(*parts, groups, topics)


def _schedules(samples: Sequence[StageSample]) -> list[Table]:
    """The recrawl schedule as its scheduler replicas count it (a table only where one answered)."""
    schedulers = [s for s in samples if not s.error and SCHEDULE_COLUMNS[0][1] in s.values]
    if not schedulers:
        return []
    schedule = Table(title="recrawl schedule", title_justify="left")
    schedule.add_column("endpoint")
    for name, _ in SCHEDULE_COLUMNS:
        schedule.add_column(name, justify="right")
    for s in schedulers:
        schedule.add_row(s.url, *(_count(s.values.get(metric)) for _, metric in SCHEDULE_COLUMNS))
    return [schedule]


def _short_rate(now: StageSample, before: StageSample | None, name: str) -> str:
    """A rate in at most 6 characters (``812.5``, ``80.0k``): the column header says per second."""
    rate = _rate(now, before, name)
    if rate == "—":
        return rate
    per_second = float(rate.removesuffix("/s").replace(",", ""))
    return f"{per_second:.1f}" if per_second < 1000 else f"{per_second / 1000:.1f}k"


def _plain_rate(now: StageSample, before: StageSample | None, name: str) -> str:
    rate = _rate(now, before, name)
    return "none" if rate == "—" else rate.removesuffix("/s").replace(",", "")


def lines(snap: Snapshot, previous: Snapshot | None, stamp: str) -> list[str]:
    """One ``key=value`` line per stage, group and topic: the piped form of ``--watch``."""
    before = {s.url: s for s in previous.stages} if previous else {}
    out = []
    for s in snap.stages:
        if s.error:
            out.append(f"{stamp} stage={s.stage} endpoint={s.url} down={s.error}")
            continue
        v = s.values
        out.append(f"{stamp} stage={s.stage} endpoint={s.url} "
                   f"consumed={int(v.get('crawlpipe_consumed_messages_total', 0))} "
                   f"consumed_per_s={_plain_rate(s, before.get(s.url), 'crawlpipe_consumed_messages_total')} "
                   f"produced_per_s={_plain_rate(s, before.get(s.url), 'crawlpipe_produced_messages_total')} "
                   f"in_flight={int(v.get('crawlpipe_in_flight_messages', 0))} "
                   f"rss_mb={v.get('crawlpipe_rss_bytes', 0) / MIB:.0f} "
                   f"dlq={int(v.get('crawlpipe_dlq_messages_total', 0))} paused={','.join(s.paused) or 'no'}"
                   + "".join(f" {name}={int(v[metric])}" for name, metric in SCHEDULE_COLUMNS if metric in v))
    out += [f"{stamp} group={g.group} topic={g.topic} lag={'none' if g.lag is None else g.lag} "
            f"committed={'none' if g.committed is None else g.committed}" for g in snap.groups]
    out += [f"{stamp} topic={t.name} partitions={len(t.end_offsets) if t.exists else 'missing'} "
            f"messages={t.messages}" for t in snap.topics]
    return out


async def status(config: KafkaConfig, *, metrics: Sequence[str] = (), metrics_ports: str | None = None,
                 watch: bool = False, interval_seconds: float = 2.0, console: Console | None = None,
                 out: IO[str] = sys.stdout) -> None:
    """Print the tables once (two scrapes ``interval_seconds`` apart give throughput), or live until Ctrl-C."""
    if console is None:
        console = Console()
    piped = not console.is_terminal
    if piped and not watch:
        # Off a terminal rich assumes 80 columns, which folds the stage table.
        console = Console(width=160)
    given, tried = metrics_urls(metrics, metrics_ports)
    first = await snapshot(config, given, tried)
    if not watch:
        second = first
        if first.stages:
            await asyncio.sleep(interval_seconds)
            second = await snapshot(config, given, tried)
        console.print(render(second, first))
        return
    if piped:
        await _watch_lines(config, given, tried, first, interval_seconds, out)
        return

    def view(current: Snapshot, previous: Snapshot | None) -> Group:
        if console.width < WIDE_COLUMNS:
            return render_compact(current, previous, config.group_prefix)
        return render(current, previous)

    previous = first
    with Live(view(first, None), console=console, auto_refresh=False) as live:
        while True:
            await asyncio.sleep(interval_seconds)
            current = await snapshot(config, given, tried)
            live.update(view(current, previous), refresh=True)
            previous = current


async def _watch_lines(config: KafkaConfig, given: list[str], tried: list[str], first: Snapshot,
                       interval_seconds: float, out: IO[str]) -> None:
    previous, current = None, first
    while True:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print("\n".join(lines(current, previous, stamp)), file=out, flush=True)
        await asyncio.sleep(interval_seconds)
        previous, current = current, await snapshot(config, given, tried)
