"""The dry run's comparison: which products changed, and in which fields; which were gained or lost."""

from __future__ import annotations

from datetime import UTC, datetime

from stages.tools.diff import FieldChange, diff_products, render, sink_would_keep


def record(pid: str, **fields: object) -> dict[str, object]:
    base = {"id": pid, "site": "shop", "url": f"https://shop.example/p/{pid}", "title": f"Item {pid}",
            "price": "12.50", "currency": "EUR", "price_raw": "12,50 €", "price_ok": True,
            "availability": "InStock", "image": None, "sku": pid, "page_url": "https://shop.example/list/1",
            "fetched_at": "2026-11-27T08:00:00.000000Z", "parsed_at": "2026-11-27T08:00:01.000000Z",
            "parser_version": "0.1.0+rules.aaaa", "method": "rules"}
    return {**base, **fields}


def test_changed_fields_are_listed_old_to_new_in_field_order():
    old = {"a": record("a")}
    new = {"a": record("a", currency="USD", title="Renamed")}
    diff = diff_products(old, new)
    assert diff.changed == {"a": [FieldChange("title", "Item a", "Renamed"), FieldChange("currency", "EUR", "USD")]}
    assert (diff.gained, diff.lost, diff.unchanged) == ([], [], 0)


def test_parse_time_version_and_fetch_time_are_not_changes():
    old = {"a": record("a")}
    new = {"a": record("a", parsed_at="2026-11-28T00:00:00.000000Z", parser_version="0.1.0+rules.bbbb",
                       fetched_at="2026-11-28T00:00:00.000000Z")}
    diff = diff_products(old, new)
    assert diff.changed == {} and diff.unchanged == 1


def test_prices_compare_as_decimals_not_text():
    assert diff_products({"a": record("a", price="12.50")}, {"a": record("a", price="12.5")}).unchanged == 1
    changed = diff_products({"a": record("a", price="12.50")}, {"a": record("a", price=None, price_ok=False)})
    assert changed.changed["a"] == [FieldChange("price", "12.50", None), FieldChange("price_ok", True, False)]


def test_ids_only_in_the_new_records_are_gained_and_only_in_the_stored_ones_lost():
    old = {"a": record("a"), "b": record("b")}
    new = {"b": record("b"), "c": record("c"), "d": record("d")}
    diff = diff_products(old, new)
    assert (diff.gained, diff.lost, diff.unchanged) == (["c", "d"], ["a"], 1)


def test_render_tallies_fields_and_names_every_product():
    old = {"a": record("a"), "b": record("b"), "x": record("x")}
    new = {"a": record("a", title="New a"), "b": record("b", title="New b", currency="USD"), "y": record("y")}
    lines = render(diff_products(old, new), old, new)
    assert lines == [
        "changed: 2 products, title in 2, currency in 1",
        "  ~ a https://shop.example/p/a: title 'Item a' → 'New a'",
        "  ~ b https://shop.example/p/b: title 'Item b' → 'New b'; currency 'EUR' → 'USD'",
        "gained: 1 products",
        "  + y https://shop.example/p/y 'Item y'",
        "lost: 1 products",
        "  - x https://shop.example/p/x 'Item x'",
        "unchanged: 0 products",
    ]


def test_a_replayed_page_older_than_the_stored_fetch_changes_nothing_as_in_the_sink():
    stored = {
        # Stored from a fetch newer than the replayed page: the sink skips the replay's record.
        "newer": record("newer", fetched_at="2026-11-28T08:00:00.000000Z"),
        # Stored from the very fetch being replayed: the later parse wins in the sink.
        "same": record("same"),
        # PostgreSQL gives instants back as datetimes.
        "pg": record("pg", fetched_at=datetime(2026, 11, 28, 8, tzinfo=UTC), parsed_at=datetime(2026, 11, 28, 8, 1, tzinfo=UTC)),
    }
    replayed = {pid: record(pid, title="Renamed", parsed_at="2026-12-01T00:00:00.000000Z")
                for pid in ("newer", "same", "pg", "new")}
    effective, stale = sink_would_keep(stored, replayed)
    assert stale == ["newer", "pg"]
    diff = diff_products(stored, effective)
    assert list(diff.changed) == ["same"] and diff.gained == ["new"] and diff.unchanged == 2
