"""One page in, products and links out: the function the parser stage calls per ``crawl.pages`` record.

Per page: decode the body (``decoding``), build one lexbor tree, apply the
site's rules if there are any, read the generic structured data, merge the two
(``product.merge_products``: rules win, the rest fills gaps or adds products);
without rules, structured data and the visible page give one record per
product page (``generic``); then collect the links to follow. Nothing here does I/O, and a page with
nothing on it is an empty Extraction, not an error.

Speed matters more here than anywhere else in the pipeline (the parser is its
CPU ceiling), hence one tree per page, no serialising back to HTML, and each
rule field queried once per page rather than once per item (``fields.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from .availability import normalise_availability
from .decoding import decode_body
from .fields import ItemFields
from .generic import generic_products
from .links import LinkResolver
from .prices import NO_PRICE, parse_price
from .product import ExtractedProduct, merge_products
from .rules import SiteRules
from .structured import extract_structured

__all__ = ["ExtractedProduct", "Extraction", "extract_page"]

_GENERIC_PAGINATION = 'link[rel~="next" i][href], a[rel~="next" i][href]'


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one page yielded.

    `links` are absolute http(s) URLs without fragments, in page order, each
    once; whether to follow off-site links is the caller's decision.
    `structured_errors` counts JSON-LD blocks that were not JSON, and
    `products_skipped` counts products dropped for having neither a URL nor a
    SKU on a page with several products: nothing downstream could tell them
    apart. (A page's only product takes the page's canonical URL instead.)
    """

    products: list[ExtractedProduct]
    links: list[str]
    encoding: str
    structured_errors: int
    products_skipped: int


def extract_page(body: bytes, *, url: str, header_charset: str | None, rules: SiteRules | None,
                 with_links: bool = True) -> Extraction:
    """Extract products from a raw page body fetched from `url`, and links to follow unless ``with_links`` is off."""
    decoded = decode_body(body, header_charset)
    tree = LexborHTMLParser(body if decoded.utf8_body else decoded.text)
    links = LinkResolver.for_page(tree, url)
    ruled = _rules_products(tree, rules, links) if rules is not None else []
    structured = extract_structured(tree, links)
    if ruled:
        products = merge_products([ruled, structured.json_ld, structured.microdata, structured.opengraph])
    else:
        products = generic_products(tree, links, structured)
    if len(products) == 1 and products[0].url is None:
        # A lone product without a URL of its own is the page's product (a detail page).
        identified = [_with_page_url(products[0], tree, links, url)]
    else:
        identified = [product for product in products if product.url or product.sku]
    return Extraction(
        products=identified,
        links=_links(tree, rules, links) if with_links else [],
        encoding=decoded.encoding,
        structured_errors=structured.errors,
        products_skipped=len(products) - len(identified),
    )


def _rules_products(tree: LexborHTMLParser, rules: SiteRules, links: LinkResolver) -> list[ExtractedProduct]:
    """Apply the site's field selectors to each item element."""
    if not rules.item or not (items := tree.css(rules.item)):
        return []
    fields = ItemFields(tree, rules.item, items)
    return [
        ExtractedProduct(
            title=title,
            price=parse_price(price_text, rules.currency) if price_text else NO_PRICE,
            url=links.resolve(link),
            image=links.resolve(image),
            sku=sku,
            availability=normalise_availability(availability),
            method="rules",
        )
        for title, price_text, link, image, sku, availability in zip(
            fields.read(rules.title), fields.read(rules.price), fields.read(rules.link), fields.read(rules.image),
            fields.read(rules.sku), fields.read(rules.availability), strict=True,
        )
    ]


def _with_page_url(
    product: ExtractedProduct, tree: LexborHTMLParser, links: LinkResolver, url: str
) -> ExtractedProduct:
    """The product with the page's canonical link (else the page URL itself) as its URL."""
    canonical = tree.css_first('link[rel~="canonical" i][href]')
    page = links.resolve(canonical.attrs.get("href")) if canonical is not None else None
    return product._replace(url=page or links.resolve(url))


def _links(tree: LexborHTMLParser, rules: SiteRules | None, links: LinkResolver) -> list[str]:
    """Links to follow: the rules' next_page and follow selectors, or rel=next pagination without rules."""
    if rules is None:
        queries = [(_GENERIC_PAGINATION, "href")]
    else:
        specs = (rules.next_page, *rules.follow)
        queries = [(spec.css, spec.attr or "href") for spec in specs if spec is not None and spec.css is not None]
    found: dict[str, None] = {}
    for css, attr in queries:
        for node in tree.css(css):
            link = links.resolve(node.attrs.get(attr))
            if link is not None:
                found.setdefault(link)
    return list(found)
