"""What the scheduler relies on from a schedule store (SQLite or PostgreSQL).

``write_batch`` has the sink's promise (``stages/sink/storage/base.py``): when
it returns the batch is durable, when it raises none of it is; the runner
commits the records' offsets only after it returns. The dispatch side asks for
the hosts that may have a URL now, the earliest due URL of each, and marks
what it published, so a published URL is not published again before its next
due time, by this replica or another sharing the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stages.scheduler.schedule import Planned


@dataclass(frozen=True, slots=True)
class DueUrl:
    """A URL to recrawl now: the product it should show, and its current interval (its next due time)."""

    product_id: str
    url: str
    host: str
    site: str
    interval_seconds: float


@dataclass(frozen=True, slots=True)
class Counts:
    """The whole schedule counted at one instant, for the gauges (``metrics.py``)."""

    scheduled: int
    due: int
    overdue: int
    #: Products no longer scheduled (discontinued ``max_misses`` times in a row).
    unscheduled: int
    #: Scheduled URLs of the hosts with the most, the most first.
    per_host: list[tuple[str, int]]


class ScheduleStore(Protocol):
    async def start(self) -> None:
        """Connect and bring the schedule's tables up to date (its own migrations, ``stages/scheduler/migrations``)."""

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> Planned:
        """Apply product and discontinued records (``schedule.py``) in one durable transaction."""

    async def ready_hosts(self, now: float) -> list[str]:
        """Hosts with a URL due at ``now`` whose rate allows one more, the longest waiting first."""

    async def earliest_due(self, hosts: Sequence[str], now: float) -> list[DueUrl]:
        """Each of ``hosts``' earliest URL due at ``now`` (none for a host with none left)."""

    async def dispatched(self, urls: Sequence[DueUrl], now: float, host_spacing_seconds: float) -> None:
        """Mark ``urls`` published at ``now``: each due again one interval later, its host not before the spacing."""

    async def counts(self, now: float, overdue_after_seconds: float, top_hosts: int) -> Counts:
        """Due, overdue, given-up and per-host counts of the whole schedule."""

    async def close(self) -> None:
        """Release connections; safe after a failed ``start``."""
