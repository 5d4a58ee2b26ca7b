"""Discontinued records on SQLite and PostgreSQL: discontinued_at set with the time, cleared by a later product."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stages.sink.storage import BatchResult
from tests.sink.storage_helpers import Database, at, instant, product_record, started


def discontinued_record(product_id: str, *, fetched_at: str, reason: str = "http_410") -> dict[str, Any]:
    """A valid discontinued record (schemas/discontinued.schema.json)."""
    return {"id": product_id, "site": "shop.example", "url": f"https://shop.example/p/{product_id}",
            "discontinued": True, "reason": reason, "fetched_at": fetched_at, "parsed_at": fetched_at,
            "parser_version": "1.0.0"}


async def discontinued_at(db: Database) -> dict[str, datetime | None]:
    return {row["id"]: row["discontinued_at"] for row in await db.rows("SELECT id, discontinued_at FROM products")}


async def test_a_discontinued_product_keeps_its_row_and_gets_the_time(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", fetched_at=at(10)), product_record("b", fetched_at=at(10))])
        result = await storage.write_batch([discontinued_record("a", fetched_at=at(20))])
    assert result == BatchResult(discontinued=1)
    assert await discontinued_at(db) == {"a": instant(20), "b": None}
    assert sorted(await db.products()) == ["a", "b"]


async def test_a_product_record_fetched_later_clears_it_and_an_earlier_one_does_not(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", fetched_at=at(10))])
        await storage.write_batch([discontinued_record("a", fetched_at=at(20))])
        late_but_older = await storage.write_batch([product_record("a", fetched_at=at(15), price="11.00")])
        assert late_but_older == BatchResult(updated=1, history_rows=1)
        assert await discontinued_at(db) == {"a": instant(20)}
        back = await storage.write_batch([product_record("a", fetched_at=at(30), price="12.00")])
    assert back == BatchResult(updated=1, history_rows=1)
    assert await discontinued_at(db) == {"a": None}


async def test_a_mark_older_than_the_stored_fetch_or_of_an_unknown_product_is_stale(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", fetched_at=at(10))])
        result = await storage.write_batch([discontinued_record("a", fetched_at=at(5)),
                                            discontinued_record("unknown", fetched_at=at(5))])
    assert result == BatchResult(stale_skipped=2)
    assert await discontinued_at(db) == {"a": None}


async def test_in_one_batch_the_first_time_found_gone_is_kept_and_a_newer_product_wins(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", fetched_at=at(10)), product_record("b", fetched_at=at(10))])
        result = await storage.write_batch([
            discontinued_record("a", fetched_at=at(30), reason="not_on_page"),
            discontinued_record("a", fetched_at=at(20)),
            discontinued_record("b", fetched_at=at(20)),
            product_record("b", fetched_at=at(25)),
        ])
        again = await storage.write_batch([discontinued_record("a", fetched_at=at(40))])
    assert result == BatchResult(updated=1, discontinued=1, stale_skipped=1, duplicates=1)
    assert again == BatchResult(discontinued=1)
    assert await discontinued_at(db) == {"a": instant(20), "b": None}
