"""Where the scheduler keeps its schedule: SQLite (default, one file) or PostgreSQL (replicas on several machines)."""

from __future__ import annotations

from stages.core.errors import ConfigError
from stages.scheduler.policy import Policy
from stages.scheduler.store.base import Counts, DueUrl, ScheduleStore
from stages.scheduler.store.postgres import PostgresSchedule
from stages.scheduler.store.sqlite import SQLiteSchedule
from stages.sink.storage.urls import redact_password

__all__ = ["Counts", "DueUrl", "ScheduleStore", "open_store"]


def open_store(url: str, policy: Policy, *, cache_mb: int) -> ScheduleStore:
    """The store for ``url``'s scheme, not yet started; ``ConfigError`` for anything else."""
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return SQLiteSchedule.from_url(url, policy, cache_mb=cache_mb)
    if scheme in ("postgresql", "postgres"):
        return PostgresSchedule(url, policy)
    raise ConfigError(f"schedule storage URL {redact_password(url)!r} is not supported; use sqlite:///path.db, "
                      "sqlite:////absolute/path.db or postgresql://user@host:port/database")
