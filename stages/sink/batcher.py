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
from stages.sink.storage import Storage

log = logging.getLogger("crawlpipe.sink")


class _Waiter:
    """One ``add_all`` call: the outcome of each of its records, resolved when the last one is written."""

    __slots__ = ("done", "outcomes", "left")

    def __init__(self, done: asyncio.Future[list[BadMessage | None]], count: int) -> None:
        self.done = done
        self.outcomes: list[BadMessage | None] = [None] * count
        self.left = count

    def settle(self, index: int, error: BadMessage | None = None) -> None:
        self.outcomes[index] = error
        self.count_down(1)

    def count_down(self, settled: int) -> None:
        """``settled`` more of its records have their outcome (a stored record's stays None)."""
        self.left -= settled
        if self.left == 0 and not self.done.done():
            self.done.set_result(self.outcomes)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


Pending = list[tuple[dict[str, Any], _Waiter, int]]


class Batcher:
    def __init__(self, storage: Storage, *, batch_size: Callable[[], int], max_delay_seconds: float,
                 retry_seconds: float) -> None:
        self._storage = storage
        self._batch_size = batch_size
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._pending: Pending = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Task[None]] = set()

    async def add_all(self, records: Sequence[dict[str, Any]]) -> list[BadMessage | None]:
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
            except BadMessage:
                # Find the bad records: the good ones are stored, the bad go to the DLQ alone.
                for record, waiter, index in batch:
                    try:
                        await self._write_retrying([record])
                    except BadMessage as error:
                        waiter.settle(index, error)
                    else:
                        waiter.settle(index)
                return
            except Exception as error:  # storage broken for good: every waiting handle fails the stage
                failure = RuntimeError(f"storage write failed: {error}")
                failure.__cause__ = error
                for _, waiter, _ in batch:
                    waiter.fail(failure)
                return
            written: dict[_Waiter, int] = {}
            for _, waiter, _ in batch:
                written[waiter] = written.get(waiter, 0) + 1
            for waiter, count in written.items():
                waiter.count_down(count)

    async def _write_retrying(self, records: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        while True:
            try:
                await self._storage.write_batch(records)
                metrics.batch_written(time.perf_counter() - started, len(records))
                return
            except CrawlpipeError as error:
                if not error.retriable:
                    raise
                log.warning("storage write of %d records failed, retrying in %.1f s: %s",
                            len(records), self._retry, error)
                await asyncio.sleep(self._retry)
