"""Catalog: deterministic, page-independent, and prices in every promised format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.demoshop.catalog import (
    IN_STOCK,
    MAX_PAGES,
    MAX_PRODUCTS_PER_PAGE,
    MIN_PRODUCTS_PER_PAGE,
    OUT_OF_STOCK,
    Catalog,
)

REPO = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8080"

# Each displayed format, with a reference parser that recovers the exact price.
FORMATS = {
    "USD": re.compile(r"\$(?P<int>\d{1,3}(?:,\d{3})*)\.(?P<frac>\d{2})"),
    "USD from": re.compile(r"from \$(?P<int>\d{1,3}(?:,\d{3})*)\.(?P<frac>\d{2})"),
    "EUR €": re.compile(r"(?P<int>\d{1,3}(?:\.\d{3})*),(?P<frac>\d{2}) €"),
    "EUR code": re.compile(r"(?P<int>\d{1,3}(?:\.\d{3})*),(?P<frac>\d{2}) EUR"),
    "GBP": re.compile(r"£(?P<int>\d{1,3}(?:,\d{3})*)\.(?P<frac>\d{2})"),
    "JPY": re.compile(r"¥(?P<int>\d{1,3}(?:,\d{3})*)"),
    "CHF": re.compile(r"CHF (?P<int>\d{1,3}(?:'\d{3})*)\.(?P<frac>\d{2})"),
}
CURRENCY_OF = {"USD": "USD", "USD from": "USD", "EUR €": "EUR", "EUR code": "EUR",
               "GBP": "GBP", "JPY": "JPY", "CHF": "CHF"}


def parse_display(text: str) -> tuple[str, str, Decimal]:
    """(format name, currency, price) of a displayed price; fails the test on an unknown format."""
    matches = [(name, m) for name, rx in FORMATS.items() if (m := rx.fullmatch(text))]
    assert len(matches) == 1, f"{text!r} matches {len(matches)} formats"
    name, m = matches[0]
    digits = re.sub(r"\D", "", m["int"])
    frac = m.groupdict().get("frac")
    return name, CURRENCY_OF[name], Decimal(f"{digits}.{frac}" if frac else digits)


def test_same_seed_gives_the_same_products_and_other_seeds_differ() -> None:
    assert Catalog(30).expected_products(BASE) == Catalog(30, seed=7).expected_products(BASE)
    assert Catalog(30, seed=8).expected_products(BASE) != Catalog(30).expected_products(BASE)


def test_a_page_is_the_same_alone_in_a_fresh_process_with_another_hash_seed() -> None:
    """Page n must not depend on pages 1..n-1, on the shop's size, or on PYTHONHASHSEED."""
    code = (
        "import json; from stages.demoshop.catalog import Catalog;"
        "print(json.dumps([[p.id, p.sku, p.title, str(p.price), p.display_price, p.availability]"
        " for p in Catalog(20000).page_products(12345)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout
    here_after_its_neighbours = [Catalog(12345).page_products(n) for n in range(12340, 12346)][-1]
    assert json.loads(out) == [[p.id, p.sku, p.title, str(p.price), p.display_price, p.availability]
                               for p in here_after_its_neighbours]


def test_pages_hold_24_to_48_products_with_unique_ids_and_skus() -> None:
    catalog = Catalog(200)
    counts = [len(catalog.page_products(n)) for n in range(1, 201)]
    assert min(counts) >= MIN_PRODUCTS_PER_PAGE and max(counts) <= MAX_PRODUCTS_PER_PAGE
    assert len(set(counts)) > 10, "page sizes should vary"
    expected = catalog.expected_products(BASE)
    assert len(expected) == sum(counts)
    assert len({e["url"] for e in expected}) == len(expected)
    assert len({e["sku"] for e in expected}) == len(expected)


def test_expected_products_are_absolute_and_normalised() -> None:
    catalog = Catalog(3)
    first = catalog.page_products(1)[0]
    record = catalog.expected_products(BASE + "/")[0]
    assert record == {
        "url": f"{BASE}/product/{first.id}.html",
        "title": first.title,
        "price": str(first.price),
        "currency": first.currency,
        "sku": first.sku,
        "image": f"{BASE}/img/{first.id}.jpg",
        "availability": first.availability,
        "page": f"{BASE}/list/1.html",
    }
    for e in catalog.expected_products(BASE):
        quantum = Decimal("1") if e["currency"] == "JPY" else Decimal("0.01")
        assert e["price"] == str(Decimal(e["price"]).quantize(quantum)), e["price"]
        assert e["availability"] in (IN_STOCK, OUT_OF_STOCK)
        assert e["title"] == e["title"].strip() and "  " not in e["title"]


def test_listing_urls_cover_every_page_in_order() -> None:
    assert Catalog(3).listing_urls(BASE + "/") == [f"{BASE}/list/{n}.html" for n in (1, 2, 3)]


def test_displayed_prices_cover_every_format_and_round_trip() -> None:
    seen: dict[str, int] = {}
    with_thousands: set[str] = set()
    for p in (p for n in range(1, 21) for p in Catalog(20).page_products(n)):
        name, currency, price = parse_display(p.display_price)
        assert (currency, price) == (p.currency, p.price), p.display_price
        seen[name] = seen.get(name, 0) + 1
        if price >= 1000:
            with_thousands.add(name)
    assert set(seen) == set(FORMATS)
    assert with_thousands >= set(FORMATS) - {"USD from"}, "every main format shows a thousands separator"
    assert seen["USD from"] < seen["USD"], "'from' prices are occasional"


def test_prices_are_believable() -> None:
    prices = [(p.currency, p.price) for n in range(1, 51) for p in Catalog(50).page_products(n)]
    assert all(Decimal("1") <= price <= Decimal("3000") for currency, price in prices if currency != "JPY")
    assert all(Decimal("100") <= price <= Decimal("400000") for currency, price in prices if currency == "JPY")
    assert any(price >= 1000 for currency, price in prices if currency != "JPY")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_PAGES))
def test_any_product_id_resolves_to_its_page_entry(n: int) -> None:
    catalog = Catalog(MAX_PAGES)
    for i, product in enumerate(catalog.page_products(n)):
        assert product.id == f"p{n:06d}{i:02d}" and product.page == n
        assert catalog.product(product.id) is product
        parse_display(product.display_price)


@pytest.mark.parametrize("product_id", ["p00000199", "p00000400", "p00000000", "x00000100", "p0000010", "p0000a100"])
def test_unknown_product_ids_raise_key_error(product_id: str) -> None:
    with pytest.raises(KeyError):
        Catalog(3).product(product_id)


def test_out_of_range_pages_are_refused() -> None:
    with pytest.raises(ValueError, match="pages"):
        Catalog(0)
    with pytest.raises(IndexError):
        Catalog(3).page_products(4)
    with pytest.raises(IndexError):
        Catalog(3).page_products(0)
