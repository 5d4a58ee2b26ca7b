"""What the sink stage may rely on from any storage backend.

The sink commits its Kafka offsets right after ``write_batch`` returns, so the
one promise every backend makes is: when ``write_batch`` returns, the whole
batch is durable (one transaction, committed and synced), and when it raises,
none of it is visible; the batch can then simply be delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stages.core.errors import CrawlpipeError


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """What one ``write_batch`` did, counted over the batch's records.

    ``inserted + updated + discontinued + stale_skipped + duplicates == len(records)``.
    ``discontinued`` counts discontinued records that marked a stored product;
    ``stale_skipped`` counts records not newer than the stored row (older, or an
    exact replay; a discontinued record with no product to mark, or one fetched
    before the product's last record); ``duplicates`` counts records dropped
    because the same batch held a newer record for the same id (for
    discontinued records: an earlier one).
    """

    inserted: int = 0
    updated: int = 0
    discontinued: int = 0
    stale_skipped: int = 0
    duplicates: int = 0
    history_rows: int = 0


class Storage(Protocol):
    """The lifecycle the sink drives: ``start``, any number of ``write_batch``, ``close``."""

    async def start(self) -> None:
        """Connect, and bring the schema up to date (or refuse, with ``ConfigError``)."""

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        """Write ``records`` as one transaction; return only once it is durable."""

    async def close(self) -> None:
        """Release connections and files; safe to call after a failed ``start``."""


class StorageError(CrawlpipeError):
    """The database refused the work for a reason retrying will not fix (a bug or a broken schema)."""

    error_class = "storage"
