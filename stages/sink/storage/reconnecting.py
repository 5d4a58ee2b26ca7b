"""A storage whose ``start`` failed because the server was down: it starts on the first write.

The sink used to exit at once when PostgreSQL was not up yet; now it joins its
group and its first batch waits for the server like any batch meeting an
outage (the batcher retries a ``TransientError`` with backoff).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.sink.storage.base import BatchResult, Storage


class Reconnecting:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._started = False

    async def start(self) -> None:
        await self._storage.start()
        self._started = True

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        if not self._started:
            await self.start()
        return await self._storage.write_batch(records)

    async def close(self) -> None:
        await self._storage.close()
