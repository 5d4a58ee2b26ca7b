"""What the three structured-data readers share: schema.org type names and clean text values."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

# Lower case: sites write "product" as often as "Product". ProductGroup is not a product on purpose:
# its variants (hasVariant) are the Products with offers.
PRODUCT_TYPES = frozenset({"product", "individualproduct", "productmodel", "someproducts"})
GROUP_TYPES = frozenset({"productgroup"})
# Property names (lower case) that hold a product's GTIN, most common first.
GTIN_PROPERTIES = ("gtin13", "gtin", "gtin14", "gtin12", "gtin8", "ean")

_WHITESPACE = re.compile(r"\s+")


def type_names(value: Any) -> set[str]:
    """Lower-case type names without their vocabulary ("http://schema.org/Product", "schema:product" are "product")."""
    names = value if isinstance(value, list) else [value]
    return {name.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for name in names if isinstance(name, str)}


def clean_text(value: Any) -> str | None:
    """A clean string from a JSON or attribute value; None for nothing, booleans and empty strings.

    Numbers become text, lists give their first item, {"@value": ...} its value,
    whitespace runs collapse, and HTML entities are decoded: many sites escape
    JSON-LD strings ("Caf&eacute;") as if they were markup.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        return None
    if "&" in value:
        value = unescape(value)
    return _WHITESPACE.sub(" ", value).strip() or None
