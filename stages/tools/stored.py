"""Read the sink's current product rows back, for ``crawlpipe replay --dry-run`` to compare against.

The sink's storage classes only write; a dry run needs a few hundred rows by
product id or by the page they came from, read-only, so it has this small
reader of its own. SQLite is opened read-only (``mode=ro``) so a dry run can
never change the file a running sink writes. JSON-lines storage is an
append-only log with no current state to read, and is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import asyncpg

from stages.core.errors import ConfigError
from stages.core.product import COLUMNS
from stages.sink.storage.sqlite import URL_PREFIX
from stages.sink.storage.urls import redact_password

# Below SQLite's historic limit of 999 bound parameters.
_PER_QUERY = 400

Rows = dict[str, dict[str, Any]]


async def stored_products(storage_url: str, *, ids: Collection[str], page_urls: Collection[str]) -> Rows:
    """The stored rows whose id is in ``ids`` or whose page_url is in ``page_urls``, keyed by id."""
    scheme = storage_url.partition(":")[0].lower()
    if scheme == "sqlite":
        return _sqlite_rows(storage_url, ids, page_urls)
    if scheme in ("postgresql", "postgres"):
        return await _postgres_rows(storage_url, ids, page_urls)
    raise ConfigError(f"--storage {redact_password(storage_url)!r}: a dry run compares with SQLite or "
                      "PostgreSQL storage (JSON lines has no current rows to read)")


def _sqlite_rows(storage_url: str, ids: Collection[str], page_urls: Collection[str]) -> Rows:
    path = Path(unquote(storage_url[len(URL_PREFIX):]))
    if not path.is_file():
        raise ConfigError(f"--storage {storage_url!r}: no SQLite database at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows: Rows = {}
        for column, values in (("id", ids), ("page_url", page_urls)):
            for chunk in _chunks(list(values)):
                cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM products "
                                      f"WHERE {column} IN ({', '.join('?' for _ in chunk)})", chunk)
                for row in cursor:
                    record = dict(zip(COLUMNS, row))
                    record["price_ok"] = bool(record["price_ok"])
                    rows[record["id"]] = record
        return rows
    except sqlite3.Error as exc:
        raise ConfigError(f"--storage {storage_url!r}: cannot read products: {exc}") from exc
    finally:
        conn.close()


async def _postgres_rows(storage_url: str, ids: Collection[str], page_urls: Collection[str]) -> Rows:
    try:
        conn = await asyncpg.connect(storage_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"--storage {redact_password(storage_url)!r}: cannot connect: {exc}") from exc
    try:
        found = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM products "
                                 "WHERE id = ANY($1::text[]) OR page_url = ANY($2::text[])",
                                 list(ids), list(page_urls))
    finally:
        await conn.close()
    rows: Rows = {}
    for row in found:
        record = dict(row)
        if isinstance(record["price"], Decimal):
            record["price"] = str(record["price"])
        rows[record["id"]] = record
    return rows


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _PER_QUERY):
        yield values[start:start + _PER_QUERY]
