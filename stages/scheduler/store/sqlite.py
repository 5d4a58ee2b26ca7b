"""The schedule in one SQLite file: the sink's SQLite storage (``stages/sink/storage/sqlite.py``), other tables.

Memory is SQLite's page cache (``--schedule-cache-mb``), whatever the number
of URLs: the schedule lives on disk, read through indexes. Durability,
threading and error translation are the sink's: WAL with ``synchronous=FULL``
(a batch whose offsets are committed survives a power loss), one dedicated
thread. Replicas on one machine may share the file: every write takes the
write lock first (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from stages.core.errors import ConfigError
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
    qmarks,
)
from stages.sink.storage.sqlite import URL_PREFIX, SQLiteStorage, transaction

# Below SQLite's old limit of 999 bound parameters.
_IDS_PER_QUERY = 500
_UPSERT = (
    f"INSERT INTO recrawl_schedule ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)}) "
    "ON CONFLICT (product_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in ENTRY_COLUMNS if name != "product_id")
)
_ADD_HOST = "INSERT INTO recrawl_hosts (host) VALUES (?) ON CONFLICT (host) DO NOTHING"
_MARK_URL = "UPDATE recrawl_schedule SET due_at = ? + interval_seconds, dispatched_at = ? WHERE product_id = ?"
_MARK_HOST = "UPDATE recrawl_hosts SET slot_at = ? WHERE host = ?"


class SQLiteSchedule(SQLiteStorage):
    version_table = VERSION_TABLE

    def __init__(self, path: str, policy: Policy, *, cache_mb: int) -> None:
        super().__init__(path, migrations_dir=MIGRATIONS / "sqlite")
        self._policy = policy
        self._cache_mb = cache_mb

    @classmethod
    def from_url(cls, url: str, policy: Policy, *, cache_mb: int) -> SQLiteSchedule:  # type: ignore[override]
        path = unquote(url[len(URL_PREFIX):]) if url.startswith(URL_PREFIX) else ""
        if not path or "?" in path:
            raise ConfigError(f"schedule storage URL {url!r} is malformed; use sqlite:///relative/path.db, "
                              "sqlite:////absolute/path.db or postgresql://user@host:port/database")
        return cls(path, policy, cache_mb=cache_mb)

    async def start(self) -> None:
        if self._path != ":memory:":
            # The default file is under var/, which a fresh working directory does not have.
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        await super().start()
        await self._call(self._connection().execute, f"PRAGMA cache_size = -{self._cache_mb * 1024}")

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> Planned:  # type: ignore[override]
        return await self._call(_write, self._connection(), records, self._policy)

    async def ready_hosts(self, now: float) -> list[str]:
        return await self._call(_ready_hosts, self._connection(), now)

    async def earliest_due(self, hosts: Sequence[str], now: float) -> list[DueUrl]:
        return await self._call(_earliest_due, self._connection(), hosts, now)

    async def dispatched(self, urls: Sequence[DueUrl], now: float, host_spacing_seconds: float) -> None:
        await self._call(_dispatched, self._connection(), urls, now, host_spacing_seconds)

    async def counts(self, now: float, overdue_after_seconds: float, top_hosts: int) -> Counts:
        return await self._call(_counts, self._connection(), now, overdue_after_seconds, top_hosts)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("SQLiteSchedule used before start()")
        return self._conn


def _write(conn: sqlite3.Connection, records: Sequence[dict[str, Any]], policy: Policy) -> Planned:
    with transaction(conn):
        planned = plan_batch(records, _read(conn, list({record["id"] for record in records})), policy)
        conn.executemany(_UPSERT, [tuple(getattr(entry, name) for name in ENTRY_COLUMNS)
                                   for entry in planned.entries])
        conn.executemany(_ADD_HOST, [(host,) for host in {entry.host for entry in planned.entries}])
    return planned


def _read(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Entry]:
    stored: dict[str, Entry] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start:start + _IDS_PER_QUERY]
        rows = conn.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM recrawl_schedule "
                            f"WHERE product_id IN ({', '.join('?' for _ in chunk)})", chunk)
        stored.update((row[0], Entry(*row)) for row in rows)
    return stored


def _ready_hosts(conn: sqlite3.Connection, now: float) -> list[str]:
    return [host for (host,) in conn.execute(qmarks(READY_HOSTS), (now, now))]


def _earliest_due(conn: sqlite3.Connection, hosts: Sequence[str], now: float) -> list[DueUrl]:
    rows = (conn.execute(qmarks(EARLIEST_DUE), (host, now)).fetchone() for host in hosts)
    return [DueUrl(*row) for row in rows if row is not None]


def _dispatched(conn: sqlite3.Connection, urls: Sequence[DueUrl], now: float, spacing: float) -> None:
    with transaction(conn):
        conn.executemany(_MARK_URL, [(now, now, url.product_id) for url in urls])
        conn.executemany(_MARK_HOST, [(now + spacing, url.host) for url in urls])


def _counts(conn: sqlite3.Connection, now: float, overdue_after: float, top_hosts: int) -> Counts:
    scheduled, due, overdue, unscheduled = conn.execute(qmarks(COUNTS), (now, now - overdue_after)).fetchone()
    per_host = conn.execute(qmarks(PER_HOST), (top_hosts,)).fetchall()
    return Counts(scheduled, due, overdue, unscheduled, [(host, n) for host, n in per_host])
