"""Turn price text into a decimal string and an ISO 4217 currency code.

Amounts are never floats: a record says "1234.50", not 1234.5000000001.

Normalisation rule: separators are normalised (thousands marks dropped, the
decimal mark becomes "."), and the digits are kept as written, so "12,50 EUR"
gives "12.50", "£12" gives "12" and "₹1,23,456.00" gives "123456.00"; trailing
zeros are neither added nor removed. When the text holds several numbers, the
first one is the price: for ranges ("$10 - $20", "from $9.99") that is the
lower bound as written. "Free" is 0, as price-parser reads it. "1.234" (three
digits after a single mark) is read as a thousands group, 1234, which is how
price-parser settles that ambiguity in page text.

Structured data (JSON-LD, microdata, OpenGraph) uses "." as its only decimal
mark, so plain numbers from it skip the guessing that HTML text needs.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import NamedTuple

from price_parser import Price as _ParsedPrice

from .currencies import iso_currency


class Price(NamedTuple):
    """A parsed price; `ok` is True exactly when an amount was found.

    Named tuples, this and ``ExtractedProduct``: immutable like a frozen
    dataclass and ~1.5 us cheaper to build, once per product.
    """

    amount: str | None
    currency: str | None
    raw: str
    ok: bool


NO_PRICE = Price(amount=None, currency=None, raw="", ok=False)

_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")

# The shapes most listing prices take ("$1,234.56", "CHF 1'234.50", "1.234,56 €",
# "12,50 EUR"): a currency mark before or after, thousands groups, and a
# decimal part after "." or, with exactly two digits, after ",". Reading these
# here gives what price-parser would (tests/parser/test_prices.py checks that
# with generated examples) at a fraction of its ~40 us, once per product.
_MARK_BEFORE = r"\s*(?:(?P<before>[$€£¥₹]|[A-Z]{3})\s?)?"
_MARK_AFTER = r"(?:\s?(?P<after>€|[A-Z]{3}))?\s*"
_POINT_DECIMAL = re.compile(
    _MARK_BEFORE + r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:'[0-9]{3})+|[0-9]+)(?P<frac>\.[0-9]{1,2})?"
    + _MARK_AFTER
)
_COMMA_DECIMAL = re.compile(
    _MARK_BEFORE + r"(?P<int>[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),(?P<frac>[0-9]{2})" + _MARK_AFTER
)
_THOUSANDS_MARKS = str.maketrans("", "", ",.'")


def parse_price(text: str, currency_hint: str | None = None) -> Price:
    """Parse price text as shown on a page; `currency_hint` is the site's ISO code for marks that need one."""
    simple = _POINT_DECIMAL.fullmatch(text)
    fraction = simple["frac"] if simple is not None else None
    if simple is None:
        simple = _COMMA_DECIMAL.fullmatch(text)
        fraction = "." + simple["frac"] if simple is not None else None
    if simple is not None and not (simple["before"] and simple["after"]):
        amount = (simple["int"].translate(_THOUSANDS_MARKS).lstrip("0") or "0") + (fraction or "")
        mark = simple["before"] or simple["after"]
    else:
        parsed = _ParsedPrice.fromstring(text)
        amount = _plain(parsed.amount)
        mark = parsed.currency
    return Price(amount=amount, currency=iso_currency(mark, currency_hint), raw=text, ok=amount is not None)


def parse_structured_price(value: object, currency: object = None) -> Price:
    """Parse a price from structured data: a JSON number, a numeric string, or (on sloppy sites) price text.

    `currency` is the structured currency field (priceCurrency and the like):
    a code or, again on sloppy sites, a symbol. JSON numbers come in their
    shortest form (12.50 in the source is the float 12.5, so "12.5").
    """
    hint = iso_currency(currency) if isinstance(currency, str) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raw = repr(value)
        amount = _plain(Decimal(raw)) if math.isfinite(value) else None
        return Price(amount=amount, currency=hint, raw=raw, ok=amount is not None)
    if isinstance(value, str):
        raw = value.strip()
        if _PLAIN_NUMBER.fullmatch(raw):
            return Price(amount=_plain(Decimal(raw)), currency=hint, raw=raw, ok=True)
        return parse_price(raw, hint)
    return Price(amount=None, currency=hint, raw="" if value is None else str(value), ok=False)


def _plain(amount: Decimal | None) -> str | None:
    """Write a Decimal without an exponent ("1E+3" -> "1000"); non-finite and negative values are no amount."""
    if amount is None or not amount.is_finite() or amount < 0:
        return None
    return format(amount, "f")
