"""Products from one JSON-LD block (``<script type="application/ld+json">``).

Product nodes are found anywhere in the block: at the top level, in a
top-level array, in ``@graph``, as ItemList → ListItem.item, as
WebPage.mainEntity; ``@type`` may be a string or a list, in any case, and so
may every key ("lowprice", "PriceCurrency"). Offers may be an Offer, a list
of them, an Offer nested in an Offer, or an AggregateOffer (its lowPrice, or
failing that its own first priced offer), with the price in a
priceSpecification (a list of them: the list price is the regular price, the
other the current one); ``{"@id": ...}`` references to nodes elsewhere in the
block are followed. A ProductGroup, or several Product nodes, whose variants
have no URL of their own are one product (``variants.py``). Blocks that are
not JSON even after the usual repairs raise ValueError, which the caller
counts.
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
from .product import ExtractedProduct, bounded_description
from .schemaorg import (
    GROUP_TYPES,
    GTIN_PROPERTIES,
    PRODUCT_TYPES,
    clean_text,
    type_names,
)
from .variants import Variant, one_per_product

# Wrappers that sites put around JSON-LD for old browsers, and that JSON does not allow.
_WRAPPERS = re.compile(
    r"^\s*(?:<!--|/\*\s*<!\[CDATA\[\s*\*/|//\s*<!\[CDATA\[|<!\[CDATA\[)"
    r"|(?:-->|/\*\s*\]\]>\s*\*/|//\s*\]\]>|\]\]>)\s*$"
)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")
# priceSpecification.priceType values that name the regular, not the current, price.
_REGULAR_PRICE_TYPES = frozenset({"listprice", "strikethroughprice", "msrp", "srp", "regularprice"})

References = dict[str, dict[str, Any]]
Node = dict[str, Any]


def json_ld_products(text: str, links: LinkResolver) -> list[ExtractedProduct]:
    """Products of one JSON-LD block; raises ValueError if the block is not JSON even after repairs."""
    if not text.strip():
        return []
    products: list[Node] = []
    references: References = {}
    for node in _objects_in(_load(text)):
        node_id = node.get("@id")
        if isinstance(node_id, str) and len(node) > 1:
            references.setdefault(node_id, node)
        if type_names(node.get("@type")) & PRODUCT_TYPES:
            products.append(node)
    return one_per_product([_variant(node, references, links) for node in products])


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


def _lowered(node: dict[str, Any]) -> Node:
    """The object with lower-case keys: sites write "lowprice", "PriceCurrency", "Offers"."""
    return {key.lower() if isinstance(key, str) else key: value for key, value in node.items()}


def _objects_in(data: Any) -> Iterator[Node]:
    """Every JSON object in the block (keys lower-cased), depth first; iterative, as blocks can nest deeper
    than Python recurses.

    A Product's own children are not searched: its offers are read with it,
    and the products it merely mentions (isRelatedTo, isSimilarTo) are
    recommendations, not what the page is about. A ProductGroup's variants
    (hasVariant) are searched, and remember their group.
    """
    stack: list[tuple[Any, Node | None]] = [(data, None)]
    while stack:
        value, group = stack.pop()
        if isinstance(value, list):
            stack.extend((item, group) for item in reversed(value))
        elif isinstance(value, dict):
            node = _lowered(value)
            types = type_names(node.get("@type"))
            if group is not None and types & PRODUCT_TYPES:
                node["@group"] = group
            yield node
            if not types & PRODUCT_TYPES:
                inner = node if types & GROUP_TYPES else group
                stack.extend((child, inner) for child in reversed(list(node.values()))
                             if isinstance(child, (dict, list)))


def _variant(node: Node, references: References, links: LinkResolver) -> Variant:
    """A Product node, with the ProductGroup it is a variant of, if any."""
    group = node.get("@group") or {}
    return Variant(
        product=_product(node, references, links),
        group=clean_text(group.get("productgroupid")) or clean_text(node.get("inproductgroupwithid"))
        or clean_text(group.get("name")),
        group_title=clean_text(group.get("name")),
        group_url=links.resolve(clean_text(group.get("url"))),
    )


def _product(node: Node, references: References, links: LinkResolver) -> ExtractedProduct:
    offer = _offer(node.get("offers"), references)
    price, regular = _prices(offer)
    images = _images(node.get("image"), references, links)
    brand = _dereference(node.get("brand"), references)
    return ExtractedProduct(
        title=clean_text(node.get("name")),
        price=price,
        url=links.resolve(clean_text(node.get("url")) or clean_text(offer.get("url"))),
        image=images[0] if images else None,
        sku=clean_text(node.get("sku")) or clean_text(node.get("productid")),
        availability=normalise_availability(clean_text(offer.get("availability") or node.get("availability"))),
        method="json-ld",
        regular_price=regular,
        brand=clean_text(_lowered(brand).get("name") if isinstance(brand, dict) else brand),
        gtin=next((gtin for key in GTIN_PROPERTIES if (gtin := clean_text(node.get(key)))), None),
        mpn=clean_text(node.get("mpn")),
        description=bounded_description(clean_text(node.get("description"))),
        images=images,
    )


def _offer(value: Any, references: References) -> Node:
    """The offer to take the price from: the first with a price, looking into offers nested in an offer
    (an AggregateOffer's own offers, or an Offer wrapped in an Offer); {} if there is none."""
    offers = _dereferenced(value, references)
    for offer in offers:
        if _has_price(offer):
            return offer
        for inner in _dereferenced(offer.get("offers"), references):
            if _has_price(inner):
                return {**offer, **inner}
    return offers[0] if offers else {}


def _dereferenced(value: Any, references: References) -> list[Node]:
    """The JSON objects in a value that may be one object, a list of them, or @id references to them."""
    candidates = value if isinstance(value, list) else [value]
    return [_lowered(item) for item in (_dereference(c, references) for c in candidates) if isinstance(item, dict)]


def _dereference(value: Any, references: References) -> Any:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("@id"), str):
        return references.get(value["@id"], value)
    return value


def _has_price(offer: Node) -> bool:
    return "price" in offer or "lowprice" in offer or "pricespecification" in offer


def _prices(offer: Node) -> tuple[Price, Price]:
    """(current, regular) prices: Offer.price, else lowPrice, else the priceSpecification's current price."""
    value = offer.get("price", offer.get("lowprice"))
    currency = offer.get("pricecurrency")
    regular: Any = None
    specifications = offer.get("pricespecification")
    for raw in specifications if isinstance(specifications, list) else [specifications]:
        if not isinstance(raw, dict):
            continue
        specification = _lowered(raw)
        kind = type_names(specification.get("pricetype"))
        if kind & _REGULAR_PRICE_TYPES:
            regular = regular if regular is not None else specification.get("price")
        elif value is None:
            value = specification.get("price")
        currency = currency or specification.get("pricecurrency")
    price = NO_PRICE if value is None else parse_structured_price(value, currency)
    return price, NO_PRICE if regular is None else parse_structured_price(regular, currency)


def _images(value: Any, references: References, links: LinkResolver) -> tuple[str, ...]:
    """Image URLs from a string, an ImageObject, a reference to one, or a list of those; each once."""
    found: dict[str, None] = {}
    for item in value if isinstance(value, list) else [value]:
        item = _dereference(item, references)
        if isinstance(item, dict):
            item = _lowered(item)
            item = clean_text(item.get("url")) or clean_text(item.get("contenturl"))
        url = links.resolve(clean_text(item))
        if url is not None:
            found.setdefault(url)
    return tuple(found)
