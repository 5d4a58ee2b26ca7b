"""Helpers for the storage tests: product records, a started storage, and a look inside the database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from stages.sink.storage import Storage, open_storage
from stages.sink.storage.postgres import PostgresStorage
from stages.sink.storage.sqlite import SQLiteStorage

EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """An RFC 3339 UTC timestamp with microseconds, ``seconds`` after a fixed epoch."""
    return instant(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instant(seconds: float) -> datetime:
    """``at(seconds)`` as the aware ``datetime`` the databases give back."""
    return EPOCH + timedelta(seconds=seconds)


def product_record(
    product_id: str,
    *,
    price: str | None = "10.00",
    currency: str | None = "EUR",
    availability: str | None = "in_stock",
    fetched_at: str = at(0),
    parsed_at: str = at(1),
    title: str = "Widget",
) -> dict[str, Any]:
    """A valid ``crawl.products`` record; tests override what they are about."""
    return {
        "id": product_id,
        "site": "shop.example",
        "url": f"https://shop.example/p/{product_id}",
        "title": title,
        "price": price,
        "currency": currency,
        "price_raw": None if price is None else f"{price} €",
        "price_ok": price is not None,
        "availability": availability,
        "image": None,
        "sku": None,
        "page_url": "https://shop.example/list/1",
        "fetched_at": fetched_at,
        "parsed_at": parsed_at,
        "parser_version": "1.0.0",
        "method": "css",
    }


@asynccontextmanager
async def started(storage: Storage | str) -> AsyncIterator[Storage]:
    """A started storage (from a URL or an instance), closed on the way out."""
    if isinstance(storage, str):
        storage = open_storage(storage)
    await storage.start()
    try:
        yield storage
    finally:
        await storage.close()


@dataclass(frozen=True)
class Database:
    """One test's own database, and what the tests read back from it, in backend-neutral Python types."""

    kind: str  # "sqlite" or "postgresql"
    url: str

    def storage(self, *, migrations_dir: Path) -> Storage:
        """A backend with a test's own migration files."""
        if self.kind == "sqlite":
            return SQLiteStorage(self._sqlite_path(), migrations_dir=migrations_dir)
        return PostgresStorage(self.url, migrations_dir=migrations_dir)

    async def products(self) -> dict[str, dict[str, Any]]:
        rows = await self._fetch(
            "SELECT id, title, price, currency, availability, fetched_at, parsed_at FROM products"
        )
        return {row["id"]: row for row in rows}

    async def details(self) -> dict[str, dict[str, Any]]:
        """The columns migration 0002 added, by product id."""
        rows = await self._fetch("SELECT id, regular_price, brand, gtin, mpn, description, images FROM products")
        return {row["id"]: row for row in rows}

    async def history(self) -> list[dict[str, Any]]:
        """All ``price_history`` rows in insertion order."""
        return await self._fetch(
            "SELECT product_id, price, currency, availability, observed_at, kind FROM price_history ORDER BY id"
        )

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Rows of any query, in backend-neutral Python types."""
        return await self._fetch(sql)

    async def schema_versions(self) -> list[int]:
        return [
            row["version"] for row in await self._fetch("SELECT version FROM schema_version ORDER BY version")
        ]

    async def table_names(self) -> set[str]:
        if self.kind == "sqlite":
            rows = await self._fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = await self._fetch("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
        return {row["name"] for row in rows}

    async def execute(self, sql: str) -> None:
        if self.kind == "sqlite":
            with sqlite3.connect(self._sqlite_path()) as conn:
                conn.execute(sql)
            return
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _fetch(self, sql: str) -> list[dict[str, Any]]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self._sqlite_path())
            conn.row_factory = sqlite3.Row
            try:
                return [_neutral(dict(row)) for row in conn.execute(sql)]
            finally:
                conn.close()
        pg = await asyncpg.connect(self.url)
        try:
            return [_neutral(dict(row)) for row in await pg.fetch(sql)]
        finally:
            await pg.close()

    def _sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")


def _neutral(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite's text prices and timestamps as ``Decimal`` and ``datetime``, like PostgreSQL's."""
    for name in ("price", "regular_price"):
        if isinstance(row.get(name), str):
            row[name] = Decimal(row[name])
    for name in ("fetched_at", "parsed_at", "observed_at", "discontinued_at"):
        if isinstance(row.get(name), str):
            row[name] = datetime.fromisoformat(row[name])
    return row
