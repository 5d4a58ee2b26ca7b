"""Price text to a decimal string and an ISO 4217 code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from price_parser import Price as ReferencePrice

from stages.parser.currencies import ISO_CODES, iso_currency
from stages.parser.prices import Price, parse_price, parse_structured_price

PAGE_TEXT = [
    # text, hint, amount, currency
    ("$1,234.56", None, "1234.56", "USD"),
    ("1.234,56 €", None, "1234.56", "EUR"),
    ("£12", None, "12", "GBP"),
    ("12,50 EUR", None, "12.50", "EUR"),
    ("¥1,200", None, "1200", "JPY"),
    ("from $9.99", None, "9.99", "USD"),
    ("$10 - $20", None, "10", "USD"),  # a range: the lower bound
    ("CHF 1'234.50", None, "1234.50", "CHF"),
    ("1 234,56 zł", None, "1234.56", "PLN"),
    ("₹1,23,456.00", None, "123456.00", "INR"),
    ("R$ 1.234,56", None, "1234.56", "BRL"),
    ("12\u00a0345,67\u00a0₽", None, "12345.67", "RUB"),
    ("1 299 руб.", None, "1299", "RUB"),
    ("US$5", None, "5", "USD"),
    ("C$12.99", None, "12.99", "CAD"),
    ("  $ 0.99 ", None, "0.99", "USD"),
    ("12.99", "EUR", "12.99", "EUR"),  # no mark: the site's currency
    ("$5", "CAD", "5", "CAD"),  # "$" means the site's dollar
    ("$5", "EUR", "5", "USD"),  # ...but never a currency that is not a dollar
    ("¥980", "CNY", "980", "CNY"),
    ("199 kr", None, "199", None),  # kr is SEK, NOK, DKK or ISK: only the site knows
    ("199 kr", "SEK", "199", "SEK"),
    ("Rs. 1,299", "PKR", "1299", "PKR"),
]


@pytest.mark.parametrize(("text", "hint", "amount", "currency"), PAGE_TEXT)
def test_page_price_formats(text: str, hint: str | None, amount: str, currency: str | None) -> None:
    assert parse_price(text, hint) == Price(amount=amount, currency=currency, raw=text, ok=True)


def test_the_table_covers_enough_formats_and_currencies() -> None:
    assert len(PAGE_TEXT) >= 8
    assert len({currency for *_, currency in PAGE_TEXT if currency}) >= 6


@pytest.mark.parametrize("text", ["Call for price", "", "Sold out", "—"])
def test_unparseable_text_keeps_the_raw_text(text: str) -> None:
    price = parse_price(text, "USD")
    assert (price.ok, price.amount, price.raw) == (False, None, text)


@pytest.mark.parametrize(
    ("value", "currency", "amount", "iso"),
    [
        (1234.5, "USD", "1234.5", "USD"),
        ("1234.50", "EUR", "1234.50", "EUR"),
        (12, "usd", "12", "USD"),
        ("1.234", "EUR", "1.234", "EUR"),  # structured data: "." is always the decimal mark
        (1e21, "JPY", "1000000000000000000000", "JPY"),  # never an exponent
        ("$19.99", None, "19.99", "USD"),  # sloppy sites put display text in price
        ("10", "$", "10", "USD"),  # ...or a symbol in priceCurrency
    ],
)
def test_structured_prices(value: object, currency: str | None, amount: str, iso: str) -> None:
    price = parse_structured_price(value, currency)
    assert (price.amount, price.currency, price.ok) == (amount, iso, True)


@pytest.mark.parametrize("value", [None, True, float("nan"), float("inf"), -5, {"price": 1}, "n/a"])
def test_structured_values_that_are_not_prices(value: object) -> None:
    price = parse_structured_price(value, "USD")
    assert price.ok is False and price.amount is None


def test_amounts_are_plain_decimal_strings() -> None:
    for text, hint, *_ in PAGE_TEXT:
        amount = parse_price(text, hint).amount
        assert amount is not None and "e" not in amount.lower() and "," not in amount


@pytest.mark.parametrize(
    ("mark", "hint", "code"),
    [("€", None, "EUR"), ("eur", None, "EUR"), ("zł", None, "PLN"), ("$", "AUD", "AUD"),
     ("£", None, "GBP"), ("kr", "NOK", "NOK"), ("Kč", None, "CZK"), (None, "usd", "USD"),
     ("?", "GBP", "GBP"), (None, "nope", None)],
)
def test_currency_marks(mark: str | None, hint: str | None, code: str | None) -> None:
    assert iso_currency(mark, hint) == code


_marks = st.sampled_from(["", "$", "€", "£", "¥", "₹", *sorted(ISO_CODES)[::7]])
_ints = st.one_of(
    st.integers(0, 999_999).map(str),
    st.integers(1_000, 99_999_999).map(lambda n: f"{n:,}"),
    st.integers(1_000, 99_999_999).map(lambda n: f"{n:,}".replace(",", "'")),
)
_comma_decimal_ints = st.one_of(
    st.integers(0, 999_999).map(str),
    st.integers(1_000, 99_999_999).map(lambda n: f"{n:,}".replace(",", ".")),
)
_fracs = st.sampled_from(["", ".5", ".99", ".05", ".00"])
_spaces = st.sampled_from(["", " ", "\u00a0"])


@given(before=_marks, after=_marks, number=_ints, fraction=_fracs, gap=_spaces)
def test_the_shortcut_for_common_shapes_agrees_with_price_parser(
    before: str, after: str, number: str, fraction: str, gap: str
) -> None:
    """prices.py reads "$1,234.56"-shaped text itself; it must mean what price-parser would say."""
    assert_agrees_with_price_parser(
        f"{before}{gap}{number}{fraction}" if not after else f"{number}{fraction}{gap}{after}"
    )


@given(before=_marks, after=_marks, number=_comma_decimal_ints, cents=st.integers(0, 99), gap=_spaces)
def test_the_shortcut_for_comma_decimals_agrees_with_price_parser(
    before: str, after: str, number: str, cents: int, gap: str
) -> None:
    """"1.234,56 €" and "12,50 EUR" are read by prices.py too."""
    amount = f"{number},{cents:02d}"
    assert_agrees_with_price_parser(f"{before}{gap}{amount}" if not after else f"{amount}{gap}{after}")


def assert_agrees_with_price_parser(text: str) -> None:
    reference = ReferencePrice.fromstring(text)
    ours = parse_price(text)
    assert ours.amount == format(reference.amount, "f"), text
    assert ours.currency == iso_currency(reference.currency), text


def test_free_is_zero_as_price_parser_reads_it() -> None:
    assert parse_price("Free").amount == "0"
