"""Stored prices compare as numbers, and price history orders and says what it observed."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from stages.sink.storage.migrations import MIGRATIONS_ROOT
from stages.sink.storage.sqlite import SQLiteStorage
from tests.sink.storage_helpers import Database, at, product_record, started


async def test_sqlite_prices_compare_numerically_and_exactly(tmp_path: Path) -> None:
    db = Database("sqlite", f"sqlite:///{tmp_path / 'shop.db'}")
    prices = {"a": "9.99", "b": "10.00", "c": "100.5", "d": "2", "e": "999999999999.999999"}
    async with started(db.url) as storage:
        await storage.write_batch([product_record(pid, price=price) for pid, price in prices.items()])
    under_ten = await db.rows("SELECT id FROM products WHERE price_micros < 10 * 1000000 ORDER BY price_micros")
    assert [row["id"] for row in under_ten] == ["d", "a"]
    ordered = await db.rows("SELECT id, price, price_micros FROM products ORDER BY price_micros")
    assert [row["id"] for row in ordered] == ["d", "a", "b", "c", "e"]
    assert all(Decimal(row["price"]) * 1_000_000 == row["price_micros"] for row in ordered)


async def test_the_migration_converts_the_prices_of_an_existing_sqlite_database_exactly(tmp_path: Path) -> None:
    only_first = tmp_path / "migrations"
    only_first.mkdir()
    shutil.copy(MIGRATIONS_ROOT / "sqlite" / "0001_init.sql", only_first)
    path = tmp_path / "old.db"
    async with started(SQLiteStorage(str(path), migrations_dir=only_first)):
        pass
    # Rows as the sink wrote them before 0003: prices as decimal text only.
    with sqlite3.connect(path) as conn:
        for pid, price in (("a", "12.5"), ("b", "0.000001"), ("c", None), ("d", "123456789012")):
            conn.execute("INSERT INTO products (id, site, url, title, price, price_ok, page_url, fetched_at, "
                         "parsed_at, parser_version, method) VALUES (?, 's', 'u', 't', ?, 1, 'p', ?, ?, 'v', 'rules')",
                         (pid, price, at(0), at(1)))
            conn.execute("INSERT INTO price_history (product_id, price, observed_at) VALUES (?, ?, ?)",
                         (pid, price, at(0)))
        assert "price_micros" not in {row[1] for row in conn.execute("PRAGMA table_info(products)")}
    async with started(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as conn:
        micros = dict(conn.execute("SELECT id, price_micros FROM products"))
        history = conn.execute("SELECT product_id, price_micros, kind FROM price_history ORDER BY id").fetchall()
    assert micros == {"a": 12_500_000, "b": 1, "c": None, "d": 123_456_789_012_000_000}
    assert history == [("a", 12_500_000, "fetch"), ("b", 1, "fetch"), ("c", None, "fetch"),
                       ("d", 123_456_789_012_000_000, "fetch")]


async def test_a_replay_of_a_stored_fetch_is_labelled_and_ordered_after_it(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("p", price="10.00", fetched_at=at(0), parsed_at=at(1))])
        # The replay re-parses the same page (same fetch time) with new rules: a new price.
        await storage.write_batch([product_record("p", price="11.00", fetched_at=at(0), parsed_at=at(500))])
        await storage.write_batch([product_record("p", price="12.00", fetched_at=at(900), parsed_at=at(901))])
    history = await db.history()
    assert [(row["price"], row["kind"]) for row in history] == [
        (Decimal("10.00"), "fetch"), (Decimal("11.00"), "replay"), (Decimal("12.00"), "fetch")]
    # The replay's observed_at ties with the fetch it re-parsed: the sequence (id) is what orders them.
    assert history[0]["observed_at"] == history[1]["observed_at"]


@pytest.mark.parametrize("price", ["1.1234567", "12345678901234"])
async def test_a_price_sqlite_cannot_hold_exactly_is_that_records_failure(tmp_path: Path, price: str) -> None:
    from stages.core.errors import BadMessage

    async with started(f"sqlite:///{tmp_path / 'x.db'}") as storage:
        with pytest.raises(BadMessage, match="price_micros"):
            await storage.write_batch([product_record("p", price=price)])
