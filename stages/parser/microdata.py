"""Products from microdata: ``itemscope itemtype=".../Product"`` and its itemprops.

Property names are read in any case. Properties come from the product's own scope (name, sku or productID, url,
image) and from a nested ``itemprop="offers"`` scope (price or lowPrice,
priceCurrency, availability), falling back to the product's own scope for
sites that put the price there. Properties of other nested scopes (brand,
seller) never leak into the product: each itemprop belongs to its nearest
itemscope ancestor, as the Microdata spec says.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from .availability import normalise_availability
from .links import LinkResolver
from .prices import NO_PRICE, Price, parse_price, parse_structured_price
from .product import ExtractedProduct, bounded_description
from .schemaorg import GTIN_PROPERTIES, PRODUCT_TYPES, clean_text, type_names

_URL_ELEMENTS = frozenset({"a", "link", "area"})
_SRC_ELEMENTS = frozenset({"img", "audio", "video", "source", "embed", "iframe", "track"})


def is_product_scope(node: LexborNode) -> bool:
    """Whether an ``itemscope`` element's itemtype (space-separated URLs) includes a Product type."""
    return bool(type_names((node.attrs.get("itemtype") or "").split()) & PRODUCT_TYPES)


def microdata_product(scope: LexborNode, links: LinkResolver) -> ExtractedProduct:
    """The product an ``itemscope`` Product element describes."""
    properties = _properties_by_scope(scope)
    own = properties.get(scope.mem_id, {})
    offers = own.get("offers")
    offer = {**own, **properties.get(offers.mem_id, {})} if offers is not None else own
    brand = own.get("brand")
    brand_name = properties.get(brand.mem_id, {}).get("name") if brand is not None else None
    gtin = next((own[key] for key in GTIN_PROPERTIES if key in own), None)
    return ExtractedProduct(
        title=clean_text(_value(own.get("name"))),
        price=_price(offer.get("price", offer.get("lowprice")), _value(offer.get("pricecurrency"))),
        url=links.resolve(_value(own.get("url"))),
        image=links.resolve(_value(own.get("image"))),
        sku=clean_text(_value(own.get("sku", own.get("productid")))),
        availability=normalise_availability(_value(offer.get("availability"))),
        method="microdata",
        brand=clean_text(_value(brand_name if brand_name is not None else brand)),
        gtin=clean_text(_value(gtin)),
        mpn=clean_text(_value(own.get("mpn"))),
        description=bounded_description(clean_text(_value(own.get("description")))),
    )


def _properties_by_scope(scope: LexborNode) -> dict[int, dict[str, LexborNode]]:
    """itemprop elements under `scope`, grouped by the scope that owns them (its nearest itemscope ancestor)."""
    grouped: dict[int, dict[str, LexborNode]] = {}
    for node in scope.css("[itemprop]"):
        if node.mem_id == scope.mem_id:
            continue
        owner = node.parent
        while owner is not None and "itemscope" not in owner.attrs:
            owner = owner.parent
        if owner is None:
            continue
        names = grouped.setdefault(owner.mem_id, {})
        for name in (node.attrs.get("itemprop") or "").lower().split():
            names.setdefault(name, node)
    return grouped


def _value(node: LexborNode | None) -> str | None:
    """An itemprop's value as the Microdata spec defines it, plus the common ``content`` on any element."""
    if node is None:
        return None
    attrs = node.attrs
    content = attrs.get("content")
    if content is not None:
        return content.strip()
    tag = node.tag
    if tag in _URL_ELEMENTS:
        return attrs.get("href")
    if tag in _SRC_ELEMENTS:
        return attrs.get("src")
    if tag in ("data", "meter"):
        return attrs.get("value")
    if tag == "time" and attrs.get("datetime"):
        return attrs.get("datetime")
    return clean_text(node.text())


def _price(node: LexborNode | None, currency: str | None) -> Price:
    """A ``content`` value is machine-readable; visible text needs the page-text rules (e.g. "1.234,56 €")."""
    if node is None:
        return NO_PRICE
    content = node.attrs.get("content")
    if content is not None:
        return parse_structured_price(content, currency)
    text = _value(node)
    return parse_price(text, currency) if text else NO_PRICE
