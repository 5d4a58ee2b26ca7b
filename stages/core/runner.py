"""The one loop every stage runs: consume within the window, handle, commit in order.

Per message: (1) the window admits it or it is left in Kafka (the partition
is sought back), (2) the offset tracker records it, (3) the stage's
``handle`` runs as its own task (a ``batched`` stage gets a poll's messages
in one task), (4) errors at the edge become a DLQ record,
(5) the offset is marked finished and committed later up to the highest
contiguous finished offset. Backpressure (window, downstream lag, memory)
pauses partitions while the poll loop keeps polling.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from stages.core import fetch_buffers, kafka
from stages.core.codecs import TopicCodecs
from stages.core.envelope import Envelope
from stages.core.errors import MemoryExhausted
from stages.core.lag import LagWatcher
from stages.core.memory import (
    HotSpots,
    MemoryGuard,
    budget,
    cgroup_limit_bytes,
    check_budget,
    effective_limit_bytes,
    keep_freed_heap,
    pace_collector,
)
from stages.core.metrics import MetricsConfig, MetricsServer
from stages.core.offsets import OffsetTracker
from stages.core.output import Output
from stages.core.pausing import PauseState
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.stage import Stage, StageContext
from stages.core.window import Window

log = logging.getLogger("crawlpipe.runner")

# How long a full window may stall polling before partitions are paused:
# short stalls are normal and pausing drops the consumer's prefetch.
WINDOW_STALL_SECONDS = 1.0
# How long a rebalance waits for in-flight work of revoked partitions.
REBALANCE_DRAIN_SECONDS = 5.0


# A message in the stage's hands: its envelope, partition, bytes charged to the window and tracker token.
Admitted = tuple[Envelope, TopicPartition, int, int]


@dataclass
class Counts:
    consumed: int = 0
    consumed_bytes: int = 0
    finished: int = 0
    commits: int = 0


class StageRunner:
    """Runs one stage until stopped; or, given ``until``, a bounded run (a replay).

    ``until`` maps partitions to the offset to stop before: ``run`` returns once
    every named partition's committed offset has reached it, and records at or
    past it, or of partitions not named, are left in Kafka.
    """

    def __init__(self, stage: Stage, kafka_config: KafkaConfig, config: RunnerConfig, *,
                 client_id: str | None = None, group: str | None = None,
                 until: dict[TopicPartition, int] | None = None,
                 metrics: MetricsConfig | None = None) -> None:
        self.stage = stage
        self.kafka_config = kafka_config
        self.config = config
        self.group = group or kafka_config.group(stage.name)
        self.until = until
        self._reached: set[TopicPartition] = set()
        self.client_id = client_id or f"crawlpipe-{stage.name}-{os.getpid()}"
        self.window = Window(max_messages=config.max_in_flight, max_bytes=config.max_in_flight_bytes)
        self.tracker = OffsetTracker()
        self.hot_spots = HotSpots()
        self.counts = Counts()
        self._tasks: dict[asyncio.Task[None], frozenset[TopicPartition]] = {}
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self.consumer = kafka.consumer(kafka_config, stage.input_topic, group=self.group,
                                       client_id=self.client_id, max_poll_records=config.max_in_flight)
        self.producer = kafka.producer(kafka_config, client_id=self.client_id)
        self.admin = kafka.admin(kafka_config, client_id=self.client_id)
        self.output = Output(self.producer, stage=stage.name, dlq_topic=kafka_config.topic_dlq,
                             linger_seconds=kafka_config.producer_linger_ms / 1000,
                             codecs=TopicCodecs.of(kafka_config))
        self.pauses = PauseState(self.consumer, stage.name)
        self.planned = budget(config, kafka_config, output_ratio=stage.output_ratio,
                              stage_bytes=stage.extra_memory_bytes(config))
        self.limit_bytes = effective_limit_bytes(config, cgroup_limit_bytes(), self.planned)
        self.memory = MemoryGuard(config, self.planned, self.limit_bytes, self.window, self.pauses, self.hot_spots)
        downstream = stage.downstream
        self.lag = LagWatcher(config, downstream, self.admin, self.consumer, self.pauses) if downstream else None
        if downstream and self.lag:
            self.output.on_produced(downstream.topic, self.lag.produced)
        self.metrics = MetricsServer(self, metrics) if metrics and metrics.enabled else None

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("%s stopping: finishing in-flight work (up to %.0f s)", self.stage.name,
                     self.config.shutdown_timeout_seconds)
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Run until stopped by a signal or ``request_stop``; raise what made the stage fail."""
        check_budget(self.stage.name, self.planned, self.limit_bytes)
        keep_freed_heap(self.config.malloc_keep_mb * MIB)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, self.hot_spots.report)
        background: list[asyncio.Task[None]] = []
        try:
            for client in (self.admin, self.producer):
                await kafka.start(client, self.kafka_config)
            await self.stage.start(StageContext(output=self.output, window=self.window))
            pace_collector(self.config.gc_young_threshold)
            self.consumer.subscribe([self.stage.input_topic], listener=_Rebalance(self))
            await kafka.start(self.consumer, self.kafka_config)
            log.info("%s consuming %s as group %s", self.stage.name, self.stage.input_topic, self.group)
            if self.metrics:
                await self.metrics.start()
            background.append(asyncio.create_task(self._commit_loop()))
            if self.memory.enabled:
                background.append(asyncio.create_task(self._guard_memory()))
            if self.lag and self.lag.enabled:
                # Start paused if the stage downstream is already behind.
                await self.lag.check()
                background.append(asyncio.create_task(self.lag.run()))
            await self._consume()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._shutdown()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                loop.remove_signal_handler(signum)
        if self._failure is not None:
            raise self._failure

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            if not self.window.has_room():
                await self._wait_for_room()
                continue
            self.pauses.clear("window")
            batch = await self.consumer.getmany(timeout_ms=int(self.config.poll_timeout_seconds * 1000),
                                                max_records=self.window.free_messages)
            self._admit_batch(batch)

    async def _guard_memory(self) -> None:
        try:
            await self.memory.run()
        except MemoryExhausted as exc:
            log.error("%s %s", self.stage.name, exc)
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """Stop the stage, committing only what is finished, and have ``run`` raise ``exc``."""
        if self._failure is None:
            self._failure = exc
        self._stopping.set()

    async def _wait_for_room(self) -> None:
        room = asyncio.ensure_future(self.window.wait_for_room())
        stop = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({room, stop}, timeout=WINDOW_STALL_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
        room.cancel()
        stop.cancel()
        if not done:
            self.pauses.set("window", f"{self.window.messages} messages, {self.window.bytes} bytes in flight")
            # Keep polling while paused so the group does not evict us.
            self._admit_batch(await self.consumer.getmany(timeout_ms=0))

    def _admit_batch(self, batch: dict[TopicPartition, list]) -> None:
        admitted: list[Admitted] = []
        for tp, records in batch.items():
            for record in records:
                if self.until is not None and record.offset >= self.until.get(tp, 0):
                    # Past the end of a bounded run: nothing more to do on this partition.
                    fetch_buffers.release(self.consumer, (tp,))
                    self.consumer.pause(tp)
                    break
                envelope = Envelope(record.topic, record.partition, record.offset, record.key,
                                    record.value if record.value is not None else b"",
                                    tuple(record.headers or ()), record.timestamp)
                size = envelope.size
                if not self.window.has_room(size):
                    # Leave the rest of this partition in Kafka, not in RAM.
                    # Release first: the seek drops aiokafka's buffer, half read.
                    fetch_buffers.release(self.consumer, (tp,))
                    self.consumer.seek(tp, record.offset)
                    break
                entry = (envelope, tp, size, self._admit(tp, record.offset, size))
                if self.stage.batched:
                    admitted.append(entry)
                else:
                    self._start([entry])
        if admitted:
            self._start(admitted)

    def _admit(self, tp: TopicPartition, offset: int, size: int) -> int:
        token = self.tracker.begin(tp, offset)
        self.window.acquire(size)
        self.counts.consumed += 1
        self.counts.consumed_bytes += size
        return token

    def _start(self, admitted: list[Admitted]) -> None:
        task = asyncio.create_task(self._process(admitted))
        self._tasks[task] = frozenset(tp for _, tp, _, _ in admitted)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _process(self, admitted: list[Admitted]) -> None:
        try:
            errors = await self.stage.handle_batch([envelope for envelope, _, _, _ in admitted])
            for (envelope, tp, _, token), error in zip(admitted, errors, strict=True):
                if error is not None:
                    log.info("%s %s to DLQ: %s: %s", self.stage.name, envelope.where(), error.error_class, error)
                    await self.output.dead_letter(error, attempt=self.stage.attempt(envelope), envelope=envelope)
                self.tracker.finish(tp, envelope.offset, token)
                self.counts.finished += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a broker failure: stop, commit nothing unacknowledged
            log.exception("%s failed on %s", self.stage.name, admitted[0][0].where())
            self._fail(exc)
        finally:
            self.window.release(sum(size for _, _, size, _ in admitted), messages=len(admitted))

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.commit_interval_seconds)
            await self.commit()

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        offsets = self.tracker.to_commit() if offsets is None else offsets
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Not fatal: the offsets stay uncommitted and the messages are
            # processed again after the rebalance (at-least-once).
            log.warning("%s commit of %d partitions failed: %r", self.stage.name, len(offsets), exc)
            return
        self.tracker.committed(offsets)
        self.counts.commits += 1
        if self.until is not None:
            self._reached.update(tp for tp, offset in offsets.items() if offset >= self.until.get(tp, 0))
            if self._reached >= self.until.keys():
                self.request_stop()

    async def drain(self, partitions: set[TopicPartition], timeout: float) -> None:
        tasks = [task for task, tps in self._tasks.items() if tps & partitions]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _shutdown(self) -> None:
        self.pauses.set("shutdown", "stopping")
        tasks = list(self._tasks)
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=self.config.shutdown_timeout_seconds)
            for task in unfinished:
                task.cancel()
            if unfinished:
                log.warning("%s abandoned %d unfinished messages: they will be processed again",
                            self.stage.name, len(unfinished))
                await asyncio.gather(*unfinished, return_exceptions=True)
        await self.commit()
        await self.stage.stop()
        await kafka.close(self.producer, self.kafka_config)
        fetch_buffers.release_all(self.consumer)
        await kafka.close(self.consumer, self.kafka_config)
        await kafka.close(self.admin, self.kafka_config)
        if self.metrics:
            await self.metrics.stop()
        log.info("%s stopped: consumed %d, finished %d, produced %d, dlq %d", self.stage.name,
                 self.counts.consumed, self.counts.finished, self.output.counts.produced,
                 self.output.counts.dlq)


class _Rebalance(ConsumerRebalanceListener):
    """Commit what is finished for partitions we lose, forget the rest."""

    def __init__(self, runner: StageRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not revoked:
            return
        await self._runner.drain(set(revoked), REBALANCE_DRAIN_SECONDS)
        fetch_buffers.release(self._runner.consumer, revoked)
        final = self._runner.tracker.revoke(set(revoked))
        await self._runner.commit(final)
        log.info("%s rebalance: revoked %s", self._runner.stage.name, _names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s rebalance: assigned %s", self._runner.stage.name, _names(assigned))
        self._runner.pauses.apply()


def _names(tps: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"
