"""Products from one JSON-LD block (``<script type="application/ld+json">``).

Product nodes are found anywhere in the block: at the top level, in a
top-level array, in ``@graph``, as ItemList → ListItem.item, as
WebPage.mainEntity; ``@type`` may be a string or a list. Offers may be an
Offer, a list of them or an AggregateOffer (its lowPrice, or failing that its
own first priced offer), and ``{"@id": ...}`` references to nodes elsewhere in
the block are followed. Blocks that are not JSON even after the usual repairs
raise ValueError, which the caller counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from .availability import normalise_availability
from .links import LinkResolver
from .prices import NO_PRICE, Price, parse_structured_price
from .product import ExtractedProduct
from .schemaorg import PRODUCT_TYPES, clean_text, type_names

# Wrappers that sites put around JSON-LD for old browsers, and that JSON does not allow.
_WRAPPERS = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)\s*$")
_TRAILING_COMMA = re.compile(r",\s*([\]}])")

References = dict[str, dict[str, Any]]


def json_ld_products(text: str, links: LinkResolver) -> list[ExtractedProduct]:
    """Products of one JSON-LD block; raises ValueError if the block is not JSON even after repairs."""
    if not text.strip():
        return []
    products: list[dict[str, Any]] = []
    references: References = {}
    for node in _objects_in(_load(text)):
        node_id = node.get("@id")
        if isinstance(node_id, str) and len(node) > 1:
            references.setdefault(node_id, node)
        if type_names(node.get("@type")) & PRODUCT_TYPES:
            products.append(node)
    return [_product(node, references, links) for node in products]


def _load(text: str) -> Any:
    """Parse JSON, repairing HTML comment / CDATA wrappers, raw control characters and trailing commas."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        repaired = _TRAILING_COMMA.sub(r"\1", _WRAPPERS.sub("", text))
    try:
        return json.loads(repaired, strict=False)
    except RecursionError as error:
        raise ValueError("JSON-LD nested too deeply") from error


def _objects_in(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the block, depth first; iterative, as blocks can nest deeper than Python recurses.

    A Product's own children are not searched: its offers are read with it,
    and the products it merely mentions (isRelatedTo, isSimilarTo) are
    recommendations, not what the page is about.
    """
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            yield value
            if not type_names(value.get("@type")) & PRODUCT_TYPES:
                stack.extend(reversed([child for child in value.values() if isinstance(child, (dict, list))]))


def _product(node: dict[str, Any], references: References, links: LinkResolver) -> ExtractedProduct:
    offer = _offer(node.get("offers"), references)
    return ExtractedProduct(
        title=clean_text(node.get("name")),
        price=_price(offer),
        url=links.resolve(clean_text(node.get("url")) or clean_text(offer.get("url"))),
        image=links.resolve(_image(node.get("image"), references)),
        sku=clean_text(node.get("sku")) or clean_text(node.get("productID")),
        availability=normalise_availability(clean_text(offer.get("availability") or node.get("availability"))),
        method="json-ld",
    )


def _offer(value: Any, references: References) -> dict[str, Any]:
    """The offer to take the price from: the first with a price, looking one level into an
    AggregateOffer's own offers; {} if there is none."""
    offers = _dereferenced(value, references)
    for offer in offers:
        if _has_price(offer):
            return offer
        for inner in _dereferenced(offer.get("offers"), references):
            if _has_price(inner):
                return inner
    return offers[0] if offers else {}


def _dereferenced(value: Any, references: References) -> list[dict[str, Any]]:
    """The JSON objects in a value that may be one object, a list of them, or @id references to them."""
    candidates = value if isinstance(value, list) else [value]
    return [item for item in (_dereference(c, references) for c in candidates) if isinstance(item, dict)]


def _dereference(value: Any, references: References) -> Any:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("@id"), str):
        return references.get(value["@id"], value)
    return value


def _has_price(offer: dict[str, Any]) -> bool:
    return "price" in offer or "lowPrice" in offer or "priceSpecification" in offer


def _price(offer: dict[str, Any]) -> Price:
    """Offer.price, else lowPrice, else the (first) priceSpecification's price."""
    value = offer.get("price", offer.get("lowPrice"))
    currency = offer.get("priceCurrency")
    specification = offer.get("priceSpecification")
    if isinstance(specification, list):
        specification = specification[0] if specification else None
    if isinstance(specification, dict):
        if value is None:
            value = specification.get("price")
        currency = currency or specification.get("priceCurrency")
    if value is None:
        return NO_PRICE
    return parse_structured_price(value, currency)


def _image(value: Any, references: References) -> str | None:
    """An image URL from a string, a list, an ImageObject or a reference to one."""
    if isinstance(value, list):
        value = value[0] if value else None
    value = _dereference(value, references)
    if isinstance(value, dict):
        return clean_text(value.get("url")) or clean_text(value.get("contentUrl"))
    return clean_text(value)
