"""One page in, products and links out: the function the parser stage calls per ``crawl.pages`` record.

Per page: decode the body (``decoding``), build one lexbor tree, apply the
site's rules if there are any, read the generic structured data, merge the two
(``product.merge_products``: rules win, the rest fills gaps or adds products)
and collect the links to follow. Nothing here does I/O, and a page with
nothing on it is an empty Extraction, not an error.

Speed matters more here than anywhere else in the pipeline (the parser is its
CPU ceiling), hence one tree per page, no serialising back to HTML, and field
selectors queried inside each item with ``css_first``, which stops at the
first match. selectolax 1.0 has no API to keep a compiled selector: the tree's
one CSS parser is reused, but it parses the query string again on every call,
and those calls are the largest cost after building the tree. Querying each
field once over the whole document ("item field") and mapping matches back to
items was measured faster, but lexbor silently matches nothing for some item
selectors in that position (``:is(div.product) h2``), so it was not adopted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .availability import normalise_availability
from .decoding import decode_body
from .links import LinkResolver
from .prices import NO_PRICE, parse_price
from .product import ExtractedProduct, merge_products
from .rules import FieldSpec, SiteRules
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


def extract_page(body: bytes, *, url: str, header_charset: str | None, rules: SiteRules | None) -> Extraction:
    """Extract products and links from a raw page body fetched from `url`."""
    text, encoding = decode_body(body, header_charset)
    tree = LexborHTMLParser(text)
    links = LinkResolver.for_page(tree, url)
    ruled = _rules_products(tree.css(rules.item), rules, links) if rules is not None and rules.item else []
    structured = extract_structured(tree, links)
    products = merge_products([ruled, structured.json_ld, structured.microdata, structured.opengraph])
    if len(products) == 1 and products[0].url is None:
        # A lone product without a URL of its own is the page's product (a detail page).
        identified = [_with_page_url(products[0], tree, links, url)]
    else:
        identified = [product for product in products if product.url or product.sku]
    return Extraction(
        products=identified,
        links=_links(tree, rules, links),
        encoding=encoding,
        structured_errors=structured.errors,
        products_skipped=len(products) - len(identified),
    )


def _rules_products(items: list[LexborNode], rules: SiteRules, links: LinkResolver) -> list[ExtractedProduct]:
    """Apply the site's field selectors to each item element."""
    products = []
    for item in items:
        price_text = _read(item, rules.price)
        products.append(
            ExtractedProduct(
                title=_read(item, rules.title),
                price=parse_price(price_text, rules.currency) if price_text else NO_PRICE,
                url=links.resolve(_read(item, rules.link)),
                image=links.resolve(_read(item, rules.image)),
                sku=_read(item, rules.sku),
                availability=normalise_availability(_read(item, rules.availability)),
                method="rules",
            )
        )
    return products


def _read(item: LexborNode, spec: FieldSpec | None) -> str | None:
    """The value a field spec points at inside `item`, whitespace-collapsed; None if absent or empty.

    Text is the element's textContent (text nodes joined without separators),
    so a price split over spans ("<span>$</span>12<sup>.99</sup>") stays whole.
    """
    if spec is None:
        return None
    node = item if spec.css is None else item.css_first(spec.css)
    if node is None:
        return None
    value = node.attrs.get(spec.attr) if spec.attr is not None else node.text()
    if not value:
        return None
    return " ".join(value.split()) or None


def _with_page_url(
    product: ExtractedProduct, tree: LexborHTMLParser, links: LinkResolver, url: str
) -> ExtractedProduct:
    """The product with the page's canonical link (else the page URL itself) as its URL."""
    canonical = tree.css_first('link[rel~="canonical" i][href]')
    page = links.resolve(canonical.attrs.get("href")) if canonical is not None else None
    return replace(product, url=page or links.resolve(url))


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
