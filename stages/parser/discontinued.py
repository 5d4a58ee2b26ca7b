"""Discontinued records: a recrawled product found gone (schemas/discontinued.schema.json, docs/consuming.md).

A recrawl URL message names the product it expects (``product``). The parser
says the product is gone when the page answered 404 or 410 (the fetcher writes
those as pages with an empty body for a recrawl) or when a page that answered
200 no longer shows a product with that id. The record goes to the products
topic under the product's id, told apart from product records by
``"discontinued": true``; the sink stores its ``fetched_at`` as the product's
``discontinued_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stages.core.messages import encode_json

RECRAWL = "recrawl"
_REASONS = {404: "http_404", 410: "http_410"}
NOT_ON_PAGE = "not_on_page"


def gone_reason(url_message: dict[str, Any], status: int) -> str | None:
    """``http_404`` / ``http_410`` for a recrawl that found its page gone; None otherwise."""
    return _REASONS.get(status) if _expects_product(url_message) else None


def not_on_page(url_message: dict[str, Any], shown_ids: set[str]) -> bool:
    """Whether a recrawled page no longer shows the product the recrawl expected."""
    return _expects_product(url_message) and url_message["product"] not in shown_ids


def _expects_product(url_message: dict[str, Any]) -> bool:
    return url_message.get("purpose") == RECRAWL and "product" in url_message


def discontinued_record(product_id: str, *, site: str, url: str, reason: str, fetched_at: datetime,
                        parsed_at: datetime, parser_version: str) -> bytes:
    """The record's JSON, checked against its schema (times as in product records)."""
    return encode_json({
        "id": product_id,
        "site": site,
        "url": url,
        "discontinued": True,
        "reason": reason,
        "fetched_at": _instant(fetched_at),
        "parsed_at": _instant(parsed_at),
        "parser_version": parser_version,
    }, "discontinued")


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
