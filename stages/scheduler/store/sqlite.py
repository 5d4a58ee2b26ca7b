"""The schedule in one SQLite file, on one dedicated thread (as the sink's storage: ``stages/sink/storage/sqlite.py``).

Memory is SQLite's page cache (``--schedule-cache-mb``), whatever the number
of URLs: the schedule lives on disk, read through indexes. Durability is the
sink's: WAL with ``synchronous=FULL``, so a batch whose offsets are committed
survives a power loss. Replicas on one machine may share the file: every
write takes the write lock first (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from stages.core.errors import ConfigError, TransientError
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
from stages.sink.storage.base import StorageError
from stages.sink.storage.migrations import load_migrations
from stages.sink.storage.sqlite import _migrate, _transaction

URL_PREFIX = "sqlite:///"
BUSY_TIMEOUT_SECONDS = 10.0
# Below SQLite's old limit of 999 bound parameters.
_IDS_PER_QUERY = 500
_TRANSIENT_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY}
)
_UPSERT = (
    f"INSERT INTO recrawl_schedule ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)}) "
    "ON CONFLICT (product_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in ENTRY_COLUMNS if name != "product_id")
)
_ADD_HOST = "INSERT INTO recrawl_hosts (host) VALUES (?) ON CONFLICT (host) DO NOTHING"
_MARK_URL = "UPDATE recrawl_schedule SET due_at = ? + interval_seconds, dispatched_at = ? WHERE product_id = ?"
_MARK_HOST = "UPDATE recrawl_hosts SET slot_at = ? WHERE host = ?"

T = TypeVar("T")


class SQLiteSchedule:
    def __init__(self, path: str, policy: Policy, *, cache_mb: int) -> None:
        self._path = path
        self._policy = policy
        self._cache_mb = cache_mb
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str, policy: Policy, *, cache_mb: int) -> SQLiteSchedule:
        path = unquote(url[len(URL_PREFIX):]) if url.startswith(URL_PREFIX) else ""
        if not path or "?" in path:
            raise ConfigError(f"schedule storage URL {url!r} is malformed; use sqlite:///relative/path.db, "
                              "sqlite:////absolute/path.db or postgresql://user@host:port/database")
        return cls(path, policy, cache_mb=cache_mb)

    async def start(self) -> None:
        if self._path != ":memory:":
            # The default file is under var/, which a fresh working directory does not have.
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawlpipe-schedule")
        try:
            self._conn = await self._call(_open, self._path, self._cache_mb)
        except BaseException:
            await self.close()
            raise

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> Planned:
        return await self._call(_write, self._connection(), records, self._policy)

    async def ready_hosts(self, now: float) -> list[str]:
        return await self._call(_ready_hosts, self._connection(), now)

    async def earliest_due(self, hosts: Sequence[str], now: float) -> list[DueUrl]:
        return await self._call(_earliest_due, self._connection(), hosts, now)

    async def dispatched(self, urls: Sequence[DueUrl], now: float, host_spacing_seconds: float) -> None:
        await self._call(_dispatched, self._connection(), urls, now, host_spacing_seconds)

    async def counts(self, now: float, overdue_after_seconds: float, top_hosts: int) -> Counts:
        return await self._call(_counts, self._connection(), now, overdue_after_seconds, top_hosts)

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
        self._executor = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("SQLiteSchedule used before start()")
        return self._conn

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the connection's thread, translating sqlite3 errors at this boundary."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except sqlite3.Error as exc:
            message = f"schedule SQLite database {self._path}: {exc}"
            if exc.sqlite_errorcode & 0xFF in _TRANSIENT_CODES:
                raise TransientError(message, error_class="storage_unavailable") from exc
            raise StorageError(message) from exc


def _open(path: str, cache_mb: int) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise ConfigError(f"cannot open the schedule's SQLite database {path!r}: {exc} "
                          "(does its directory exist?)") from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA cache_size = -{cache_mb * 1024}")
        _migrate(conn, load_migrations(MIGRATIONS / "sqlite"), table=VERSION_TABLE)
    except BaseException:
        conn.close()
        raise
    return conn


def _write(conn: sqlite3.Connection, records: Sequence[dict[str, Any]], policy: Policy) -> Planned:
    with _transaction(conn):
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
    with _transaction(conn):
        conn.executemany(_MARK_URL, [(now, now, url.product_id) for url in urls])
        conn.executemany(_MARK_HOST, [(now + spacing, url.host) for url in urls])


def _counts(conn: sqlite3.Connection, now: float, overdue_after: float, top_hosts: int) -> Counts:
    scheduled, due, overdue, unscheduled = conn.execute(qmarks(COUNTS), (now, now - overdue_after)).fetchone()
    per_host = conn.execute(qmarks(PER_HOST), (top_hosts,)).fetchall()
    return Counts(scheduled, due, overdue, unscheduled, [(host, n) for host, n in per_host])
