"""The one loop every stage runs: consume within the window, handle, produce, commit in order.

Per message: (1) the window admits it or it is left in Kafka (the partition
is sought back); (2) the offset tracker records it; (3) the stage's
``handle`` runs (a poll's messages one after another in one task, or each in
its own task for a stage whose ``handle`` awaits I/O); (4) its outputs
become Kafka records on the topics the stage declared, packed with other
messages' records, and the message moves from "being processed" to
"awaiting acknowledgement" in the window; a ``CrawlpipeError`` becomes a DLQ
record instead; (5) once acknowledged, the offset is marked finished and
committed later up to the highest contiguous finished offset. Backpressure
(window, downstream lag, memory) pauses partitions while the poll loop keeps
polling.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from stages.core import background, fetch_buffers, isolation, kafka, registry
from stages.core.codecs import TopicCodecs
from stages.core.deadline import within
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError, MemoryExhausted
from stages.core.health import Health
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
from stages.core.output import Output, Record
from stages.core.pausing import PauseState
from stages.core.revoking import cancel_revoked
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.stage import Stage, StageContext
from stages.core.supervision import Supervisor
from stages.core.window import Window

log = logging.getLogger("crawlpipe.runner")

# How long a full window may stall polling before partitions are paused:
# short stalls are normal and pausing drops the consumer's prefetch.
WINDOW_STALL_SECONDS = 1.0
# How long a rebalance waits for in-flight work of revoked partitions.
REBALANCE_DRAIN_SECONDS = 5.0


# A message in the stage's hands: its envelope, partition, bytes charged to the window and tracker token.
Admitted = tuple[Envelope, TopicPartition, int, int]
# Where a message's offset is finished: its partition, offset and tracker token.
Finish = tuple[TopicPartition, int, int]


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
        self.window = Window(max_messages=config.max_in_flight, max_bytes=config.max_in_flight_bytes,
                             max_unacked_bytes=config.max_unacked_bytes)
        self.input_topic = getattr(kafka_config, stage.input)
        self._topics_by_kind = {kind: getattr(kafka_config, field) for kind, field in stage.outputs.items()}
        self.tracker = OffsetTracker()
        self.hot_spots = HotSpots()
        self.counts = Counts()
        self.health = Health(stage.name)
        self.supervisor = Supervisor(stage.name, self.health, on_fatal=self._fail, fatal=(MemoryExhausted,))
        # Handling tasks and outputs awaiting acknowledgement, with the partitions they finish.
        self._tasks: dict[asyncio.Future[Any], frozenset[TopicPartition]] = {}
        # Partitions being handed to another replica: their messages are no longer admitted.
        self.revoking: set[TopicPartition] = set()
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._starting: asyncio.Task[Any] | None = None
        self.consumer = kafka.consumer(kafka_config, self.input_topic, group=self.group,
                                       client_id=self.client_id, max_poll_records=config.max_in_flight)
        self.producer = kafka.producer(kafka_config, client_id=self.client_id)
        self.admin = kafka.admin(kafka_config, client_id=self.client_id)
        self.output = Output(self.producer, stage=stage.name, dlq_topic=kafka_config.topic_dlq,
                             linger_seconds=kafka_config.producer_linger_ms / 1000, health=self.health,
                             codecs=TopicCodecs.of(kafka_config))
        self.pauses = PauseState(self.consumer, stage.name)
        self.planned = budget(config, kafka_config, output_ratio=stage.output_ratio,
                              stage_bytes=stage.memory_bytes(config))
        self.limit_bytes = effective_limit_bytes(config, cgroup_limit_bytes(), self.planned)
        self.memory = MemoryGuard(config, self.planned, self.limit_bytes, self.window, self.pauses, self.hot_spots)
        self.downstream = downstream = registry.downstream(type(stage), kafka_config)
        self.lag = LagWatcher(config, downstream, self.admin, self.consumer, self.pauses) if downstream else None
        if downstream and self.lag:
            self.output.on_produced(downstream.topic, self.lag.produced)
        self.metrics = MetricsServer(self, metrics) if metrics and metrics.enabled else None

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("%s stopping: finishing in-flight work (up to %.0f s)", self.stage.name,
                     self.config.shutdown_timeout_seconds)
            self._stopping.set()
            if self._starting is not None:
                # Startup waits on the broker for as long as it takes: a stop must not wait with it.
                self._starting.cancel()

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
        self._starting = asyncio.current_task()
        try:
            if self.metrics:
                # /healthz answers from process start, not after the group join.
                await self.metrics.start()
            for client in (self.admin, self.producer):
                await kafka.start(client, self.kafka_config)
            await kafka.require_topics(self.admin, self._topics())
            await self.stage.start(StageContext(window=self.window, health=self.health))
            pace_collector(self.config.gc_young_threshold)
            self.consumer.subscribe([self.input_topic], listener=_Rebalance(self))
            await kafka.start(self.consumer, self.kafka_config)
            log.info("%s consuming %s as group %s", self.stage.name, self.input_topic, self.group)
            await background.start(self)
            self._starting = None
            await self._consume()
        except asyncio.CancelledError:
            if self._starting is None or not self._stopping.is_set():
                raise
            self._starting.uncancel()
            log.info("%s stopped while starting", self.stage.name)
        finally:
            self._starting = None
            await self.supervisor.stop()
            await self._shutdown()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                loop.remove_signal_handler(signum)
        if self._failure is not None:
            raise self._failure

    def _topics(self) -> list[str]:
        """Every topic the stage reads or writes: it refuses to start while one is missing."""
        return sorted({self.input_topic, self.kafka_config.topic_dlq, *self._topics_by_kind.values()})

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            if not self.window.has_room():
                await self._wait_for_room()
                continue
            self.pauses.clear("window")
            batch = await self.consumer.getmany(timeout_ms=int(self.config.poll_timeout_seconds * 1000),
                                                max_records=self.window.free_messages)
            self._admit_batch(batch)

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

    def _admit_batch(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        admitted: list[Admitted] = []
        for tp, records in batch.items():
            if tp in self.revoking:
                continue  # already being handed over; its new owner reads it from the committed offset
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
                if self.stage.concurrent:
                    self._track(asyncio.create_task(self._handle_one(entry)), (tp,))
                else:
                    admitted.append(entry)
        if admitted:
            self._track(asyncio.create_task(self._handle_in_turn(admitted)), {tp for _, tp, _, _ in admitted})

    def _admit(self, tp: TopicPartition, offset: int, size: int) -> int:
        token = self.tracker.begin(tp, offset)
        self.window.acquire(size)
        self.counts.consumed += 1
        self.counts.consumed_bytes += size
        return token

    def _track(self, future: asyncio.Future[Any], partitions: Iterable[TopicPartition]) -> None:
        self._tasks[future] = frozenset(partitions)
        future.add_done_callback(self._forget)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self._tasks.pop(future, None)

    async def _handle_in_turn(self, admitted: list[Admitted]) -> None:
        for index, entry in enumerate(admitted):
            if not await self._handle_one(entry):
                # The stage has failed: what was not handled is given back, unfinished.
                for _, _, size, _ in admitted[index + 1:]:
                    self.window.hand_over(size)
                return

    async def _handle_one(self, entry: Admitted) -> bool:
        """Handle one message and hand its outputs over for acknowledgement; False if the stage failed."""
        envelope, tp, size, token = entry
        try:
            try:
                outcome = await self.stage.handle(envelope)
            except Exception as exc:
                if not isinstance(exc, CrawlpipeError) and isolation.is_dependency_failure(exc):
                    raise
                await self._dead_letter(envelope, isolation.as_message_error(self.stage.name, envelope, exc))
                self.window.hand_over(size)
                self._finished((tp, envelope.offset, token))
                return True
            if isinstance(outcome, asyncio.Future):
                self.window.hand_over(size, size)
                outcome.add_done_callback(functools.partial(self._stored, envelope, size, (tp, envelope.offset, token)))
                self._track(outcome, (tp,))
                return True
            records = [Record(self._topics_by_kind[emit.kind], emit.value, emit.key, emit.headers) for emit in outcome]
            unacked = sum(len(record.value) for record in records)
            delivered = await self.output.emit(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a broker failure: stop, commit nothing unacknowledged
            log.exception("%s failed on %s", self.stage.name, envelope.where())
            self.window.hand_over(size)
            self._fail(exc)
            return False
        self.window.hand_over(size, unacked)
        delivered.add_done_callback(functools.partial(self._acknowledged, unacked, (tp, envelope.offset, token)))
        self._track(delivered, (tp,))
        return True

    def _acknowledged(self, unacked: int, finish: Finish, delivered: asyncio.Future[Any]) -> None:
        self.window.acknowledged(unacked)
        if delivered.cancelled():
            return
        if (error := delivered.exception()) is not None:
            log.error("%s could not produce the outputs of %s[%d] offset %d: %r", self.stage.name,
                      finish[0].topic, finish[0].partition, finish[1], error)
            self._fail(error)
            return
        self._finished(finish)

    def _stored(self, envelope: Envelope, size: int, finish: Finish, done: asyncio.Future[None]) -> None:
        """A future outcome resolved: finished, or this message's own failure, or the stage's."""
        if done.cancelled():
            self.window.acknowledged(size)
            return
        error = done.exception()
        if error is None:
            self.window.acknowledged(size)
            self._finished(finish)
        elif isinstance(error, CrawlpipeError) and not error.retriable:
            self._track(asyncio.ensure_future(self._dead_letter_then_finish(envelope, error, size, finish)),
                        (finish[0],))
        else:
            self.window.acknowledged(size)
            log.error("%s failed on %s: %r", self.stage.name, envelope.where(), error)
            self._fail(error)

    async def _dead_letter_then_finish(self, envelope: Envelope, error: CrawlpipeError, size: int,
                                       finish: Finish) -> None:
        try:
            await self._dead_letter(envelope, error)
        except Exception as exc:  # the DLQ itself cannot be written: nothing more can be done safely
            self._fail(exc)
            return
        finally:
            self.window.acknowledged(size)
        self._finished(finish)

    async def _dead_letter(self, envelope: Envelope, error: CrawlpipeError) -> None:
        log.info("%s %s to DLQ: %s: %s", self.stage.name, envelope.where(), error.error_class, error)
        await self.output.dead_letter(error, attempt=getattr(error, "attempt", 1), envelope=envelope)

    def _finished(self, finish: Finish) -> None:
        tp, offset, token = finish
        self.tracker.finish(tp, offset, token)
        self.counts.finished += 1

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
        """Wait for the handling and acknowledgements of ``partitions``' messages, up to ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        # Handling tasks add the acknowledgements they wait for: look again until none is left.
        while tasks := [task for task, tps in self._tasks.items() if tps & partitions]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.wait(tasks, timeout=left)

    async def _shutdown(self) -> None:
        self.pauses.set("shutdown", "stopping")
        everything = {tp for tps in self._tasks.values() for tp in tps}
        await self.drain(everything, self.config.shutdown_timeout_seconds)
        unfinished = list(self._tasks)
        if unfinished:
            log.warning("%s abandoned %d messages being handled or awaiting acknowledgement: they will be "
                        "processed again", self.stage.name, len(unfinished))
            # Only handling is cancelled: an acknowledgement may be shared with other messages' records.
            handling = [task for task in unfinished if isinstance(task, asyncio.Task)]
            for task in handling:
                task.cancel()
            await asyncio.gather(*handling, return_exceptions=True)
        await within(self.commit(), f"{self.stage.name} final commit")
        await self.stage.stop()
        await within(kafka.close(self.producer, self.kafka_config), f"{self.stage.name} producer stop")
        fetch_buffers.release_all(self.consumer)
        await within(kafka.close(self.consumer, self.kafka_config), f"{self.stage.name} consumer stop")
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
        self._runner.revoking |= revoked
        await self._runner.drain(set(revoked), REBALANCE_DRAIN_SECONDS)
        # Work left on partitions handed to another replica is cancelled, not left running beside its new
        # owner (two fetchers at one host); uncommitted, it is redone there.
        await cancel_revoked(self._runner._tasks, revoked, self._runner.stage.name)
        fetch_buffers.release(self._runner.consumer, revoked)
        final = self._runner.tracker.revoke(set(revoked))
        await self._runner.commit(final)
        log.info("%s rebalance: revoked %s", self._runner.stage.name, _names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s rebalance: assigned %s", self._runner.stage.name, _names(assigned))
        self._runner.revoking.clear()
        self._runner.stage.partitions_assigned()
        self._runner.pauses.apply()


def _names(tps: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"
