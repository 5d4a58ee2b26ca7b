"""Sanity limits every message is checked against at a stage's boundary, beyond its JSON Schema.

A value can match its schema and still stop a partition: a NUL in a title is
refused by PostgreSQL, a ``fetched_at`` of year 9999 overflows when converted
to UTC, a 1,000-digit price or a 1 MB title is stored silently and breaks
whoever reads it. Each message is checked here once, where it enters (and
leaves) a stage, so such a record becomes a DLQ record naming the field
instead of a crash loop. The limits are settings (``crawlpipe config`` lists
them; docs/faults.md explains each) and apply to the whole process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stages.core.errors import BadMessage
from stages.core.settings import require, setting

# C0 controls but tab, newline and carriage return, and DEL: never part of product text, and NUL is
# refused by PostgreSQL's text type.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# In a message's JSON text a control character can only be escaped (JSON forbids them raw), except DEL,
# which JSON allows raw. A message with none of these, no longer than the longest text allowed, has no text
# value out of the limits (a character takes at least a byte), and its texts need no walk.
_CONTROL_IN_JSON = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bf]|\x7f")
# Fields holding an instant, wherever they appear at a message's top level.
TIMESTAMP_FIELDS = ("fetched_at", "parsed_at")
PRICE_FIELD = "price"


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """Sanity limits on message values, checked where a message enters or leaves a stage."""

    max_text_chars: int = setting(16_384, "longest text value in a JSON message (title, URL, ...), in characters")
    max_price_digits: int = setting(12, "most digits of a price before the decimal point "
                                        "(SQLite's exact price_micros holds 12)")
    max_price_scale: int = setting(6, "most digits of a price after the decimal point")
    max_timestamp_age_days: int = setting(3650, "oldest fetched_at / parsed_at accepted, in days before now")
    max_timestamp_future_seconds: int = setting(
        86_400, "latest fetched_at / parsed_at accepted, in seconds after now (clock skew between hosts)")

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_price_digits", "max_timestamp_age_days"):
            require(getattr(self, name) >= 1, name, getattr(self, name), "must be at least 1")
        for name in ("max_price_scale", "max_timestamp_future_seconds"):
            require(getattr(self, name) >= 0, name, getattr(self, name), "must be 0 or more")


_active = LimitsConfig()


def configure(config: LimitsConfig) -> None:
    """Set the limits of this process (the CLI does, from its options and environment)."""
    global _active
    _active = config


def active() -> LimitsConfig:
    return _active


def check(schema: str, document: dict[str, Any], *, now: datetime | None = None,
          json_text: bytes | None = None) -> dict[str, Any]:
    """Return ``document`` if every value is within the limits; raise ``BadMessage`` naming the field.

    ``json_text``, the JSON ``document`` was read from (or written to), spares the walk over every text
    value when it shows that none can be out of the limits: the sink checks every product record.
    """
    limits = _active
    if json_text is None or len(json_text) > limits.max_text_chars or _CONTROL_IN_JSON.search(json_text):
        _check_texts(schema, document, "", limits.max_text_chars)
    if isinstance(document, Mapping):
        moment = now or datetime.now(UTC)
        for name in TIMESTAMP_FIELDS:
            value = document.get(name)
            if isinstance(value, str):
                _check_instant(schema, name, value, moment, limits)
        price = document.get(PRICE_FIELD)
        if isinstance(price, str):
            _check_price(schema, price, limits)
    return document


def _check_texts(schema: str, value: Any, where: str, max_chars: int) -> None:
    if isinstance(value, str):
        if len(value) > max_chars:
            raise _out_of_limits(schema, where, f"{len(value)} characters, above --max-text-chars {max_chars}")
        found = _CONTROL.search(value)
        if found:
            raise _out_of_limits(schema, where, f"control character U+{ord(found.group()):04X} "
                                                f"at position {found.start()}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_texts(schema, item, f"{where}.{key}" if where else str(key), max_chars)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_texts(schema, item, f"{where}[{index}]", max_chars)


def _check_instant(schema: str, name: str, value: str, now: datetime, limits: LimitsConfig) -> None:
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError("no UTC offset")
        instant = instant.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _out_of_limits(schema, name, f"{_short(value)} is not a usable instant ({exc})") from None
    earliest = now - timedelta(days=limits.max_timestamp_age_days)
    latest = now + timedelta(seconds=limits.max_timestamp_future_seconds)
    if not earliest <= instant <= latest:
        raise _out_of_limits(schema, name, f"{value} is outside {earliest:%Y-%m-%dT%H:%M:%SZ} .. "
                                           f"{latest:%Y-%m-%dT%H:%M:%SZ} (--max-timestamp-age-days, "
                                           f"--max-timestamp-future-seconds)")


def _check_price(schema: str, value: str, limits: LimitsConfig) -> None:
    # The schema's pattern has made it digits with at most one point.
    whole, _, fraction = value.partition(".")
    digits = len(whole.lstrip("0"))
    if digits > limits.max_price_digits or len(fraction) > limits.max_price_scale:
        raise _out_of_limits(schema, PRICE_FIELD, f"{_short(value)} has {digits} digits before and {len(fraction)} "
                                                  f"after the point, above --max-price-digits "
                                                  f"{limits.max_price_digits} / --max-price-scale "
                                                  f"{limits.max_price_scale}")


def _short(value: str, keep: int = 40) -> str:
    return repr(value) if len(value) <= keep else f"{value[:keep]!r}... ({len(value)} characters)"


def _out_of_limits(schema: str, where: str, what: str) -> BadMessage:
    return BadMessage(f"{schema}: {where or 'the document'}: {what}", error_class="out_of_limits")
