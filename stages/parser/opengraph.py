"""A product from OpenGraph tags: og:title, og:image, og:url and the product:* / og:price:* tags.

Every page has an og:title, so the tags only describe a product when the page
says so (og:type "product") or carries a price.
"""

from __future__ import annotations

from .availability import normalise_availability
from .links import LinkResolver
from .prices import NO_PRICE, parse_structured_price
from .product import ExtractedProduct, bounded_description
from .schemaorg import clean_text

_PRODUCT_TYPES = frozenset({"product", "product.item", "og:product"})


def opengraph_products(tags: dict[str, str], links: LinkResolver) -> list[ExtractedProduct]:
    """The page's product from its og:/product: meta tags (lower-case keys, first value of each), if it is one."""
    amount = tags.get("product:price:amount") or tags.get("og:price:amount")
    if tags.get("og:type", "").strip().lower() not in _PRODUCT_TYPES and amount is None:
        return []
    currency = tags.get("product:price:currency") or tags.get("og:price:currency")
    image = tags.get("og:image") or tags.get("og:image:url") or tags.get("og:image:secure_url")
    return [
        ExtractedProduct(
            title=clean_text(tags.get("og:title")),
            price=parse_structured_price(amount, currency) if amount is not None else NO_PRICE,
            url=links.resolve(tags.get("og:url")),
            image=links.resolve(image),
            sku=clean_text(tags.get("product:retailer_item_id")),
            availability=normalise_availability(tags.get("product:availability") or tags.get("og:availability")),
            method="opengraph",
            brand=clean_text(tags.get("product:brand") or tags.get("og:brand")),
            gtin=clean_text(tags.get("product:ean") or tags.get("product:gtin") or tags.get("product:upc")),
            mpn=clean_text(tags.get("product:mfr_part_no")),
            description=bounded_description(clean_text(tags.get("og:description"))),
        )
    ]
