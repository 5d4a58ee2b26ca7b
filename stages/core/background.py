"""The background tasks of every stage, started under the runner's ``Supervisor``.

Commits, the memory guard and the lag watcher act; the Kafka probe and the
progress watch only observe, feeding ``Health`` (``/readyz`` and the
``crawlpipe_dependency_up`` metric) so an outage shows within one probe
interval even while no message is in flight to meet it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stages.core.health import Health
from stages.core.offsets import OffsetTracker

if TYPE_CHECKING:
    from stages.core.runner import StageRunner


async def start(runner: StageRunner) -> None:
    """Start every task, each after its first try (so a stage whose downstream lags starts paused)."""
    config = runner.config
    tasks = runner.supervisor
    await tasks.every("commit", config.commit_interval_seconds, runner.commit)
    if runner.memory.enabled:
        await tasks.every("memory_guard", config.memory_check_interval_seconds, runner.memory.check)
    if runner.lag and runner.lag.enabled:
        await tasks.every("lag_watcher", config.lag_check_interval_seconds, runner.lag.check)
    interval = config.health_check_interval_seconds
    probe = KafkaProbe(runner.admin, runner.health, timeout_seconds=interval * 2)
    await tasks.every("kafka_probe", interval, probe.check)
    await tasks.every("progress", interval, StuckPartitions(runner.tracker, runner.health,
                                                      stuck_seconds=config.stuck_partition_seconds).check)


class KafkaProbe:
    """Asks the broker for its cluster metadata; reachable is an answer within the timeout."""

    def __init__(self, admin: AIOKafkaAdminClient, health: Health, *, timeout_seconds: float) -> None:
        self._admin = admin
        self._health = health
        self._timeout = timeout_seconds

    async def check(self) -> None:
        try:
            await asyncio.wait_for(self._admin.describe_cluster(), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            self._health.dependency_down("kafka", f"no answer from the broker: {type(exc).__name__} {exc}".strip())
            return
        self._health.dependency_up("kafka")


class StuckPartitions:
    """A partition is stuck when its oldest message in flight has not finished for ``stuck_seconds``."""

    def __init__(self, tracker: OffsetTracker, health: Health, *, stuck_seconds: float) -> None:
        self._tracker = tracker
        self._health = health
        self._stuck_seconds = stuck_seconds
        self._since: dict[TopicPartition, tuple[int, float]] = {}

    def check(self) -> None:
        now = time.monotonic()
        oldest = self._tracker.oldest_pending()
        self._since = {tp: (offset, self._since[tp][1] if tp in self._since and self._since[tp][0] == offset
                            else now) for tp, offset in oldest.items()}
        self._health.set_stuck({
            f"{tp.topic}[{tp.partition}]": f"offset {offset} in flight for {now - since:.0f} s"
            for tp, (offset, since) in self._since.items() if now - since >= self._stuck_seconds
        })
