"""The scheduler against the real broker: adaptive intervals, restarts, misses, per-host rate, replicas.

Records go straight to the products topic in the contract's two shapes; what
is checked is what the scheduler stores and, above all, what it publishes to
the URL topic. Time is the scheduler's injected clock, moved by the test,
which runs a dispatch round after each move (``dispatcher.dispatch``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stages.core.fastpath.partitions import partition_for
from stages.core.metrics import MetricsConfig
from stages.core.runner import StageRunner
from stages.core.settings import KafkaConfig
from stages.tools.status import Snapshot, StageSample, lines, scrape
from tests.conftest import eventually, free_port
from tests.scheduler.helpers import (
    DAY,
    HOUR,
    Clock,
    discontinued,
    product,
    publish,
    running,
    schedule,
    scheduler_config,
    urls,
)

pytestmark = pytest.mark.kafka

# Whole seconds: the records carry it to the microsecond, and due times are compared exactly.
T0 = float(int(time.time() - 5 * DAY))


async def assigned(runner: StageRunner) -> None:
    await eventually(lambda: runner.assignment()[0], what="the scheduler's partitions")


async def dispatch(runner: StageRunner) -> None:
    assert runner.stage.dispatcher is not None
    await runner.stage.dispatcher.dispatch()


async def test_a_product_whose_price_changes_is_recrawled_sooner_than_a_stable_one(
        kafka_config: KafkaConfig, tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    clock = Clock(T0)
    await publish(kafka_config,
                  product("changing", "a.test", "10.00", T0), product("stable", "b.test", "10.00", T0),
                  product("changing", "a.test", "12.50", T0 + DAY), product("stable", "b.test", "10.0", T0 + DAY))
    async with running(kafka_config, scheduler_config(db), clock) as runner:
        await eventually(lambda: {pid: row[0] for pid, row in schedule(db).items()} == {
            "changing": 0.5 * DAY, "stable": 1.5 * DAY}, what="both second visits in the schedule")
        await assigned(runner)
        clock.now = T0 + DAY + 11 * HOUR
        await dispatch(runner)
        clock.now = T0 + DAY + 12 * HOUR
        await dispatch(runner)
        published = await urls(kafka_config, 1)
        assert [(m["url"], m["purpose"], m["product"], m["site"]) for m in published] == [
            ("http://a.test/product/changing.html", "recrawl", "changing", "shop")]
        # Published, it is not published again before one interval (12 h) has passed.
        clock.now = T0 + DAY + 23 * HOUR
        await dispatch(runner)
        assert len(await urls(kafka_config, 1)) == 1
        clock.now = T0 + DAY + 36 * HOUR
        await dispatch(runner)
        published = await urls(kafka_config, 3)
    assert Counter(m["product"] for m in published) == {"changing": 2, "stable": 1}


async def test_a_restarted_scheduler_keeps_its_schedule(kafka_config: KafkaConfig, tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    clock = Clock(T0)
    await publish(kafka_config, product("p", "a.test", "5.00", T0), product("p", "a.test", "5.00", T0 + DAY))
    async with running(kafka_config, scheduler_config(db), clock):
        await eventually(lambda: schedule(db).get("p", (None,))[0] == 1.5 * DAY, what="the second visit")
    before = schedule(db)
    # A new process's view: same file, same group; the records already seen are not applied again.
    await publish(kafka_config, product("p", "a.test", "5.00", T0 + 2.5 * DAY))
    async with running(kafka_config, scheduler_config(db), clock) as runner:
        await eventually(lambda: schedule(db)["p"][0] == 2.25 * DAY, what="the third visit")
        assert before["p"][1] == T0 + DAY + 1.5 * DAY
        await assigned(runner)
        clock.now = T0 + 2.5 * DAY + 2.25 * DAY
        await dispatch(runner)
        assert [m["product"] for m in await urls(kafka_config, 1)] == ["p"]


async def test_a_discontinued_product_stops_being_scheduled_after_max_misses(
        kafka_config: KafkaConfig, tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    clock = Clock(T0)
    await publish(kafka_config, product("gone", "a.test", "3.00", T0), product("kept", "a.test", "3.00", T0),
                  discontinued("gone", "a.test", T0 + DAY),
                  discontinued("gone", "a.test", T0 + DAY + HOUR, reason="not_on_page"))
    async with running(kafka_config, scheduler_config(db, max_misses=3), clock) as runner:
        await eventually(lambda: schedule(db).get("gone", (0, 0, 0))[2] == 2, what="two misses")
        # Below the limit a miss asks for a re-check one minimum interval later.
        assert schedule(db)["gone"][1] == T0 + DAY + 2 * HOUR
        await publish(kafka_config, discontinued("gone", "a.test", T0 + DAY + 2 * HOUR, reason="http_404"))
        await eventually(lambda: schedule(db)["gone"][2] == 3, what="the third miss")
        assert schedule(db)["gone"][1] is None
        await assigned(runner)
        for day in range(2, 30):
            clock.now = T0 + day * DAY
            await dispatch(runner)
        published = await urls(kafka_config, 1)
    assert {m["product"] for m in published} == {"kept"}


async def test_each_host_gets_at_most_its_rate_of_recrawls(kafka_config: KafkaConfig, tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    per_minute = 6
    hosts = two_hosts_on_two_partitions(kafka_config)
    await publish(kafka_config, *[product(f"{host}-{n}", host, "1.00", T0) for host in hosts for n in range(40)])
    clock = Clock(T0)
    settings = scheduler_config(db, max_recrawls_per_host_per_minute=per_minute)
    async with running(kafka_config, settings, clock) as runner:
        await eventually(lambda: len(schedule(db)) == 80, what="80 products scheduled")
        await assigned(runner)
        # Every product is due; three minutes of rounds, one each simulated second.
        probe = AIOKafkaConsumer(bootstrap_servers=kafka_config.bootstrap)
        await probe.start()
        try:
            partitions = [TopicPartition(kafka_config.topic_urls, p) for p in range(2)]
            published_by: list[tuple[float, dict[int, int]]] = []
            for second in range(180):
                clock.now = T0 + 2 * DAY + second
                await dispatch(runner)
                ends = await probe.end_offsets(partitions)
                published_by.append((clock.now, {tp.partition: ends[tp] for tp in partitions}))
        finally:
            await probe.stop()
    for partition in range(2):
        counts = [(at, ends[partition]) for at, ends in published_by]
        per_window = max(later - earlier_count(counts, at - 60) for at, later in counts)
        assert per_window == per_minute, f"partition {partition}: {per_window} in some minute"
        assert counts[-1][1] == 18  # 180 s at one per 10 s
    messages = await urls(kafka_config, 36, settle_seconds=0.2)
    assert Counter(message["url"].split("/")[2] for message in messages) == {host: 18 for host in hosts}


async def test_two_replicas_never_dispatch_the_same_host(kafka_config: KafkaConfig, tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    hosts = [f"shop{n}.test" for n in range(12)]
    await publish(kafka_config, *[product(f"{host}-{n}", host, "1.00", T0) for host in hosts for n in range(3)])
    clock = Clock(T0)
    settings = scheduler_config(db)
    async with running(kafka_config, settings, clock) as one, running(kafka_config, settings, clock) as two:
        await eventually(lambda: len(schedule(db)) == 36, what="36 products scheduled")
        await eventually(lambda: len(one.assignment()[0]) == 1 and len(two.assignment()[0]) == 1,
                         what="one partition each")
        clock.now = T0 + 2 * DAY
        await asyncio.gather(dispatch(one), dispatch(two))
        mine = {runner: runner.assignment()[0] for runner in (one, two)}
        produced = {runner: runner.output.counts.produced for runner in (one, two)}
    messages = await urls(kafka_config, len(hosts), settle_seconds=0.5)
    by_host = Counter(message["url"].split("/")[2] for message in messages)
    assert by_host == {host: 1 for host in hosts}
    for runner in (one, two):
        own = [host for host in hosts if partition_for(host.encode(), [0, 1]) in mine[runner]]
        assert produced[runner] == len(own) > 0


def earlier_count(counts: list[tuple[float, int]], at: float) -> int:
    """Messages published by the round at or before ``at`` (0 before the first)."""
    return max((count for when, count in counts if when <= at), default=0)


def two_hosts_on_two_partitions(config: KafkaConfig) -> list[str]:
    """Two hosts whose URL messages land on different partitions, so end offsets count per host."""
    first = "rate-a.test"
    other = next(f"rate-{n}.test" for n in range(100)
                 if partition_for(f"rate-{n}.test".encode(), [0, 1]) != partition_for(first.encode(), [0, 1]))
    return [first, other]


async def test_the_schedule_shows_in_metrics_and_in_crawlpipe_status(kafka_config: KafkaConfig,
                                                                      tmp_path: Path) -> None:
    db = tmp_path / "schedule.db"
    clock = Clock(T0 + DAY + 2 * HOUR)
    await publish(kafka_config, *[product(f"a{n}", "a.test", "1.00", T0) for n in range(3)],
                  product("b", "b.test", "1.00", T0 + DAY), product("gone", "c.test", "1.00", T0),
                  discontinued("gone", "c.test", T0 + HOUR))
    # The stage's own rounds: one at start (no partitions yet), the next a minute later, after the test.
    settings = scheduler_config(db, max_misses=1, gauge_interval_seconds=0.1, gauge_top_hosts=1,
                                overdue_after_seconds=HOUR, dispatch_interval_seconds=60,
                                max_recrawls_per_host_per_minute=1)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/metrics"
    async with running(kafka_config, settings, clock, MetricsConfig(metrics_port=port)):
        await eventually(lambda: len(schedule(db)) == 5, what="five products scheduled")

        async def scraped() -> StageSample | None:
            async with aiohttp.ClientSession() as session:
                sample = await scrape(session, endpoint)
            return sample if sample.values.get("crawlpipe_scheduler_unscheduled_urls") == 1 else None

        sample = await eventually(scraped, what="the gauges counted")
        async with aiohttp.ClientSession() as session, session.get(endpoint) as response:
            exposition = await response.text()
    # The three of a.test are due (and overdue), b.test's is not yet; c.test's is no longer scheduled.
    assert 'crawlpipe_scheduler_scheduled_urls{host="a.test"} 3.0' in exposition
    assert 'crawlpipe_scheduler_scheduled_urls{host="other"} 1.0' in exposition
    assert "c.test" not in exposition
    [line] = lines(Snapshot([], [], [sample]), None, "t")
    # The dispatched counter is the process's: earlier tests in this process counted theirs.
    assert " scheduled=4 due=3 overdue=3 unscheduled=1 dispatched=" in line
