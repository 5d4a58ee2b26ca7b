"""The product as extracted from one page, and how several descriptions of one product merge.

One page often describes a product more than once: the site's rules find the
card, JSON-LD repeats it, microdata a third time. Sources are ranked (rules,
then JSON-LD, microdata, OpenGraph) and merged: a product that matches an
earlier one by canonical URL or SKU only fills the fields the earlier one
lacks; one that matches nothing is a product of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .ids import canonical_url
from .prices import NO_PRICE, Price

# Descriptions are for recognising a product, not for republishing its page.
DESCRIPTION_MAX_CHARS = 1000


def bounded_description(text: str | None) -> str | None:
    """The description cut to ``DESCRIPTION_MAX_CHARS`` at a word boundary."""
    if text is None or len(text) <= DESCRIPTION_MAX_CHARS:
        return text
    return text[:DESCRIPTION_MAX_CHARS].rsplit(" ", 1)[0] + "…"


class ExtractedProduct(NamedTuple):
    """One product found on a page; URLs are absolute, availability is "InStock", "OutOfStock" or None.

    `regular_price` is the struck-through / list price beside a sale price;
    `images` all the product's image URLs (`image` is the first), and
    `description` at most ``DESCRIPTION_MAX_CHARS`` characters;
    `sources` says, for fields not found by `method` itself, how they were
    found (("price", "visible: span.price-item, near the title"), ...).
    """

    title: str | None
    price: Price
    url: str | None
    image: str | None
    sku: str | None
    availability: str | None
    method: str
    regular_price: Price = NO_PRICE
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    description: str | None = None
    images: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()

    def fill_from(self, other: ExtractedProduct) -> ExtractedProduct:
        """This product with its missing fields taken from `other`; present fields never change."""
        price = self.price
        if not price.ok and other.price.ok:
            price = other.price
        elif price.ok and price.currency is None and other.price.currency and other.price.amount == price.amount:
            # The same amount, and the other source knows the currency (rules without a currency setting).
            price = price._replace(currency=other.price.currency)
        return self._replace(
            title=self.title or other.title,
            price=price,
            url=self.url or other.url,
            image=self.image or other.image,
            sku=self.sku or other.sku,
            availability=self.availability or other.availability,
            regular_price=self.regular_price if self.regular_price.ok else other.regular_price,
            brand=self.brand or other.brand,
            gtin=self.gtin or other.gtin,
            mpn=self.mpn or other.mpn,
            description=self.description or other.description,
            images=self.images or other.images,
        )


def merge_products(ranked: Iterable[list[ExtractedProduct]]) -> list[ExtractedProduct]:
    """Merge products from sources in rank order; see the module docstring.

    Products of the same source are not matched against each other (a listing
    may show one product twice; the sink's upsert by id collapses those), so a
    page with a single source needs no matching, and no URL canonicalisation.
    """
    sources = [source for source in ranked if source]
    if len(sources) == 1:
        return list(sources[0])
    merged: list[ExtractedProduct] = []
    index: dict[str, int] = {}
    for source in sources:
        touched: list[int] = []
        for product in source:
            position = next((index[key] for key in _keys(product) if key in index), None)
            if position is None:
                touched.append(len(merged))
                merged.append(product)
            else:
                merged[position] = merged[position].fill_from(product)
                touched.append(position)
        for position in touched:
            for key in _keys(merged[position]):
                index.setdefault(key, position)
    return merged


def _keys(product: ExtractedProduct) -> list[str]:
    """The identities a product can be matched by; prefixed so a SKU never equals a URL."""
    keys = []
    if product.url:
        keys.append("u " + canonical_url(product.url))
    if product.sku:
        keys.append("s " + product.sku)
    return keys
