"""Schema migrations: applied once, in order, atomically; a database newer than the code is refused."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from stages.core.errors import ConfigError
from stages.sink.storage.base import StorageError
from stages.sink.storage.migrations import MIGRATIONS_ROOT
from tests.sink.storage_helpers import Database, product_record, started


def _migrations(tmp_path: Path, db: Database, **extra: str) -> Path:
    """The project's migrations for ``db``'s dialect plus ``extra`` files (name → SQL)."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_ROOT / db.kind, directory)
    for name, sql in extra.items():
        (directory / name).write_text(sql)
    return directory


async def test_start_applies_the_schema_once(db: Database) -> None:
    async with started(db.url):
        pass
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a")])
    assert await db.schema_versions() == [1, 2]
    assert {"products", "price_history", "schema_version"} <= await db.table_names()


async def test_a_database_newer_than_this_code_is_refused(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a")])
    await db.execute("INSERT INTO schema_version (version, applied_at) VALUES (7, '2030-01-01T00:00:00Z')")
    with pytest.raises(
        ConfigError,
        match=r"database schema version 7 is newer than this crawlpipe knows \(2\); upgrade crawlpipe",
    ):
        async with started(db.url):
            pass
    assert await db.schema_versions() == [1, 2, 7]
    assert list(await db.products()) == ["a"]


async def test_a_new_migration_is_applied_on_the_next_start(db: Database, tmp_path: Path) -> None:
    async with started(db.url):
        pass
    directory = _migrations(
        tmp_path, db, **{"0003_add_notes.sql": "CREATE TABLE notes (id integer PRIMARY KEY);\n"}
    )
    async with started(db.storage(migrations_dir=directory)):
        pass
    assert await db.schema_versions() == [1, 2, 3]
    assert "notes" in await db.table_names()


async def test_a_failing_migration_leaves_the_database_as_it_was(db: Database, tmp_path: Path) -> None:
    async with started(db.url):
        pass
    broken = "CREATE TABLE notes (id integer PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n"
    directory = _migrations(tmp_path, db, **{"0003_broken.sql": broken})
    with pytest.raises(StorageError, match="no_such_table"):
        async with started(db.storage(migrations_dir=directory)):
            pass
    assert await db.schema_versions() == [1, 2]
    assert "notes" not in await db.table_names()


async def test_product_details_are_stored_and_older_records_still_fit(db: Database) -> None:
    details = {"regular_price": "39.90", "brand": "Acme", "gtin": "4006381333931", "mpn": "AC-1",
               "description": "A kettle.", "images": ["https://shop.example/a.jpg", "https://shop.example/b.jpg"]}
    async with started(db.url) as storage:
        await storage.write_batch([{**product_record("a"), **details}, product_record("old")])
    stored = await db.details()
    assert stored["a"] == {"id": "a", **details, "regular_price": Decimal("39.90"),
                           "images": '["https://shop.example/a.jpg","https://shop.example/b.jpg"]'}
    assert stored["old"] == {"id": "old", "regular_price": None, "brand": None, "gtin": None, "mpn": None,
                             "description": None, "images": None}
