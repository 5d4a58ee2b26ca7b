"""The product record of topic ``crawl.products``, defined once.

The parser builds a ``Product`` and publishes ``to_json()``; the sink turns
each record it reads back into one with ``Product.from_record`` (which checks
what the SQL backends build their ordering and change rules on: comparable
instants, exact decimals, present not-null fields) and stores ``COLUMNS``.
``tests/core/test_product_model.py`` holds this class to
``schemas/product.schema.json`` and to the tables the migrations create, so
the schema, the code and the storage cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from stages.core.errors import BadMessage

Version = tuple[datetime, datetime]
Observation = tuple[Decimal | None, str | None, str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """One product as found on one page, in exact types (``Decimal`` prices, aware UTC instants)."""

    id: str
    site: str
    url: str
    title: str
    price: Decimal | None
    currency: str | None
    price_raw: str | None
    price_ok: bool
    availability: str | None
    image: str | None
    sku: str | None
    page_url: str
    fetched_at: datetime
    parsed_at: datetime
    parser_version: str
    method: str
    # Records from parsers before these fields lack them.
    regular_price: Decimal | None = None
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    description: str | None = None
    images: tuple[str, ...] = ()

    @property
    def version(self) -> Version:
        """Which of two records for one id is newer: fetch time first, then parse time (replays)."""
        return (self.fetched_at, self.parsed_at)

    @property
    def observation(self) -> Observation:
        """The values whose change earns a ``price_history`` row."""
        return (self.price, self.currency, self.availability)

    def to_json(self) -> bytes:
        """The record as published: decimals as strings, instants in fixed-width RFC 3339 UTC (``…123456Z``),
        so that consumers may compare them as text."""
        return orjson.dumps(self, default=_published, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def column(self, name: str) -> Any:
        """A field as storage keeps it: the image list as JSON text (None when empty), the rest as is."""
        value = getattr(self, name)
        if name == "images":
            return orjson.dumps(value).decode() if value else None
        return value

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Product:
        """Check and convert one published record; raise ``BadMessage`` naming the id and field."""
        product_id = record.get("id")
        if not isinstance(product_id, str) or not product_id:
            raise BadMessage(f"product record without a string id: {product_id!r}")
        values: dict[str, Any] = {}
        for name, kind in _KINDS.items():
            values[name] = _CONVERT[kind](record.get(name), name, product_id)
        return cls(**values)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Product))


def _published(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    raise TypeError(f"cannot publish {type(value).__name__} in a product record")


def _text(value: Any, name: str, product_id: str) -> str:
    if not isinstance(value, str):
        raise _bad(product_id, name, value, "a string")
    return value


def _optional_text(value: Any, name: str, product_id: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _bad(product_id, name, value, "a string or null")
    return value


def _flag(value: Any, name: str, product_id: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(product_id, name, value, "a boolean")
    return value


def _price(value: Any, name: str, product_id: str) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(product_id, name, value, "a decimal string or null")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise _bad(product_id, name, value, "a decimal string or null") from None
    if not price.is_finite():
        raise _bad(product_id, name, value, "a finite decimal")
    return price


def _instant(value: Any, name: str, product_id: str) -> datetime:
    expected = "an RFC 3339 timestamp with a UTC offset"
    if not isinstance(value, str):
        raise _bad(product_id, name, value, expected)
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError("no UTC offset")
        # Year 9999 with a negative offset is past datetime's range in UTC.
        return instant.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(product_id, name, value, expected) from None


def _urls(value: Any, name: str, product_id: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise _bad(product_id, name, value, "a list of URL strings")
    return tuple(value)


_CONVERT = {"str": _text, "str | None": _optional_text, "bool": _flag, "Decimal | None": _price,
            "datetime": _instant, "tuple[str, ...]": _urls}
# Each field's checker, chosen by its annotation: a field of a new type needs a checker here first.
_KINDS = {f.name: str(f.type) for f in fields(Product)}
assert set(_KINDS.values()) <= _CONVERT.keys(), set(_KINDS.values()) - _CONVERT.keys()


def _bad(product_id: str, name: str, value: Any, expected: str) -> BadMessage:
    return BadMessage(
        f"product {product_id!r}: field {name!r} is {value!r}, expected {expected}",
        error_class="bad_product",
    )
