"""Honest health: /healthz from process start, /readyz with reasons, and the dependency and task metrics."""

from __future__ import annotations

import signal
import time

import aiohttp
import pytest
from aiokafka import TopicPartition

from stages.core.background import StuckPartitions
from stages.core.health import Health
from stages.core.offsets import OffsetTracker
from tests.conftest import StageProcesses, eventually, free_port
from tests.integration.outage import readiness
from tests.ops.test_metrics import scrape, value


async def healthz(port: int) -> int:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status
    except aiohttp.ClientError:
        return 0


@pytest.mark.kafka
async def test_a_restarted_stage_answers_healthz_before_its_group_lets_it_in(stages: StageProcesses):
    first_port, second_port = free_port(), free_port()
    stages.start("sink", CRAWLPIPE_METRICS_PORT=str(first_port))
    await eventually(lambda: "sink rebalance: assigned" in stages.log("sink"), what="the first sink to join")
    stages.stop("sink", signal.SIGKILL)
    # The group waits for the killed member's session (6 s here, 30 s by default) before letting another in.
    stages.start("sink", name="sink-2", CRAWLPIPE_METRICS_PORT=str(second_port))
    await eventually(lambda: _is(healthz(second_port), 200), what="/healthz of the restarted sink")
    assert "rebalance: assigned" not in stages.log("sink-2")
    await eventually(lambda: "sink rebalance: assigned" in stages.log("sink-2"), what="the restarted sink to join")
    status, body = await readiness(second_port)
    assert status == 200 and body["reasons"] == [], body
    # A task that met a transient failure (a slow probe on a loaded machine) is down until its next run.
    await eventually(lambda: _all_up(second_port), what="kafka and every background task up")


async def _all_up(port: int) -> bool:
    async with aiohttp.ClientSession() as session:
        samples = await scrape(session, f"http://127.0.0.1:{port}")
    return value(samples, "crawlpipe_dependency_up", dependency="kafka") == 1.0 and all(
        value(samples, "crawlpipe_background_task_up", task=task) == 1.0 for task in ("commit", "kafka_probe", "progress"))


async def _is(status, expected: int) -> bool:
    return await status == expected


def test_a_partition_whose_oldest_message_does_not_finish_is_reported_stuck():
    tracker, health = OffsetTracker(), Health("sink")
    tp = TopicPartition("products", 3)
    token = tracker.begin(tp, 10)
    tracker.begin(tp, 11)
    watch = StuckPartitions(tracker, health, stuck_seconds=0.05)
    watch.check()
    assert health.problems() == []
    time.sleep(0.06)
    watch.check()
    assert health.problems() == ["partition products[3] stuck: offset 10 in flight for 0 s"]
    tracker.finish(tp, 10, token)
    watch.check()
    assert health.problems() == [], "offset 11 has only just become the oldest"
