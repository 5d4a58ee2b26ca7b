"""Collects product records into storage transactions.

``add`` returns a future per record that resolves when the batch holding it
is committed, so the runner marks the offset finished only after the storage
commit: that ordering is the sink's exactly-once effect (with upserts by id).
A batch is flushed when it is full or when its oldest record has waited
``batch_max_delay_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from stages.core.errors import BadMessage, CrawlpipeError
from stages.sink import metrics
from stages.sink.storage import Storage

log = logging.getLogger("crawlpipe.sink")


Pending = list[tuple[dict[str, Any], "asyncio.Future[None]"]]


class Batcher:
    def __init__(self, storage: Storage, *, batch_size: int, max_delay_seconds: float,
                 retry_seconds: float) -> None:
        self._storage = storage
        self._batch_size = batch_size
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._pending: Pending = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Task[None]] = set()

    def add(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``record``; the future resolves once its batch is committed, or fails with why storage refused it."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            self._timer = loop.call_later(self._max_delay, self._flush_soon)
        self._pending.append((record, stored))
        if len(self._pending) >= self._batch_size:
            self._flush_soon()
        return stored

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
                await self._write_retrying([record for record, _ in batch])
            except BadMessage:
                # Find the bad records: the good ones are stored, the bad go to the DLQ alone.
                for record, stored in batch:
                    try:
                        await self._write_retrying([record])
                    except BadMessage as error:
                        _settle(stored, error)
                    else:
                        _settle(stored)
                return
            except Exception as error:  # storage broken for good: every waiting record fails the stage
                failure = RuntimeError(f"storage write failed: {error}")
                failure.__cause__ = error
                for _, stored in batch:
                    _settle(stored, failure)
                return
            for _, stored in batch:
                _settle(stored)

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


def _settle(stored: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve one record's future, unless the runner gave up waiting for it (a shutdown)."""
    if stored.done():
        return
    if error is None:
        stored.set_result(None)
    else:
        stored.set_exception(error)
