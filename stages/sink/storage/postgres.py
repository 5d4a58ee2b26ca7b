"""PostgreSQL storage: a small asyncpg pool, one transaction per batch, columns sent as arrays.

Durability: ``COMMIT`` returns once the server has flushed the commit record
to its WAL, provided ``fsync`` and ``synchronous_commit`` are on (PostgreSQL's
defaults). ``start`` refuses a session where either is off: the sink commits
Kafka offsets right after the batch's commit, so an asynchronous commit lost in
a server crash would lose those records for good.

Isolation: a batch first takes a transaction-scoped advisory lock per product
id (in hash order), then reads the stored rows. A second sink writing the same
ids, which a consumer-group rebalance can briefly cause, waits instead of
deciding history rows from a read that is about to be stale. Row locks
(``FOR UPDATE``) would not cover ids that have no row yet.

Batch writes send one array per column through ``unnest``: one statement and
one round trip per batch, whatever its size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from stages.core.errors import BadMessage, ConfigError, TransientError
from stages.core.product import COLUMNS, Product
from stages.sink.storage.base import BatchResult, StorageError
from stages.sink.storage.batch import StoredState, newest_per_id, plan_batch
from stages.sink.storage.discontinued import CLEAR_ON_UPSERT, Discontinued, split, with_discontinued
from stages.sink.storage.migrations import MIGRATIONS_ROOT, Migration, load_migrations, pending_migrations
from stages.sink.storage.urls import redact_password

POOL_MAX_SIZE = 2
CONNECT_TIMEOUT_SECONDS = 10.0
# Bounds every statement, so a lock held by a stuck client becomes a retriable error, not a hung sink.
COMMAND_TIMEOUT_SECONDS = 120.0
# SQLSTATE classes of failures that can clear up on their own: connection exception, transaction
# rollback (deadlock, serialization), insufficient resources, operator intervention, system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# Invalid authorization specification, invalid catalog name (no such database).
_CONFIG_SQLSTATE_CLASSES = frozenset({"28", "3D"})
# Data exception (a NUL in text, a number out of range), integrity constraint violation: about
# the records, not the server; the batcher finds the record and sends it to the DLQ.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})

_COLUMN_TYPES = {
    "price": "numeric",
    "regular_price": "numeric",
    "price_ok": "boolean",
    "fetched_at": "timestamptz",
    "parsed_at": "timestamptz",
}
_UPSERT = (
    f"INSERT INTO products ({', '.join(COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{_COLUMN_TYPES.get(name, 'text')}[]" for i, name in enumerate(COLUMNS, start=1))
    + ") ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in COLUMNS if name != "id")
    + f", {CLEAR_ON_UPSERT}"
    + " WHERE excluded.fetched_at > products.fetched_at"
    " OR (excluded.fetched_at = products.fetched_at AND excluded.parsed_at > products.parsed_at)"
)
_INSERT_HISTORY = (
    "INSERT INTO price_history (product_id, price, currency, availability, observed_at, kind) "
    "SELECT * FROM unnest($1::text[], $2::numeric[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])"
)
_LOCK_IDS = (
    "SELECT pg_advisory_xact_lock(hashtext('crawlpipe.sink.products'), key) "
    "FROM (SELECT DISTINCT hashtext(id) AS key FROM unnest($1::text[]) AS ids (id) ORDER BY key) AS keys"
)
_SELECT_STORED = (
    "SELECT id, price, currency, availability, fetched_at, parsed_at FROM products WHERE id = ANY($1::text[])"
)
_MARK_DISCONTINUED = (
    "UPDATE products SET discontinued_at = COALESCE(products.discontinued_at, gone.at) "
    "FROM unnest($1::text[], $2::timestamptz[]) AS gone (id, at) "
    "WHERE products.id = gone.id AND products.fetched_at <= gone.at"
)
_LOCK_MIGRATIONS = "SELECT pg_advisory_xact_lock(hashtext('crawlpipe.sink.migrations'))"
_CREATE_SCHEMA_VERSION = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)


class PostgresStorage:
    """Upserts product batches into PostgreSQL (see the module docstring for the guarantees)."""

    def __init__(self, dsn: str, *, migrations_dir: Path = MIGRATIONS_ROOT / "postgresql") -> None:
        self._dsn = dsn
        self._migrations_dir = migrations_dir
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        migrations = load_migrations(self._migrations_dir)
        async with self._translate_errors("connecting"):
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=COMMAND_TIMEOUT_SECONDS,
            )
        try:
            async with self._translate_errors("migrating"), self._pool.acquire() as conn:
                await _check_durability(conn, redact_password(self._dsn))
                await _migrate(conn, migrations)
        except BaseException:
            await self.close()
            raise

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        if self._pool is None:
            raise RuntimeError("PostgresStorage.write_batch called before start()")
        product_records, gone = split(records)
        products = newest_per_id(Product.from_record(record) for record in product_records)
        if not products and not gone:
            return BatchResult()
        async with self._translate_errors("writing a batch"), self._pool.acquire() as conn:
            return await _write(conn, products, gone, duplicates=len(records) - len(products) - len(gone))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _translate_errors(self, doing: str) -> AsyncIterator[None]:
        """Turn driver and socket errors into crawlpipe's errors, naming the server (never its password)."""
        where = f"PostgreSQL {redact_password(self._dsn)} ({doing})"
        try:
            yield
        except asyncpg.PostgresError as exc:
            sqlstate_class = (exc.sqlstate or "")[:2]
            if sqlstate_class in _TRANSIENT_SQLSTATE_CLASSES:
                raise TransientError(f"{where}: {exc}", error_class="storage_unavailable") from exc
            if sqlstate_class in _CONFIG_SQLSTATE_CLASSES:
                raise ConfigError(f"{where}: {exc}; check the storage URL") from exc
            if sqlstate_class in _DATA_SQLSTATE_CLASSES:
                raise BadMessage(f"{where}: {exc}", error_class="storage_refused") from exc
            raise StorageError(f"{where}: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise TransientError(
                f"{where}: {exc!r}; is the server running? (ops/postgres/start starts a local one)",
                error_class="storage_unavailable",
            ) from exc
        except asyncpg.InterfaceError as exc:
            if _connection_lost(exc):
                # A rollback on a connection the server has just closed (a restart) lands here.
                raise TransientError(f"{where}: {exc}", error_class="storage_unavailable") from exc
            raise StorageError(f"{where}: {exc}") from exc


