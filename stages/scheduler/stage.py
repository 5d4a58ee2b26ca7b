"""The scheduler stage: consumes ``crawl.products``, keeps every product's next visit, publishes due URLs.

Step 5 of the data flow in ``stages/__init__.py``. Product and discontinued
records are written to the schedule in batches (``schedule.py`` decides each
entry, ``store/`` keeps them on disk, not in memory); an input offset is
committed only once its batch is durable, so a restarted scheduler resumes
with its schedule and redelivered records change nothing twice. The dispatch
round (``dispatch.py``) and the schedule's gauges run as supervised
background tasks of the runner, and produce to ``crawl.urls``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stages.core.batcher import Batcher
from stages.core.envelope import Envelope
from stages.core.messages import decode_products_record
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.stage import Stage, StageContext
from stages.scheduler import metrics
from stages.scheduler.dispatch import Clock, Dispatcher
from stages.scheduler.policy import Policy
from stages.scheduler.schedule import Planned
from stages.scheduler.settings import SchedulerConfig
from stages.scheduler.store import ScheduleStore, open_store


class SchedulerStage(Stage):
    name = "scheduler"
    input = "topic_products"
    outputs = {"urls": "topic_urls"}
    settings = (SchedulerConfig,)
    # As the sink: records wait for their storage commit as message, dict and entry.
    output_ratio = 5.0
    # Price tracking is opt-in: ``crawlpipe run --schedulers 1``.
    run_replicas = 0
    # A reader beside the sink: the parser is paced by the sink's lag, never by the schedule's.
    paces_upstream = False
    # Mostly waiting on its storage, like the sink: little being processed, a few batches awaiting commit.
    runner_defaults = {"max_in_flight": 2000, "max_in_flight_bytes": 2 * MIB, "max_unacked_bytes": 2 * MIB,
                       "nice": 10, "malloc_keep_mb": 0}

    def __init__(self, kafka_config: KafkaConfig, config: SchedulerConfig, *, clock: Clock = time.time) -> None:
        self._config = config
        self._clock = clock
        self._policy = Policy.of(config)
        self._store: ScheduleStore | None = None
        self._batcher: Batcher | None = None
        self.dispatcher: Dispatcher | None = None

    def memory_bytes(self, runner: RunnerConfig) -> int:
        return self._config.schedule_cache_mb * MIB

    async def start(self, context: StageContext) -> None:
        assert context.every and context.emit and context.assignment and context.paused, \
            "the runner lends every stage these"
        self._store = open_store(self._config.schedule_storage, self._policy, cache_mb=self._config.schedule_cache_mb)
        # Storage down at start stops the stage with the error, for `crawlpipe run` or the orchestrator to start
        # it again; once started, a storage outage is waited out (the batcher retries, dispatch rounds fail
        # and are retried by the supervisor).
        await self._store.start()
        self._batcher = Batcher(_Counted(self._store), batch_size=self._config.schedule_batch_size,
                                max_delay_seconds=self._config.schedule_batch_max_delay_seconds,
                                retry_seconds=self._config.schedule_retry_seconds, health=context.health)
        self.dispatcher = Dispatcher(self._store, self._config, publish=context.emit,
                                     assignment=context.assignment, paused=context.paused, clock=self._clock)
        await context.every("dispatch", self._config.dispatch_interval_seconds, self.dispatcher.dispatch)
        if self._config.gauge_interval_seconds:
            await context.every("schedule_gauges", self._config.gauge_interval_seconds, self._count)

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def handle(self, message: Envelope) -> asyncio.Future[None]:
        assert self._batcher is not None
        return self._batcher.add(decode_products_record(message))

    async def _count(self) -> None:
        assert self._store is not None
        metrics.counted(await self._store.counts(self._clock(), self._config.overdue_after_seconds,
                                                 self._config.gauge_top_hosts))


class _Counted:
    """The store as the batcher sees it, counting what each batch did."""

    def __init__(self, store: ScheduleStore) -> None:
        self._store = store

    async def write_batch(self, records: Any) -> Planned:
        planned = await self._store.write_batch(records)
        metrics.written(misses=planned.misses, ignored=planned.ignored)
        return planned
