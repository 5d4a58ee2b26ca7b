"""One product record, checked and normalised once for every backend.

Records reach the sink already validated against ``schemas/``, but the SQL
backends build their ordering and change rules on a few facts: timestamps are
comparable instants, prices are exact decimals, the not-null columns are
present. Those facts are re-checked here, so a record that breaks them becomes
a ``BadMessage`` naming the product and the field instead of a failed
transaction (or a row that can never be ordered correctly again). The sink can
call ``product_from_record`` per message to route such records to the DLQ
before batching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from stages.core.errors import BadMessage

# Column order shared by both SQL backends' INSERT statements.
COLUMNS = (
    "id",
    "site",
    "url",
    "title",
    "price",
    "currency",
    "price_raw",
    "price_ok",
    "availability",
    "image",
    "sku",
    "page_url",
    "fetched_at",
    "parsed_at",
    "parser_version",
    "method",
)
_REQUIRED_TEXT = ("id", "site", "url", "title", "page_url", "parser_version", "method")
_OPTIONAL_TEXT = ("currency", "price_raw", "availability", "image", "sku")

Version = tuple[datetime, datetime]
Observation = tuple[Decimal | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Product:
    """A product row in canonical Python types (exact ``Decimal``, aware UTC ``datetime``)."""

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

    @property
    def version(self) -> Version:
        """Which of two records for one id is newer: fetch time first, then parse time (replays)."""
        return (self.fetched_at, self.parsed_at)

    @property
    def observation(self) -> Observation:
        """The values whose change earns a ``price_history`` row."""
        return (self.price, self.currency, self.availability)


def product_from_record(record: Mapping[str, Any]) -> Product:
    """Check and convert one product record; raise ``BadMessage`` naming the id and field."""
    product_id = record.get("id")
    if not isinstance(product_id, str) or not product_id:
        raise BadMessage(f"product record without a string id: {product_id!r}")
    values: dict[str, Any] = {}
    for name in _REQUIRED_TEXT:
        values[name] = _text(record, name, product_id, required=True)
    for name in _OPTIONAL_TEXT:
        values[name] = _text(record, name, product_id, required=False)
    price_ok = record.get("price_ok")
    if not isinstance(price_ok, bool):
        raise _bad(product_id, "price_ok", price_ok, "a boolean")
    values["price_ok"] = price_ok
    values["price"] = _price(record.get("price"), product_id)
    values["fetched_at"] = _instant(record.get("fetched_at"), "fetched_at", product_id)
    values["parsed_at"] = _instant(record.get("parsed_at"), "parsed_at", product_id)
    return Product(**values)


def _text(record: Mapping[str, Any], name: str, product_id: str, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _bad(product_id, name, value, "a string" if required else "a string or null")
    return value


def _price(value: Any, product_id: str) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(product_id, "price", value, "a decimal string or null")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise _bad(product_id, "price", value, "a decimal string or null") from None
    if not price.is_finite():
        raise _bad(product_id, "price", value, "a finite decimal")
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
        return instant.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _bad(product_id, name, value, expected) from None


def _bad(product_id: str, name: str, value: Any, expected: str) -> BadMessage:
    return BadMessage(
        f"product {product_id!r}: field {name!r} is {value!r}, expected {expected}",
        error_class="bad_product",
    )
