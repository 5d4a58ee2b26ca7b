"""SQLite storage: the standard library's ``sqlite3``, one connection, used from one dedicated thread.

Durability: the WAL journal with ``synchronous=FULL``. In WAL mode ``NORMAL``
does not sync the WAL at commit, so a power loss can undo the last commits
after the sink has already committed their Kafka offsets, and those records
would never be delivered again. ``FULL`` syncs the WAL at every commit; with
batched writes that is one fsync per batch.

Isolation: every batch starts with ``BEGIN IMMEDIATE``, which takes SQLite's
write lock before the stored rows are read, so the history decision and the
upsert see the same rows even when a second process writes the same file.

Threading: ``sqlite3`` calls block, and a connection belongs to the thread
that made it, so all of them run on one single-worker executor; the event loop
only awaits. If a caller is cancelled mid-batch the thread still finishes (and
commits or rolls back) that batch; the caller never commits the offsets, so the
batch is delivered again and collapses onto the same rows.

URLs follow SQLAlchemy's rule: ``sqlite:///relative/path.db``,
``sqlite:////absolute/path.db``, ``sqlite:///:memory:`` (tests).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote

from stages.core.errors import BadMessage, ConfigError, TransientError
from stages.core.product import COLUMNS, Product
from stages.sink.storage.base import BatchResult, StorageError
from stages.sink.storage.batch import StoredState, newest_per_id, plan_batch
from stages.sink.storage.discontinued import CLEAR_ON_UPSERT, Discontinued, split, with_discontinued
from stages.sink.storage.migrations import MIGRATIONS_ROOT, Migration, load_migrations, pending_migrations

URL_PREFIX = "sqlite:///"
BUSY_TIMEOUT_SECONDS = 10.0
# SQLite's default limit on bound parameters was 999 before 3.32; stay below it.
_IDS_PER_QUERY = 500
# Primary result codes for conditions that can clear up on their own (a full disk is freed, a
# filesystem remounted read-write).
_TRANSIENT_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY}
)

# price_micros (migration 0003): the price in millionths, an exact integer SQLite compares numerically.
_SQLITE_COLUMNS = (*COLUMNS, "price_micros")
PRICE_MICROS_PER_UNIT = 1_000_000
_UPSERT = (
    f"INSERT INTO products ({', '.join(_SQLITE_COLUMNS)}) VALUES ({', '.join('?' for _ in _SQLITE_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _SQLITE_COLUMNS if name != "id")
    + f", {CLEAR_ON_UPSERT}"
    + " WHERE excluded.fetched_at > products.fetched_at"
    " OR (excluded.fetched_at = products.fetched_at AND excluded.parsed_at > products.parsed_at)"
)
_INSERT_HISTORY = (
    "INSERT INTO price_history (product_id, price, currency, availability, observed_at, price_micros, kind) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_MARK_DISCONTINUED = (
    "UPDATE products SET discontinued_at = COALESCE(discontinued_at, ?) WHERE id = ? AND fetched_at <= ?"
)
_CREATE_SCHEMA_VERSION = (
    "CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)

T = TypeVar("T")


class SQLiteStorage:
    """Upserts product batches into one SQLite file (see the module docstring for the guarantees)."""

    #: Where the applied migrations are recorded (a subclass with tables of its own keeps its own).
    version_table: ClassVar[str] = "schema_version"

    def __init__(self, path: str, *, migrations_dir: Path = MIGRATIONS_ROOT / "sqlite") -> None:
        self._path = path
        self._migrations_dir = migrations_dir
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str) -> SQLiteStorage:
        """Build from ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``sqlite:///:memory:``."""
        path = unquote(url[len(URL_PREFIX) :]) if url.startswith(URL_PREFIX) else ""
        if not path or "?" in path:
            raise ConfigError(
                f"SQLite storage URL {url!r} is malformed; use sqlite:///relative/path.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory: (no query parameters)"
            )
        return cls(path)

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawlpipe-sqlite")
        try:
            await self._call(self._open)
        except BaseException:
            await self.close()
            raise

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        if self._conn is None:
            raise RuntimeError("SQLiteStorage.write_batch called before start()")
        product_records, gone = split(records)
        products = newest_per_id(Product.from_record(record) for record in product_records)
        if not products and not gone:
            return BatchResult()
        return await self._call(_write, self._conn, products, gone, len(records) - len(products) - len(gone))

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
        self._executor = None

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the connection's thread, translating sqlite3 errors at this boundary."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except sqlite3.Error as exc:
            message = f"SQLite database {self._path}: {exc}"
            if exc.sqlite_errorcode & 0xFF in _TRANSIENT_CODES:
                raise TransientError(message, error_class="storage_unavailable") from exc
            raise StorageError(message) from exc

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise ConfigError(
                f"cannot open SQLite database {self._path!r}: {exc} (does its directory exist?)"
            ) from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, load_migrations(self._migrations_dir), table=self.version_table)
        except BaseException:
            conn.close()
            raise
        self._conn = conn


