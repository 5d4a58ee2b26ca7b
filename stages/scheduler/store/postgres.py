"""The schedule in PostgreSQL (asyncpg), for replicas on several machines sharing one schedule.

Conventions of the sink's PostgreSQL storage (``stages/sink/storage/postgres.py``):
a small pool, its error translation, the durability check at start, columns
sent as arrays through ``unnest``. A batch takes a transaction-scoped advisory
lock per product id before reading the entries it decides from, so two
replicas briefly sharing a partition in a rebalance do not decide from a read
that is about to be stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.scheduler.policy import Policy
from stages.scheduler.schedule import Entry, Planned, plan_batch
from stages.scheduler.store.base import Counts, DueUrl
from stages.scheduler.store.sql import (
    COUNTS,
    EARLIEST_DUE,
    ENTRY_COLUMNS,
    MIGRATIONS,
    PER_HOST,
    READY_HOSTS,
    VERSION_TABLE,
    numbered,
)
from stages.sink.storage.postgres import PostgresStorage

_TYPES = {"visited_at": "float8", "interval_seconds": "float8", "due_at": "float8", "misses": "int4"}
_UPSERT = (
    f"INSERT INTO recrawl_schedule ({', '.join(ENTRY_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{_TYPES.get(name, 'text')}[]" for i, name in enumerate(ENTRY_COLUMNS, start=1))
    + ") ON CONFLICT (product_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in ENTRY_COLUMNS if name != "product_id")
)
_ADD_HOSTS = "INSERT INTO recrawl_hosts (host) SELECT unnest($1::text[]) ON CONFLICT (host) DO NOTHING"
_LOCK_IDS = (
    "SELECT pg_advisory_xact_lock(hashtext('crawlpipe.scheduler'), key) "
    "FROM (SELECT DISTINCT hashtext(id) AS key FROM unnest($1::text[]) AS ids (id) ORDER BY key) AS keys"
)
_SELECT = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM recrawl_schedule WHERE product_id = ANY($1::text[])"
_MARK_URLS = (
    "UPDATE recrawl_schedule SET due_at = $1 + interval_seconds, dispatched_at = $1 "
    "WHERE product_id = ANY($2::text[])"
)
_MARK_HOSTS = "UPDATE recrawl_hosts SET slot_at = $1 WHERE host = ANY($2::text[])"


class PostgresSchedule(PostgresStorage):
    """The sink's PostgreSQL connection handling, with the schedule's tables and migrations."""

    version_table = VERSION_TABLE

    def __init__(self, dsn: str, policy: Policy) -> None:
        super().__init__(dsn, migrations_dir=MIGRATIONS / "postgresql")
        self._policy = policy

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> Planned:  # type: ignore[override]
        async with self._translate_errors("writing a batch"), self._acquire() as conn, conn.transaction():
            ids = sorted({record["id"] for record in records})
            await conn.execute(_LOCK_IDS, ids)
            stored = {row["product_id"]: Entry(*row) for row in await conn.fetch(_SELECT, ids)}
            planned = plan_batch(records, stored, self._policy)
            if planned.entries:
                await conn.execute(_UPSERT, *[[getattr(entry, name) for entry in planned.entries]
                                              for name in ENTRY_COLUMNS])
                await conn.execute(_ADD_HOSTS, sorted({entry.host for entry in planned.entries}))
        return planned

    async def ready_hosts(self, now: float) -> list[str]:
        async with self._translate_errors("reading due hosts"), self._acquire() as conn:
            return [row[0] for row in await conn.fetch(numbered(READY_HOSTS), now, now)]

    async def earliest_due(self, hosts: Sequence[str], now: float) -> list[DueUrl]:
        async with self._translate_errors("reading due URLs"), self._acquire() as conn:
            rows = [await conn.fetchrow(numbered(EARLIEST_DUE), host, now) for host in hosts]
        return [DueUrl(*row) for row in rows if row is not None]

    async def dispatched(self, urls: Sequence[DueUrl], now: float, host_spacing_seconds: float) -> None:
        async with self._translate_errors("marking dispatched URLs"), self._acquire() as conn, conn.transaction():
            await conn.execute(_MARK_URLS, now, [url.product_id for url in urls])
            await conn.execute(_MARK_HOSTS, now + host_spacing_seconds, [url.host for url in urls])

    async def counts(self, now: float, overdue_after_seconds: float, top_hosts: int) -> Counts:
        async with self._translate_errors("counting the schedule"), self._acquire() as conn:
            scheduled, due, overdue, unscheduled = await conn.fetchrow(numbered(COUNTS), now,
                                                                        now - overdue_after_seconds)
            per_host = await conn.fetch(numbered(PER_HOST), top_hosts)
        return Counts(scheduled, due, overdue, unscheduled, [(row[0], row[1]) for row in per_host])

    def _acquire(self) -> Any:
        if self._pool is None:
            raise RuntimeError("PostgresSchedule used before start()")
        return self._pool.acquire()
