"""A page's products without site rules: structured data, merged with what the visible page shows.

A page whose JSON-LD or microdata lists several products is a listing: its
products merge by URL and SKU (``product.merge_products``), and OpenGraph,
which describes the page and not one of them, only fills a product it
matches. Any other page is a product page or no product page, and gives at
most ONE record, whatever its markup repeats: JSON-LD, microdata, OpenGraph
and the visible page (``visible.py``) are merged in that order of trust,
except for the price:

- markup without a price takes the visible one;
- the page shows the markup price as a struck / "was" price beside another:
  the sale price shown wins, the markup price becomes the regular price
  (sale beats regular);
- the page does not show the markup price at all, but shows another near the
  title, marked as a price (score 3 or more): the visible price wins (markup
  that lags behind the page);
- otherwise the markup price stays.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from selectolax.lexbor import LexborHTMLParser

from .links import LinkResolver
from .product import ExtractedProduct, merge_products
from .structured import StructuredData
from .visible import visible_product

# The visible price's score above which it overrides a markup price the page does not show: near the
# title or buy button and marked as a price (a weaker one may be some other amount on the page).
_SURE_SCORE = 3.0


def generic_products(tree: LexborHTMLParser, links: LinkResolver, structured: StructuredData
                     ) -> list[ExtractedProduct]:
    """The products of a page without rules; products without a URL are the page's (extract.py adds it)."""
    if len(structured.json_ld) > 1 or len(structured.microdata) > 1:
        return merge_products([structured.json_ld, structured.microdata, structured.opengraph])
    merged: ExtractedProduct | None = None
    for source in (*structured.json_ld, *structured.microdata, *structured.opengraph):
        merged = source if merged is None else merged.fill_from(source)
    visible = visible_product(tree, links)
    if merged is None:
        return [visible.product] if visible.product is not None else []
    if visible.product is None:
        return [merged]
    return [_reconciled(merged, visible.product, visible.shown, visible.score)]


def _reconciled(markup: ExtractedProduct, visible: ExtractedProduct, shown: frozenset[Decimal],
                score: float) -> ExtractedProduct:
    """The markup product with gaps filled from the visible one, and the price chosen by the module's rule."""
    product = markup.fill_from(visible)._replace(sources=_filled_sources(markup, visible))
    price, seen = markup.price, visible.price
    if not price.ok or _amount(price.amount) == _amount(seen.amount):
        return product
    regular = visible.regular_price
    if regular.ok and _amount(regular.amount) == _amount(price.amount):
        rule = "visible sale price; the markup price is the struck regular price"
    elif _amount(price.amount) not in shown and score >= _SURE_SCORE:
        rule = "visible price; the markup price is not shown on the page"
    else:
        return product
    how = dict(visible.sources).get("price", "visible")
    return product._replace(
        price=seen._replace(currency=seen.currency or price.currency),
        regular_price=price if regular.ok and _amount(regular.amount) == _amount(price.amount) else regular,
        sources=(*product.sources, ("price", f"{rule}: {how}"), ("regular_price", markup.method)),
    )


def _filled_sources(markup: ExtractedProduct, visible: ExtractedProduct) -> tuple[tuple[str, str], ...]:
    """How the visible page found the fields the markup lacked (``fill_from`` took them from it)."""
    missing = {
        "price": not markup.price.ok, "currency": markup.price.currency is None,
        "regular_price": not markup.regular_price.ok,
    }
    return tuple((field, f"visible: {how}") for field, how in visible.sources
                 if missing.get(field, not getattr(markup, field, None)))


def _amount(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None
