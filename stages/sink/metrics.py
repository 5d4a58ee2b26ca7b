"""The sink's own metrics: its storage batches."""

from __future__ import annotations

from prometheus_client import Histogram

from stages.core.metrics import REGISTRY

_BATCH_WRITE_SECONDS = Histogram(
    "crawlpipe_sink_batch_write_seconds", "time to write and commit one batch to storage, retries included",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30), registry=REGISTRY)
_BATCH_RECORDS = Histogram(
    "crawlpipe_sink_batch_records", "records in one storage batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=REGISTRY)


def batch_written(seconds: float, records: int) -> None:
    _BATCH_WRITE_SECONDS.observe(seconds)
    _BATCH_RECORDS.observe(records)