def _write(conn: sqlite3.Connection, products: list[Product], gone: list[Discontinued],
           duplicates: int) -> BatchResult:
    with transaction(conn):
        stored = _read_stored(conn, [product.id for product in products])
        plan = plan_batch(products, stored, duplicates=duplicates)
        conn.executemany(_UPSERT, [_product_row(product) for product in plan.upserts])
        conn.executemany(_INSERT_HISTORY, [_history_row(product, kind) for product, kind in plan.history])
        # After the upserts: a product record of this batch fetched after the mark keeps it off.
        marked = conn.executemany(_MARK_DISCONTINUED, [
            (_text_instant(record.fetched_at), record.id, _text_instant(record.fetched_at)) for record in gone
        ]).rowcount if gone else 0
    # Reached only once COMMIT has returned.
    return with_discontinued(plan.result, marked=marked, records=len(gone))


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any failure (the connection is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection, migrations: list[Migration], *, table: str = "schema_version") -> None:
    """Apply the pending ``migrations``, recording them in ``table`` (each stage's schema keeps its own)."""
    with transaction(conn):
        conn.execute(_CREATE_SCHEMA_VERSION.format(table=table))
        applied = {version for (version,) in conn.execute(f"SELECT version FROM {table}")}
        for migration in pending_migrations(applied, migrations):
            for statement in _statements(migration):
                conn.execute(statement)
            conn.execute(
                f"INSERT INTO {table} (version, applied_at) VALUES (?, ?)",
                (migration.version, _text_instant(datetime.now(UTC))),
            )


def _statements(migration: Migration) -> Iterator[str]:
    """Split a migration into statements (``executescript`` would commit the open transaction)."""
    buffer = ""
    for line in migration.sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    leftover = [line for line in buffer.splitlines() if line.strip() and not line.lstrip().startswith("--")]
    if leftover:
        raise ConfigError(f"migration {migration.name} ends with an unterminated statement: {leftover[0]!r}")


def _read_stored(conn: sqlite3.Connection, ids: list[str]) -> dict[str, StoredState]:
    stored = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        rows = conn.execute(
            "SELECT id, price, currency, availability, fetched_at, parsed_at FROM products "
            f"WHERE id IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for product_id, price, currency, availability, fetched_at, parsed_at in rows:
            stored[product_id] = StoredState(
                price=None if price is None else Decimal(price),
                currency=currency,
                availability=availability,
                fetched_at=datetime.fromisoformat(fetched_at),
                parsed_at=datetime.fromisoformat(parsed_at),
            )
    return stored


def _text_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that SQLite's text comparison in the upsert is time order."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _product_row(product: Product) -> tuple[Any, ...]:
    row = []
    for name in COLUMNS:
        value = product.column(name)
        if isinstance(value, datetime):
            value = _text_instant(value)
        elif isinstance(value, Decimal):
            value = str(value)
        row.append(value)
    row.append(_micros(product.price))
    return tuple(row)


def _history_row(product: Product, kind: str) -> tuple[Any, ...]:
    return (
        product.id,
        None if product.price is None else str(product.price),
        product.currency,
        product.availability,
        _text_instant(product.fetched_at),
        _micros(product.price),
        kind,
    )


def _micros(price: Decimal | None) -> int | None:
    """Exact: the sanity limits (--max-price-scale 6, --max-price-digits 12) keep prices within it."""
    if price is None:
        return None
    micros = price * PRICE_MICROS_PER_UNIT
    if micros != micros.to_integral_value() or not -(2**63) <= micros < 2**63:
        raise BadMessage(f"price {price} does not fit price_micros exactly (at most 6 decimals, 12 digits)",
                         error_class="bad_product")
    return int(micros)