def _connection_lost(error: asyncpg.InterfaceError) -> bool:
    """asyncpg says "connection is closed" / "pool is closing" with an InterfaceError and no code."""
    text = str(error).lower()
    return "closed" in text or "closing" in text or "connection" in text


async def _check_durability(conn: asyncpg.Connection, server: str) -> None:
    rows = await conn.fetch(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')"
    )
    off = sorted(row["name"] for row in rows if row["setting"] == "off")
    if off:
        raise ConfigError(
            f"PostgreSQL {server} has {' and '.join(off)} = off, so a committed batch can be lost in a crash "
            "after the sink has committed its Kafka offsets; turn it on for the sink's database or role "
            "(e.g. ALTER DATABASE … SET synchronous_commit = on)"
        )


async def _migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> None:
    async with conn.transaction():
        # Two sinks starting at once must not both apply the same migration.
        await conn.execute(_LOCK_MIGRATIONS)
        await conn.execute(_CREATE_SCHEMA_VERSION)
        applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_version")}
        for migration in pending_migrations(applied, migrations):
            await conn.execute(migration.sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", migration.version)


async def _write(conn: asyncpg.Connection, products: list[Product], gone: list[Discontinued], *,
                 duplicates: int) -> BatchResult:
    async with conn.transaction():
        ids = [product.id for product in products]
        await conn.execute(_LOCK_IDS, ids + [record.id for record in gone])
        stored = {
            row["id"]: StoredState(
                price=row["price"],
                currency=row["currency"],
                availability=row["availability"],
                fetched_at=row["fetched_at"],
                parsed_at=row["parsed_at"],
            )
            for row in await conn.fetch(_SELECT_STORED, ids)
        }
        plan = plan_batch(products, stored, duplicates=duplicates)
        if plan.upserts:
            await conn.execute(_UPSERT, *_columns(plan.upserts, COLUMNS))
        if plan.history:
            history_columns = ("id", "price", "currency", "availability", "fetched_at")
            products = [observed.product for observed in plan.history]
            await conn.execute(_INSERT_HISTORY, *_columns(products, history_columns),
                               [observed.kind for observed in plan.history])
        marked = 0
        if gone:
            # After the upserts: a product record of this batch fetched after the mark keeps it off.
            status = await conn.execute(_MARK_DISCONTINUED, [record.id for record in gone],
                                        [record.fetched_at for record in gone])
            marked = int(status.rsplit(" ", 1)[1])
    # Reached only once COMMIT has returned.
    return with_discontinued(plan.result, marked=marked, records=len(gone))


def _columns(products: Sequence[Product], names: Sequence[str]) -> list[list[Any]]:
    """One list per column, the shape ``unnest`` takes."""
    return [[product.column(name) for product in products] for name in names]
