"""The SQL backends' write rules, identical on SQLite and PostgreSQL: upsert by id, newest wins, history on change."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.core.errors import BadMessage
from stages.sink.storage import BatchResult
from tests.sink.storage_helpers import Database, at, instant, product_record, started


async def test_the_same_records_twice_leave_one_row_each(db: Database) -> None:
    batch = [product_record("a"), product_record("b")]
    async with started(db.url) as storage:
        first = await storage.write_batch(batch)
        second = await storage.write_batch(batch)
    assert first == BatchResult(inserted=2, history_rows=2)
    assert second == BatchResult(stale_skipped=2)
    assert sorted(await db.products()) == ["a", "b"]
    assert len(await db.history()) == 2


async def test_an_older_record_after_a_newer_one_keeps_the_newest_values(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", price="12.00", fetched_at=at(10), title="New")])
        result = await storage.write_batch(
            [product_record("a", price="11.00", fetched_at=at(5), title="Old")]
        )
    assert result == BatchResult(stale_skipped=1)
    row = (await db.products())["a"]
    assert (row["title"], row["price"], row["fetched_at"]) == ("New", Decimal("12.00"), instant(10))
    assert [entry["price"] for entry in await db.history()] == [Decimal("12.00")]


async def test_equal_fetched_at_the_later_parse_wins(db: Database) -> None:
    """A replay re-parses the same fetched page with new rules: its parsed_at decides."""
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", price="9.00", fetched_at=at(0), parsed_at=at(1))])
        replay = await storage.write_batch(
            [product_record("a", price="9.50", fetched_at=at(0), parsed_at=at(100))]
        )
        older_parse = await storage.write_batch(
            [product_record("a", price="1.00", fetched_at=at(0), parsed_at=at(50))]
        )
    assert replay == BatchResult(updated=1, history_rows=1)
    assert older_parse == BatchResult(stale_skipped=1)
    row = (await db.products())["a"]
    assert (row["price"], row["parsed_at"]) == (Decimal("9.50"), instant(100))


async def test_history_has_one_row_per_real_change(db: Database) -> None:
    steps = [
        product_record("a", price="10.00", fetched_at=at(1)),  # first seen
        product_record("a", price="10.00", fetched_at=at(2), title="Renamed"),  # no price change
        product_record("a", price="10.0", fetched_at=at(3)),  # the same price, written differently
        product_record("a", price="12.00", fetched_at=at(4)),  # price
        product_record("a", price="12.00", currency="USD", fetched_at=at(5)),  # currency
        product_record("a", price="12.00", currency="USD", availability="out_of_stock", fetched_at=at(6)),
        product_record("a", price=None, currency=None, availability="out_of_stock", fetched_at=at(7)),
    ]
    async with started(db.url) as storage:
        results = [await storage.write_batch([step]) for step in steps]
    assert [result.history_rows for result in results] == [1, 0, 0, 1, 1, 1, 1]
    assert [
        (row["price"], row["currency"], row["availability"], row["observed_at"]) for row in await db.history()
    ] == [
        (Decimal("10.00"), "EUR", "in_stock", instant(1)),
        (Decimal("12.00"), "EUR", "in_stock", instant(4)),
        (Decimal("12.00"), "USD", "in_stock", instant(5)),
        (Decimal("12.00"), "USD", "out_of_stock", instant(6)),
        (None, None, "out_of_stock", instant(7)),
    ]


async def test_no_history_for_duplicates_or_stale_records(db: Database) -> None:
    async with started(db.url) as storage:
        await storage.write_batch([product_record("a", price="10.00", fetched_at=at(10))])
        duplicate = await storage.write_batch([product_record("a", price="10.00", fetched_at=at(10))])
        stale_with_other_price = await storage.write_batch(
            [product_record("a", price="99.00", fetched_at=at(9))]
        )
    assert duplicate.history_rows == stale_with_other_price.history_rows == 0
    assert len(await db.history()) == 1


async def test_duplicate_ids_in_one_batch_collapse_to_the_newest(db: Database) -> None:
    batch = [
        product_record("a", price="2.00", fetched_at=at(2)),
        product_record("a", price="3.00", fetched_at=at(3)),
        product_record("b", price="5.00"),
        product_record("a", price="1.00", fetched_at=at(1)),
    ]
    async with started(db.url) as storage:
        result = await storage.write_batch(batch)
    assert result == BatchResult(inserted=2, duplicates=2, history_rows=2)
    assert (await db.products())["a"]["price"] == Decimal("3.00")
    assert [(row["product_id"], row["price"]) for row in await db.history()] == [
        ("a", Decimal("3.00")),
        ("b", Decimal("5.00")),
    ]


async def test_a_malformed_record_fails_the_batch_before_anything_is_written(db: Database) -> None:
    batch = [product_record("a"), product_record("b", fetched_at="yesterday")]
    async with started(db.url) as storage:
        with pytest.raises(BadMessage, match="'b'.*fetched_at.*yesterday"):
            await storage.write_batch(batch)
    assert await db.products() == {}


# Each record's content follows from its version, as for real records: one fetch
# parsed by one parser version is one record.
_records = st.builds(
    lambda product, fetched, parsed: product_record(
        f"p{product}", price=f"{fetched}.{parsed}0", fetched_at=at(fetched), parsed_at=at(fetched + parsed)
    ),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_records, min_size=1, max_size=6), min_size=1, max_size=5))
async def test_any_delivery_order_ends_with_the_newest_record_and_model_history(
    db: Database, batches: list[list[dict]]
) -> None:
    """Against a plain model of the rules: whatever the batching and order, the newest record wins."""
    prefix = f"{uuid4()}-"  # examples share the test's database; their own ids keep them apart
    batches = [[{**record, "id": prefix + record["id"]} for record in batch] for batch in batches]
    model: dict[str, dict] = {}
    model_history = 0
    async with started(db.url) as storage:
        for batch in batches:
            newest: dict[str, dict] = {}
            for record in batch:
                seen = newest.get(record["id"])
                if seen is None or _version(record) > _version(seen):
                    newest[record["id"]] = record
            for record in newest.values():
                stored = model.get(record["id"])
                if stored is None or _version(record) > _version(stored):
                    if stored is None or Decimal(stored["price"]) != Decimal(record["price"]):
                        model_history += 1
                    model[record["id"]] = record
            await storage.write_batch(batch)
    rows = {key: row for key, row in (await db.products()).items() if key.startswith(prefix)}
    assert {key: row["price"] for key, row in rows.items()} == {
        key: Decimal(record["price"]) for key, record in model.items()
    }
    history = [row for row in await db.history() if row["product_id"].startswith(prefix)]
    assert len(history) == model_history


def _version(record: dict) -> tuple[str, str]:
    return (record["fetched_at"], record["parsed_at"])
