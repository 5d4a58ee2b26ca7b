"""Collects records into storage transactions, for the stages whose work ends in a database.

``add`` returns a future per record that resolves when the batch holding it
is committed, so the runner marks the offset finished only after the storage
commit: that ordering is the sink's exactly-once effect (with upserts by id),
and what keeps the scheduler's schedule in step with its committed offsets.
A batch is flushed when it is full or when its oldest record has waited
``batch_max_delay_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from stages.core.errors import BadMessage, CrawlpipeError
from stages.core.health import Health

log = logging.getLogger("crawlpipe.batcher")

# Longest wait between two tries of a storage write while storage is down.
MAX_RETRY_SECONDS = 30.0


Pending = list[tuple[dict[str, Any], "asyncio.Future[None]"]]


class BatchStorage(Protocol):
    """Where batches go: ``write_batch`` returns once the whole batch is durable, or raises and keeps none."""

    def write_batch(self, records: Sequence[dict[str, Any]]) -> Awaitable[object]: ...


class Batcher:
    def __init__(self, storage: BatchStorage, *, batch_size: int, max_delay_seconds: float,
                 retry_seconds: float, health: Health,
                 on_written: Callable[[float, int], None] | None = None) -> None:
        self._storage = storage
        self._on_written = on_written
        self._health = health
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
            except Exception:  # whatever refused the batch for good, the records are tried one by one
                # Storage refused the batch (bad data, a constraint): find the records it refuses;
                # the good ones are stored, each bad one goes to the DLQ alone.
                for record, stored in batch:
                    _settle(stored, await self._write_one(record))
                return
            for _, stored in batch:
                _settle(stored)

    async def _write_one(self, record: dict[str, Any]) -> CrawlpipeError | None:
        """Write one record; return why storage refuses it for good, or None once it is stored."""
        try:
            await self._write_retrying([record])
        except CrawlpipeError as error:
            return error
        except Exception as exc:
            log.warning("storage write of record %r failed unexpectedly", record.get("id"), exc_info=True)
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
            if self._on_written is not None:
                self._on_written(time.perf_counter() - started, len(records))
            return


def _settle(stored: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve one record's future, unless the runner gave up waiting for it (a shutdown)."""
    if stored.done():
        return
    if error is None:
        stored.set_result(None)
    else:
        stored.set_exception(error)
