"""The sink stage's settings: where products go and how they are batched."""

from __future__ import annotations

from dataclasses import dataclass

from stages.core.settings import require, setting


@dataclass(frozen=True, kw_only=True)
class SinkConfig:
    """Storage and batching."""

    storage: str = setting("sqlite:///crawlpipe.db",
                           "where products go: sqlite:///REL.db or sqlite:////ABS.db, postgresql://USER@HOST:PORT/DB, "
                           "jsonl:///REL_DIR or jsonl:////ABS_DIR")
    batch_size: int = setting(1000, "products per storage transaction (capped by the window)")
    batch_max_delay_seconds: float = setting(0.5, "longest a product waits for its batch to fill")
    storage_retry_seconds: float = setting(2.0, "wait before retrying a batch after a transient storage error")

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size", self.batch_size, "must be at least 1")
        require(self.batch_max_delay_seconds > 0, "batch_max_delay_seconds", self.batch_max_delay_seconds,
                "must be positive")
