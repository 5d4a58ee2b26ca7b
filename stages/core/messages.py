"""Encoding and decoding of the message contracts in DESIGN.md (schemas in ``schemas/``).

Kept in one place because three stages and the CLI write URL messages, and
the fetcher writes what the parser reads.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from yarl import URL

from stages.core import limits
from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, ConfigError, SchemaError
from stages.core.schemas import validate
from stages.core.urls import normalize_url

log = logging.getLogger("crawlpipe.urls")

# Headers whose value is JSON; all others are plain UTF-8 text.
_JSON_HEADERS = frozenset({"timings", "url_message"})
_INT_HEADERS = frozenset({"status"})


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_since(text: str) -> datetime:
    """A user's ``--since``: an ISO 8601 instant; one without a UTC offset is taken as UTC."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--since {text!r}: not an ISO 8601 timestamp (e.g. 2026-11-27T08:00:00Z)") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def host_key(url: str) -> bytes:
    """The partition key of a URL message: its host, so politeness can be enforced by one fetcher."""
    return (URL(url).host or "").encode()


def encode_url(message: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of a validated URL message, its URL in the contract's normal form (``core/urls.py``)."""
    message = _checked("url", with_normal_url(message))
    return host_key(message["url"]), orjson.dumps(message)


def decode_url(envelope: Envelope) -> dict[str, Any]:
    """The URL message in ``envelope``, its URL normalised; a URL outside the contract is ``bad_url``."""
    try:
        message = orjson.loads(envelope.value)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}", error_class="bad_json") from exc
    return _checked("url", with_normal_url(message))


def with_normal_url(message: Any) -> Any:
    """``message`` with its URL normalised, before the schema sees it, so every bad URL is ``bad_url``."""
    if isinstance(message, dict) and isinstance(message.get("url"), str):
        return {**message, "url": normalize_url(message["url"], on_userinfo=_warn_userinfo)}
    return message


def _warn_userinfo(url: str) -> None:
    log.warning("credentials stripped from a URL, never stored nor sent: %s", url)


def encode_json(document: dict[str, Any], schema: str) -> bytes:
    _checked(schema, document)
    return orjson.dumps(document)


def decode_json(envelope: Envelope, schema: str) -> dict[str, Any]:
    return _checked(schema, _loads(envelope), envelope.value)


def decode_products_record(envelope: Envelope) -> dict[str, Any]:
    """A record of the products topic: a product, or (``"discontinued": true``) a discontinued product."""
    document = _loads(envelope)
    discontinued = isinstance(document, dict) and document.get("discontinued") is True
    return _checked("discontinued" if discontinued else "product", document, envelope.value)


def _loads(envelope: Envelope) -> Any:
    try:
        return orjson.loads(envelope.value)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}", error_class="bad_json") from exc


def encode_page_headers(meta: dict[str, Any]) -> list[tuple[str, bytes]]:
    _checked("page-headers", meta)
    return [
        (name, orjson.dumps(value) if name in _JSON_HEADERS else str(value).encode())
        for name, value in meta.items()
    ]


def decode_page_headers(envelope: Envelope) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        for name, raw in envelope.headers:
            if name in _JSON_HEADERS:
                meta[name] = orjson.loads(raw)
            elif name in _INT_HEADERS:
                meta[name] = int(raw)
            else:
                meta[name] = raw.decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"page-headers: header {name!r} unreadable: {exc}") from exc
    return _checked("page-headers", meta)


def _checked(schema: str, document: Any, json_text: bytes | None = None) -> dict[str, Any]:
    """The stage boundary's check: the schema, then the sanity limits (``limits.py``)."""
    return limits.check(schema, validate(schema, document), json_text=json_text)
