"""The ``crawl.products`` record of one extracted product: what the parser stage publishes.

One function, used by the stage, by ``crawlpipe parse`` and by
``ops/bench/extract``, so the checker and the benchmark see exactly the
records the stage would produce.
"""

from __future__ import annotations

from typing import Any

from .extract import ExtractedProduct
from .ids import canonical_url, product_id


def product_document(product: ExtractedProduct, *, site: str, page_url: str, fetched_at: str, parsed_at: str,
                     parser_version: str) -> dict[str, Any]:
    """The record (schemas/product.schema.json) for `product`, found on `page_url`."""
    url = canonical_url(product.url) if product.url else canonical_url(page_url)
    return {
        "id": product_id(site, url, product.sku),
        "site": site,
        "url": url,
        "title": product.title or "",
        "price": product.price.amount,
        "currency": product.price.currency,
        "price_raw": product.price.raw or None,
        "price_ok": product.price.ok,
        "availability": product.availability,
        "image": product.image,
        "sku": product.sku,
        "page_url": page_url,
        "fetched_at": fetched_at,
        "parsed_at": parsed_at,
        "parser_version": parser_version,
        "method": product.method,
        "regular_price": product.regular_price.amount,
        "brand": product.brand,
        "gtin": product.gtin,
        "mpn": product.mpn,
        "description": product.description,
        "images": list(product.images) or ([product.image] if product.image else []),
    }
