"""Collects product records into storage transactions.

Each ``add_all`` call waits until every batch holding one of its records is
committed, so the runner marks the offsets finished only after the storage
commit: that ordering is the sink's exactly-once effect (with upserts by id).
A batch is flushed when it is full, when its oldest record has waited
``batch_max_delay_seconds``, or when it holds the whole window (no more
records could arrive to fill it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from stages.core import metrics
from stages.core.errors import BadMessage, CrawlpipeError
from stages.core.health import Health
from stages.sink.storage import Storage

log = logging.getLogger("crawlpipe.sink")

# Longest wait between two tries of a batch while storage is down.
MAX_RETRY_SECONDS = 30.0


class _Waiter:
    """One ``add_all`` call: the outcome of each of its records, resolved when the last one is written."""

    __slots__ = ("done", "left", "outcomes")

    def __init__(self, done: asyncio.Future[list[CrawlpipeError | None]], count: int) -> None:
        self.done = done
        self.outcomes: list[CrawlpipeError | None] = [None] * count
        self.left = count

    def settle(self, index: int, error: CrawlpipeError | None = None) -> None:
        self.outcomes[index] = error
        self.count_down(1)

    def count_down(self, settled: int) -> None:
        """``settled`` more of its records have their outcome (a stored record's stays None)."""
        self.left -= settled
        if self.left == 0 and not self.done.done():
            self.done.set_result(self.outcomes)



Pending = list[tuple[dict[str, Any], _Waiter, int]]


class Batcher:
    def __init__(self, storage: Storage, *, batch_size: Callable[[], int], max_delay_seconds: float,
                 retry_seconds: float, health: Health) -> None:
        self._storage = storage
        self._health = health
        self._batch_size = batch_size
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._pending: Pending = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Task[None]] = set()

    async def add_all(self, records: Sequence[dict[str, Any]]) -> list[CrawlpipeError | None]:
        """Add records; return once every batch holding one is committed: per record, None or why storage refused it."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), len(records))
        batch_size = self._batch_size()
        for index, record in enumerate(records):
            if not self._pending:
                self._timer = loop.call_later(self._max_delay, self._flush_soon)
            self._pending.append((record, waiter, index))
            if len(self._pending) >= batch_size:
                self._flush_soon()
        return await waiter.done

    def _flush_soon(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.create_task(self._write(batch))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, batch: Pending) -> None:
        # One writer at a time keeps batches in arrival order in storage.
        async with self._lock:
            try:
                await self._write_retrying([record for record, _, _ in batch])
            except Exception:  # noqa: BLE001 -- whatever refused the batch, the records are tried one by one
                # Storage refused the batch for good (bad data, a constraint): find the records it
                # refuses; the good ones are stored, each bad one goes to the DLQ alone.
                for record, waiter, index in batch:
                    waiter.settle(index, await self._write_one(record))
                return
            written: dict[_Waiter, int] = {}
            for _, waiter, _ in batch:
                written[waiter] = written.get(waiter, 0) + 1
            for waiter, count in written.items():
                waiter.count_down(count)

    async def _write_one(self, record: dict[str, Any]) -> CrawlpipeError | None:
        """Write one record; return why storage refuses it for good, or None once it is stored."""
        try:
            await self._write_retrying([record])
        except CrawlpipeError as error:
            return error
        except Exception as exc:
            log.warning("storage write of product %r failed unexpectedly", record.get("id"), exc_info=True)
            refused = BadMessage(f"storage write failed: {type(exc).__name__}: {exc}", error_class="unexpected")
            refused.__cause__ = exc
            return refused
        return None

    async def _write_retrying(self, records: list[dict[str, Any]]) -> None:
        """Write, waiting out a storage outage of any length (backoff up to ``MAX_RETRY_SECONDS``)."""
        started = time.perf_counter()
        delay = self._retry
        while True:
            try:
                await self._storage.write_batch(records)
            except CrawlpipeError as error:
                if not error.retriable:
                    raise
                self._health.dependency_down("storage", str(error))
                log.warning("storage write of %d records failed, retrying in %.1f s: %s",
                            len(records), delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            self._health.dependency_up("storage")
            metrics.batch_written(time.perf_counter() - started, len(records))
            return
