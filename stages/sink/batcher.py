"""Collects product records into storage transactions.

Each ``handle`` call waits on the batch it joined, so the runner marks the
offset finished only after the storage commit: that ordering is the sink's
exactly-once effect (with upserts by id). A batch is flushed when it is full,
when its oldest record has waited ``batch_max_delay_seconds``, or when it
holds the whole window (no more records could arrive to fill it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from stages.core.errors import CrawlpipeError
from stages.sink.storage import Storage

log = logging.getLogger("crawlpipe.sink")


class Batcher:
    def __init__(self, storage: Storage, *, batch_size: Callable[[], int], max_delay_seconds: float,
                 retry_seconds: float) -> None:
        self._storage = storage
        self._batch_size = batch_size
        self._max_delay = max_delay_seconds
        self._retry = retry_seconds
        self._records: list[dict[str, Any]] = []
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Task[None]] = set()

    async def add(self, record: dict[str, Any]) -> None:
        """Add a record and return once the batch holding it is committed to storage."""
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._timer = asyncio.get_running_loop().call_later(self._max_delay, self._flush_soon)
        done = self._done
        self._records.append(record)
        if len(self._records) >= self._batch_size():
            self._flush_soon()
        await done

    def _flush_soon(self) -> None:
        if self._done is None:
            return
        records, done = self._records, self._done
        self._records, self._done = [], None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.create_task(self._write(records, done))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, records: list[dict[str, Any]], done: asyncio.Future[None]) -> None:
        # One writer at a time keeps batches in arrival order in storage.
        async with self._lock:
            while True:
                try:
                    await self._storage.write_batch(records)
                except CrawlpipeError as error:
                    if not error.retriable:
                        done.set_exception(error)
                        return
                    log.warning("storage write of %d records failed, retrying in %.1f s: %s",
                                len(records), self._retry, error)
                    await asyncio.sleep(self._retry)
                    continue
                except Exception as error:  # a bug: surface it through every waiting handle
                    done.set_exception(error)
                    return
                done.set_result(None)
                return
