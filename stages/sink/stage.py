"""The sink stage: consumes ``crawl.products``, writes them to storage in batches.

Step 4 of the data flow in ``stages/__init__.py``. Offsets are committed only
after the storage transaction holding the record has committed; storage
upserts by product id, so redelivered records collapse into one row.
"""

from __future__ import annotations

import asyncio

from stages.core.envelope import Envelope
from stages.core.errors import TransientError
from stages.core.messages import decode_products_record
from stages.core.settings import MIB, KafkaConfig
from stages.core.stage import Stage, StageContext
from stages.sink.batcher import Batcher
from stages.sink.settings import SinkConfig
from stages.sink.storage import Storage, open_storage
from stages.sink.storage.reconnecting import Reconnecting


class SinkStage(Stage):
    name = "sink"
    input = "topic_products"
    settings = (SinkConfig,)
    # A record waiting for its storage commit is held as its message, a dict and a Product: ~5x its JSON.
    output_ratio = 5.0
    # Product records are small, and a storage transaction wants hundreds of them.
    # Mostly waiting on storage: the parser (the pipeline's CPU ceiling) gets a short core first.
    # Handling only queues a record, so little is ever being processed; ~3,000 records (three batches) may
    # wait for their storage commit.
    # Like the fetcher, it builds no parse trees, so it keeps no freed heap for them (--malloc-keep-mb).
    runner_defaults = {"max_in_flight": 2000, "max_in_flight_bytes": 2 * MIB, "max_unacked_bytes": 2 * MIB,
                       "nice": 10, "malloc_keep_mb": 0}

    def __init__(self, kafka_config: KafkaConfig, config: SinkConfig) -> None:
        self._config = config
        self._storage: Storage | None = None
        self._batcher: Batcher | None = None

    async def start(self, context: StageContext) -> None:
        self._storage = open_storage(self._config.storage)
        try:
            await self._storage.start()
        except TransientError as error:
            # Storage down at start is an outage like any other: the first batch waits it out.
            context.health.dependency_down("storage", str(error))
            self._storage = Reconnecting(self._storage)
        self._batcher = Batcher(
            self._storage,
            batch_size=self._config.batch_size,
            max_delay_seconds=self._config.batch_max_delay_seconds,
            retry_seconds=self._config.storage_retry_seconds,
            health=context.health,
        )

    async def stop(self) -> None:
        if self._storage is not None:
            await self._storage.close()
            self._storage = None

    async def handle(self, message: Envelope) -> asyncio.Future[None]:
        assert self._batcher is not None
        return self._batcher.add(decode_products_record(message))
