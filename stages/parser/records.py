"""The ``Product`` (``stages/core/product.py``) of one extracted product: what the parser stage publishes.

One function, used by the stage, by ``crawlpipe parse`` and by
``ops/bench/extract``, so the checker and the benchmark see exactly the
records the stage would produce.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from stages.core.product import Product

from .extract import ExtractedProduct
from .ids import canonical_url, product_id


def product_record(product: ExtractedProduct, *, site: str, page_url: str, fetched_at: datetime,
                   parsed_at: datetime, parser_version: str) -> Product:
    """The published record for `product`, found on `page_url`."""
    url = canonical_url(product.url) if product.url else canonical_url(page_url)
    return Product(
        id=product_id(site, url, product.sku),
        site=site,
        url=url,
        title=product.title or "",
        price=_decimal(product.price.amount),
        currency=product.price.currency,
        price_raw=product.price.raw or None,
        price_ok=product.price.ok,
        availability=product.availability,
        image=product.image,
        sku=product.sku,
        page_url=page_url,
        fetched_at=fetched_at,
        parsed_at=parsed_at,
        parser_version=parser_version,
        method=product.method,
        regular_price=_decimal(product.regular_price.amount),
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        description=product.description,
        images=product.images or ((product.image,) if product.image else ()),
    )


def _decimal(amount: str | None) -> Decimal | None:
    return None if amount is None else Decimal(amount)
