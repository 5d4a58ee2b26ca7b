"""The sink stage: consumes ``crawl.products``, writes them to storage in batches.

Step 4 of the data flow in ``stages/__init__.py``. Offsets are committed only
after the storage transaction holding the record has committed; storage
upserts by product id, so redelivered records collapse into one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.messages import decode_json
from stages.core.settings import MIB, KafkaConfig
from stages.core.stage import Stage, StageContext
from stages.sink.batcher import Batcher
from stages.sink.settings import SinkConfig
from stages.sink.storage import Storage, open_storage


class SinkStage(Stage):
    name = "sink"
    # Parsed records are held once more as Python objects in the batch.
    output_ratio = 2.0
    # Product records are small, and a storage transaction wants hundreds of them.
    # Mostly waiting on storage: the parser (the pipeline's CPU ceiling) gets a short core first.
    runner_defaults = {"max_in_flight": 2000, "max_in_flight_bytes": 8 * MIB, "nice": 10}
    # Thousands of small records a second: one task per poll, not per record.
    batched = True

    def __init__(self, kafka_config: KafkaConfig, config: SinkConfig) -> None:
        self._kafka = kafka_config
        self._config = config
        self._storage: Storage | None = None
        self._batcher: Batcher | None = None

    @property
    def input_topic(self) -> str:
        return self._kafka.topic_products

    async def start(self, context: StageContext) -> None:
        self._storage = open_storage(self._config.storage)
        await self._storage.start()
        window = context.window
        self._batcher = Batcher(
            self._storage,
            batch_size=lambda: min(self._config.batch_size, window.limit_messages),
            max_delay_seconds=self._config.batch_max_delay_seconds,
            retry_seconds=self._config.storage_retry_seconds,
        )

    async def stop(self) -> None:
        if self._storage is not None:
            await self._storage.close()
            self._storage = None

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> list[CrawlpipeError | None]:
        assert self._batcher is not None
        errors: list[CrawlpipeError | None] = []
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        for envelope in envelopes:
            try:
                records.append(decode_json(envelope, "product"))
            except CrawlpipeError as error:
                errors.append(error)
            else:
                positions.append(len(errors))
                errors.append(None)
        for position, refused in zip(positions, await self._batcher.add_all(records), strict=True):
            errors[position] = refused
        return errors
